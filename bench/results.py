"""Appending dated results to bench/RESULTS.md, with the machine they were measured on."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}"


def append_result(title: str, body: str) -> None:
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach run appends a dated section. Newest last.\n")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with RESULTS.open("a") as out:
        out.write(f"\n## {title} — {stamp}\n\n{body}\n")
