"""Appending dated results to bench/RESULTS.md, with the machine they were measured on."""

from __future__ import annotations

import argparse
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


def benchmark_parser(doc: str) -> argparse.ArgumentParser:
    """A benchmark's command line: its docstring's first line as the description, and `--no-record`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md"
    )
    return parser


def publish(title: str, body: str, *, record: bool) -> None:
    """Print a benchmark's table, and append it to bench/RESULTS.md when `record`."""
    print(body)
    if record:
        append_result(title, body)
