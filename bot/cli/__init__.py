"""The command-line tool: cut out files and folders with the same runner and engines as the bot,
results delivered into folders."""

__all__ = ["batch"]
