"""The command-line tool: cut out files and folders with the same runner and engines as the bot, results
delivered into folders (batch); check listing photos against a marketplace's rules (check)."""

__all__ = ["batch", "check"]
