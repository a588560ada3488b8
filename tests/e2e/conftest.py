"""The end-to-end fixture: the real bot, running between the fake Slack and the fake vendors."""

from __future__ import annotations

import pytest


@pytest.fixture
async def harness(tmp_path):
    from tests.e2e.harness import running_bot

    async with running_bot(tmp_path) as running:
        yield running
