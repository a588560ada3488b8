"""What cuts an image out: the engine contract, the registry that picks an engine per mode,
local/ (the built-in engine) and vendors/ (AILabTools, Aidge, PicWish)."""

__all__ = ["base", "local", "registry", "vendors"]
