"""The compliance check as an engine (`/cutout check amazon`): it cuts nothing and calls no vendor; it
measures the image as it was posted against the marketplace's rules (`bot.imaging.listing.check_image`)
and answers with the report, which the runner stores and the delivery posts."""

from __future__ import annotations

from pathlib import Path

from bot.domain.grammar import Output, Spec
from bot.engines.base import CutProgress, ImageInput, ResultPart
from bot.imaging.listing import check_image
from bot.imaging.prepare import ImageLimits, PreparedImage
from bot.imaging.threads import ImageWork

NAME = "compliance check"
REPORT_ROLE = "report"  # the one part it answers with: the report's JSON
LIMITS = ImageLimits(endpoint=NAME, formats=frozenset(), max_bytes=2**62, max_side=2**31)  # takes it as it is


class ListingChecker:
    name = NAME
    accepts_urls = False

    def __init__(self, image_work: ImageWork) -> None:
        self._image_work = image_work

    def limits(self, spec: Spec) -> ImageLimits:
        return LIMITS

    def alpha_output(self, spec: Spec) -> Output | None:
        return None

    async def cut(self, image: ImageInput, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        if not isinstance(image, PreparedImage) or spec.check is None:
            raise TypeError("the compliance check measures an image file against a preset")
        report = await self._image_work.run(check_image, image.path, spec.check)
        return [ResultPart(REPORT_ROLE, content=report.to_json().encode())]

    async def resume(self, vendor_task_id: str, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        raise NotImplementedError("a check finishes in one step; there is nothing to resume")

    async def fetch(self, url: str, dest: Path) -> None:
        raise NotImplementedError("a check answers inline")

    async def aclose(self) -> None:
        return None
