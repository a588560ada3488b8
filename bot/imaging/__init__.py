"""Images: decode only the documented formats, prepare them for a vendor, compose results;
heavy image steps share the bounded image threads."""

__all__ = ["compose", "decode", "prepare", "threads"]
