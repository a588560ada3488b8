"""Benchmarks (`python -m bench` runs them all, `python -m bench.NAME` one) and their helpers; each
benchmark appends its dated results to bench/RESULTS.md. They use the shared fakes/, never tests/."""

__all__ = [
    "ack_latency",
    "fakes_server",
    "fleet",
    "fleet_store",
    "local_quality",
    "make_sample",
    "memory",
    "processes",
    "results",
    "slack_load",
    "store_speed",
    "throughput",
]
