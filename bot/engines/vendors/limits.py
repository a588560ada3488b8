"""What each endpoint accepts, in one table (vendor-notes §4), and what an answer may carry back. Values
marked "ours" are not documented."""

from __future__ import annotations

from bot.domain.vendors import AIDGE, AILAB, PICWISH
from bot.imaging.prepare import ImageLimits

AILAB_APPAREL = ImageLimits(
    endpoint=f"{AILAB} apparel",
    formats=frozenset({"JPEG", "PNG", "BMP"}),
    max_bytes=5_000_000,  # "No more than 5 MB"
    max_side=2999,  # "smaller than 3000x3000px"
    min_side=51,  # "larger than 50x50px"
)
AILAB_PORTRAIT = ImageLimits(
    endpoint=f"{AILAB} portrait",
    formats=frozenset({"JPEG", "PNG", "BMP", "WEBP"}),
    max_bytes=3_000_000,  # "No more than 3 MB"
    max_side=1999,  # "Less than 2000x2000px"
    min_side=32,  # ours: no minimum is documented; a face needs some pixels
)
AIDGE_CUTOUT = ImageLimits(
    endpoint=AIDGE,
    formats=frozenset({"JPEG", "PNG"}),  # ours: formats are not documented
    max_bytes=10_000_000,  # ours: not documented
    max_side=3000,  # "between 100×100 and 3000×3000"
    min_side=100,
)
PICWISH_SEGMENT = ImageLimits(
    endpoint=PICWISH,
    formats=frozenset({"JPEG", "PNG", "BMP", "WEBP", "TIFF"}),
    max_bytes=15_000_000,  # 20 MB on the API page, 15 MB on the states page: the lower one
    max_side=4096,  # "Up to 4096 x 4096"
    min_side=1,
)

# What one answer may carry (ours): a vendor that sends more fails the task (VendorRejected) before any of it
# is decoded or kept. The most any vendor sends today is PicWish's class masks for "all" classes.
MAX_RESULT_PARTS = 32  # result files (main result, class masks, the parts ZIP)
MAX_INLINE_RESULT_BYTES = 20_000_000  # one result sent inside the JSON (PicWish's base64 masks), decoded
MAX_PARTS_ZIP_ENTRIES = 256  # files in PicWish's ZIP of subdivided garment masks (passed on, not opened)
