"""Images: decode only the documented formats, prepare them for a vendor, compose results, lay cut-outs
out for a marketplace listing and check images against its rules; heavy steps share the image threads."""

__all__ = ["compliance", "compose", "decode", "listing", "prepare", "threads"]
