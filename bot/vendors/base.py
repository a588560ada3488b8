"""What every cut-out engine offers the runner: a vendor client or, later, the local engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.grammar import Spec
from bot.imaging import ImageLimits, PreparedImage

MAIN_ROLE = "result"


@dataclass(frozen=True, slots=True)
class ResultPart:
    """One file of a result: the main image (`role == "result"`) or a per-class file (`role` = class)."""

    role: str
    url: str | None = None
    content: bytes | None = None


class CutoutEngine(Protocol):
    name: str  # shown to users: "AILabTools"

    def limits(self, spec: Spec) -> ImageLimits: ...

    async def cut(self, image: PreparedImage, spec: Spec) -> list[ResultPart]: ...

    async def fetch(self, url: str, dest: Path) -> None:
        """Download a result URL this engine returned into `dest`."""
        ...

    async def aclose(self) -> None: ...
