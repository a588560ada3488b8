"""The vendors' names, as users see them in every message, label and log line: the one place they are
written. Each vendor module (`bot.engines.vendors.*`) takes its NAME from here; so do the image-limit table
and Slack's labels, which may not import the engines."""

from __future__ import annotations

AILAB = "AILabTools"  # apparel and portrait
AIDGE = "Aidge"  # product
PICWISH = "PicWish"  # clothing segmentation
LOCAL = "local engine"  # the built-in engine (bot.engines.local)

# How CUTOUT_ROUTES names the engines, and the name users see.
ROUTE_NAMES: dict[str, str] = {"ailab": AILAB, "aidge": AIDGE, "picwish": PICWISH, "local": LOCAL}
