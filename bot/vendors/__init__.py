"""The vendor clients (AILabTools, Aidge, PicWish), what every engine offers the runner, and vendor errors."""

from bot.vendors.base import MAIN_ROLE, CutoutEngine, ResultPart
from bot.vendors.errors import ErrorKind, VendorError, VendorRejected, VendorTimeout, VendorUnavailable

__all__ = [
    "MAIN_ROLE",
    "CutoutEngine",
    "ErrorKind",
    "ResultPart",
    "VendorError",
    "VendorRejected",
    "VendorTimeout",
    "VendorUnavailable",
]
