"""What the Slack listeners may use, handed to them through Bolt's context (never a global): narrow things —
the settings, the store, and a `wake` callable that tells the runner new work is queued — not the runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.domain.grammar import Mode
from storage import Store

CONTEXT_KEY = "cutout_services"
FILE_SHARED_WAIT_S = 3.0  # `file_shared` waits this long for the `file_share` message, which usually comes


@dataclass(frozen=True, slots=True)
class Services:
    config: Config
    store: Store
    wake: Callable[[], None]  # new work was queued: the runner looks now rather than at its next poll
    engines: dict[Mode, str | None]  # mode → the engine that runs it, None when not configured
    local_engine: bool = False  # whether the built-in engine is available
    # how long `file_shared` waits for the `file_share` message (tests shorten it)
    file_shared_wait_s: float = FILE_SHARED_WAIT_S


def services_of(context: Any) -> Services:
    services = context[CONTEXT_KEY]
    assert isinstance(services, Services)
    return services
