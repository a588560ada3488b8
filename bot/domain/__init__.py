"""The nouns of the product, with no dependency but the standard library.
Today: text for Slack (escaping out, un-escaping in); the layers issue moves Spec, Task and failures here."""

__all__: list[str] = []
