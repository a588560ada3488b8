"""What every cut-out engine offers the runner: a vendor client or, later, the local engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.grammar import Output, Spec
from bot.imaging.prepare import ImageLimits, PreparedImage

MAIN_ROLE = "result"
PARTS_ROLE = "parts"  # PicWish's ZIP of subdivided garment masks


@dataclass(frozen=True, slots=True)
class ImageURL:
    """An image the vendor fetches itself (DESIGN §3 rule 5)."""

    url: str


ImageInput = PreparedImage | ImageURL


@dataclass(frozen=True, slots=True)
class ResultPart:
    """One file of a result: the main image (`role == "result"`), a class (`role` = class) or the parts ZIP."""

    role: str
    url: str | None = None
    content: bytes | None = None
    note: str | None = None  # something the user should know about this result


class CutProgress(Protocol):
    """What an engine reports while it works; the runner records it."""

    async def submitted(self, vendor_task_id: str) -> None:
        """An asynchronous vendor accepted the job under this id (stored at once, so it is never redone)."""
        ...

    async def progressed(self, percent: int | None) -> None: ...


class NoProgress:
    async def submitted(self, vendor_task_id: str) -> None:
        return None

    async def progressed(self, percent: int | None) -> None:
        return None


class CutoutEngine(Protocol):
    name: str  # shown to users: "AILabTools"
    accepts_urls: bool  # whether it takes an ImageURL and fetches the image itself

    def limits(self, spec: Spec) -> ImageLimits: ...

    def alpha_output(self, spec: Spec) -> Output | None:
        """The output to ask for when the image was downscaled and the result will be restored to full size
        (a mask or transparency), or None when the result must not be restored."""
        ...

    async def cut(self, image: ImageInput, spec: Spec, progress: CutProgress) -> list[ResultPart]: ...

    async def resume(self, vendor_task_id: str, spec: Spec, progress: CutProgress) -> list[ResultPart]:
        """Continue a job an asynchronous vendor already accepted (after a restart)."""
        ...

    async def fetch(self, url: str, dest: Path) -> None:
        """Download a result URL this engine returned into `dest`."""
        ...

    async def aclose(self) -> None: ...
