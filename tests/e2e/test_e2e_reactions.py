"""The reaction on an image message when two instances work on its tasks (each with its own SlackReactions,
as two processes have): whichever shows the final state leaves exactly that one reaction, whatever it
showed on that message before."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.reactions import Progress, SlackReactions
from fakes.images import jpeg_bytes
from fakes.slack import FakeSlack


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    yield fake
    await fake.stop()


def instance(slack: FakeSlack) -> SlackReactions:
    return SlackReactions(AsyncWebClient(token=slack.bot_token, base_url=slack.api_url))


async def test_an_instance_finishing_a_task_another_started_leaves_only_the_final_reaction(
    slack: FakeSlack,
) -> None:
    event = slack.image_message([slack.host_file("shirt.jpg", jpeg_bytes())])
    message = (event["channel"], event["ts"])
    a, b = instance(slack), instance(slack)
    await b.set_progress(*message, Progress.DONE)  # b finished the first run of the message
    await a.set_progress(*message, Progress.WORKING)  # a started a re-run on it, and froze
    await b.set_progress(*message, Progress.DONE)  # b took the re-run over after a's lease and finished it
    assert slack.reactions_on(*message) == {"white_check_mark"}
    await a.set_progress(*message, Progress.WORKING)  # another re-run, the other way round
    await b.set_progress(*message, Progress.FAILED)
    assert slack.reactions_on(*message) == {"x"}


async def test_a_message_whose_tasks_were_all_cancelled_loses_every_reaction(slack: FakeSlack) -> None:
    event = slack.image_message([slack.host_file("shirt.jpg", jpeg_bytes())])
    message = (event["channel"], event["ts"])
    a, b = instance(slack), instance(slack)
    await b.set_progress(*message, Progress.DONE)
    await a.set_progress(*message, Progress.WORKING)
    await b.clear_progress(*message)
    assert slack.reactions_on(*message) == set()


async def test_tasks_of_one_message_add_the_hourglass_once(slack: FakeSlack) -> None:
    event = slack.image_message([slack.host_file(f"shirt{n}.jpg", jpeg_bytes()) for n in range(3)])
    message = (event["channel"], event["ts"])
    a = instance(slack)
    for _ in range(3):
        await a.set_progress(*message, Progress.WORKING)
    await a.set_progress(*message, Progress.DONE)
    assert slack.reactions_on(*message) == {"white_check_mark"}
    assert [op for op, *_ in slack.reaction_log] == ["add", "remove", "add"]
