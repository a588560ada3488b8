"""`python -m bench`: every benchmark, one after the other, each appending its dated section to
bench/RESULTS.md. About 21 minutes on 2 cores; `--quick` runs each at a small size in a few minutes and
records nothing (a check that they all still run).

    python -m bench [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

FLEET_QUICK = [
    "--limited-images", "30", "--open-images", "150", "--takeover-images", "24", "--leases", "5",
    "--store-tasks", "300", "--claim-tasks", "500", "--ack-seconds", "3",
]  # fmt: skip

# name → (full-size arguments, quick arguments)
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "ack_latency": ([], ["--seconds", "3", "--senders", "20"]),
    "throughput": ([], ["--images", "60", "--picwish-images", "6"]),
    "memory": ([], ["--images", "12", "--again", "4"]),
    "store_speed": ([], ["--tasks", "300", "--interrupted", "50"]),
    "local_quality": ([], ["--quick"]),
    "fleet": ([], FLEET_QUICK),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, nothing recorded")
    parser.add_argument(
        "--only", nargs="+", choices=sorted(BENCHMARKS), metavar="NAME", help="run only these"
    )
    args = parser.parse_args()
    failed = []
    for name, (full, quick) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        command = [sys.executable, "-m", f"bench.{name}", *([*quick, "--no-record"] if args.quick else full)]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        if subprocess.run(command, check=False).returncode != 0:  # noqa: S603 - our interpreter, our modules
            failed.append(name)
        print(f"=== {name}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
