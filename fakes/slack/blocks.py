"""Block Kit as the fake reads it: blocks and views checked as Slack checks them, and the texts and
elements a test looks for."""

from __future__ import annotations

import json
from typing import Any, Literal


def read_blocks(value: Any) -> list[dict[str, Any]] | Literal[False] | None:
    """Blocks as sent (a list in a JSON body, a JSON string in a form or query): None if absent, False if bad."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return False
    if not isinstance(value, list) or not all(isinstance(b, dict) and b.get("type") for b in value):
        return False
    return value


def read_view(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if (
        not isinstance(value, dict)
        or value.get("type") not in ("modal", "home")
        or not isinstance(value.get("blocks"), list)
    ):
        return None
    return dict(value)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """Every text a message's blocks show, joined: what a test reads as the message."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return " ".join(found)


def find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], str]:
    """The interactive element with this action id, and the id of the block that holds it."""
    for block in blocks:
        elements = block.get("elements") or ([block["element"]] if "element" in block else [])
        if "accessory" in block:
            elements = [*elements, block["accessory"]]
        for element in elements:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element, str(block.get("block_id", ""))
    raise AssertionError(f"no element {action_id} in the blocks")
