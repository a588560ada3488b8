"""What the runner reports, for each delivery (Slack, a folder) to render in its own way.

The runner never formats: it hands a `ResultReport` (stored as JSON in the task's `summary`, so a
restart posts the same report) and `ProgressReport`s; bot.slack renders them as mrkdwn with emoji, the
command-line tool as a line of text. The database holds neither emoji nor mrkdwn for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.listing import ComplianceReport

__all__ = ["ProgressReport", "ProgressStage", "ResultReport"]


@dataclass(frozen=True, slots=True)
class ResultReport:
    """What a finished task made: the spec, the engine, the sizes, the time taken, the engine's notes."""

    spec: str  # the spec's canonical words
    engine: str
    original_size: tuple[int, int] | None
    result_size: tuple[int, int] | None
    seconds: float
    notes: tuple[str, ...] = ()
    compliance: ComplianceReport | None = None  # a listing result's (or a check's) report

    def to_json(self) -> str:
        return json.dumps(
            {
                "spec": self.spec,
                "engine": self.engine,
                "original_size": self.original_size,
                "result_size": self.result_size,
                "seconds": round(self.seconds, 2),
                "notes": list(self.notes),
                "compliance": self.compliance.to_dict() if self.compliance else None,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | None) -> ResultReport | None:
        """The report stored with a task; None for none, or for the text summary of an older version."""
        try:
            data = json.loads(text or "")
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        return cls(
            spec=str(data.get("spec", "")),
            engine=str(data.get("engine", "")),
            original_size=_size(data.get("original_size")),
            result_size=_size(data.get("result_size")),
            seconds=float(data.get("seconds") or 0.0),
            notes=tuple(str(note) for note in data.get("notes") or ()),
            compliance=ComplianceReport.from_dict(data.get("compliance")),
        )

    def sizes(self) -> str:
        """`4000×3000 → 1000×750 px`, or one size when they are the same."""
        original, result = self.original_size, self.result_size
        if original and result and original != result:
            return f"{original[0]}×{original[1]} → {result[0]}×{result[1]} px"
        size = original or result
        return f"{size[0]}×{size[1]} px" if size else "size unknown"


class ProgressStage(StrEnum):
    """Where a long task stands, as its progress message says."""

    WORKING = "working"  # the engine has it (`percent` when the vendor says)
    FINISHED = "finished"  # the result is in the thread
    NOT_POSTED = "not_posted"  # finished, but the result could not be posted (told below)
    FAILED = "failed"  # the engine stopped (told below)
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ProgressReport:
    stage: ProgressStage
    engine: str  # who works on it ("" when not known yet)
    name: str  # the image's file name, as the user gave it
    percent: int | None = None


def _size(value: object) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    return None
