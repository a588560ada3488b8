"""Reading a vendor's JSON answer, which comes from outside: each reader checks the type it promises and
falls back to empty (or None) rather than raising, so a malformed answer meets the client's own "no result"
rules instead of a TypeError."""

from __future__ import annotations

from typing import Any

JSONObject = dict[str, Any]


def object_at(body: JSONObject, key: str) -> JSONObject:
    """`body[key]` when it is a JSON object, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def list_at(body: JSONObject, key: str) -> list[Any]:
    """`body[key]` when it is a JSON array, else an empty one."""
    value = body.get(key)
    return value if isinstance(value, list) else []


def object_in(items: list[Any], index: int) -> JSONObject:
    """`items[index]` when there is one and it is a JSON object, else an empty one."""
    value = items[index] if 0 <= index < len(items) else None
    return value if isinstance(value, dict) else {}


def as_int(value: object) -> int | None:
    """A JSON number or numeric string as an int (a fraction is cut off, as `int()` does); None for
    anything else, including a number too large to be one (`1e999` reads as infinity)."""
    if not isinstance(value, int | float | str):
        return None
    try:
        return int(value)
    except (ValueError, OverflowError):
        return None
