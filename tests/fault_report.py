"""Counts that the fault-injection and bad-input tests add up, printed at the end of the test run."""

from __future__ import annotations

from collections import Counter

counts: Counter[str] = Counter()


def survived(fault: str) -> None:
    counts["faults injected and survived"] += 1
    counts[f"fault: {fault}"] += 1


def bad_input() -> None:
    counts["bad inputs tried"] += 1


def tasks_checked(total: int, *, lost: int, duplicate_vendor_calls: int) -> None:
    counts["tasks checked after faults"] += total
    counts["tasks lost"] += lost
    counts["duplicate vendor calls"] += duplicate_vendor_calls


def results_checked(total: int, *, thrown_away: int) -> None:
    """Finished (paid-for) results followed through a fault: each must reach the thread in the end."""
    counts["paid results checked"] += total
    counts["results thrown away"] += thrown_away


def lines() -> list[str]:
    order = [
        "faults injected and survived",
        "bad inputs tried",
        "tasks checked after faults",
        "tasks lost",
        "duplicate vendor calls",
        "paid results checked",
        "results thrown away",
    ]
    shown = [f"{name}: {counts[name]}" for name in order if name in counts]
    kinds = sorted(k for k in counts if k.startswith("fault: "))
    if kinds:
        shown.append("by fault: " + ", ".join(f"{k.removeprefix('fault: ')} {counts[k]}" for k in kinds))
    return shown
