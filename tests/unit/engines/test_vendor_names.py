"""The vendors' names are written once (bot.domain.vendors): each vendor module, the image-limit table and
Slack's mode labels take them from there, and the labels name the vendor the registry runs each mode on."""

from __future__ import annotations

from bot.domain import vendors
from bot.domain.grammar import Mode
from bot.domain.tasks import ImageRecord, SourceFile
from bot.engines.registry import VENDOR_OF_MODE, VENDORS
from bot.engines.vendors import aidge, ailab, limits, picwish
from bot.slack.blocks import cutout_modal


def test_each_vendor_module_names_itself_from_the_domain() -> None:
    assert (ailab.NAME, aidge.NAME, picwish.NAME) == (vendors.AILAB, vendors.AIDGE, vendors.PICWISH)
    assert [vendor.name for vendor in VENDORS] == [ailab.NAME, aidge.NAME, picwish.NAME]


def test_the_image_limits_name_their_vendor() -> None:
    assert limits.AILAB_APPAREL.endpoint == "AILabTools apparel"
    assert limits.AILAB_PORTRAIT.endpoint == "AILabTools portrait"
    assert (limits.AIDGE_CUTOUT.endpoint, limits.PICWISH_SEGMENT.endpoint) == ("Aidge", "PicWish")


def test_the_modal_labels_each_mode_with_the_vendor_the_registry_runs_it_on() -> None:
    image = ImageRecord("C1", "1.0", "1.0", "U1", SourceFile("F1", "shirt.jpg", "image/jpeg", "https://x"))
    view = cutout_modal(Mode.APPAREL, [image], channel_id="C1", message_ts="1.0")
    (mode_block,) = [block for block in view["blocks"] if block.get("block_id") == "mode"]
    labels = {option["value"]: option["text"]["text"] for option in mode_block["element"]["options"]}
    assert set(labels) == {mode.value for mode in Mode}
    for mode in Mode:
        assert labels[mode.value].endswith(f"({VENDOR_OF_MODE[mode].name})")
    assert labels[Mode.APPAREL.value] == "Apparel (AILabTools)"
