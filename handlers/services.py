"""What the Slack listeners may use, handed to them through Bolt's context (never a global)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.domain.grammar import Mode
from bot.tasks.runner import TaskRunner
from storage import Store

CONTEXT_KEY = "cutout_services"


@dataclass(frozen=True, slots=True)
class Services:
    config: Config
    store: Store
    runner: TaskRunner
    engines: dict[Mode, str | None]  # mode → the engine that runs it, None when not configured
    local_engine: bool = False  # whether the built-in engine is available


def services_of(context: Any) -> Services:
    services = context[CONTEXT_KEY]
    assert isinstance(services, Services)
    return services
