"""A caption or thread reply that starts by mentioning someone else is talk to them, not a spec."""

from __future__ import annotations

import pytest

from bot.domain.grammar import Mode, ParseError, parse_thread_reply, parse_upload_text

BOT = "U0BOT"


@pytest.mark.parametrize(
    "text", ["<@U0ANA> check this shirt", "<@U0ANA|ana> apparel white", "<@u0ana> cutout x"]
)
def test_a_caption_to_someone_else_is_a_caption(text: str) -> None:
    assert parse_upload_text(text, bot_user_id=BOT) is None
    assert parse_thread_reply(text, bot_user_id=BOT) is None


def test_a_caption_to_the_bot_is_a_spec_or_a_clear_refusal() -> None:
    spec = parse_upload_text("<@U0BOT> apparel white", bot_user_id=BOT)
    assert spec is not None and spec.mode is Mode.APPAREL
    with pytest.raises(ParseError):
        parse_upload_text("<@U0BOT> check this shirt", bot_user_id=BOT)
    with pytest.raises(ParseError):
        parse_thread_reply("<@U0BOT> check this shirt", bot_user_id=BOT)


def test_without_the_bots_id_any_leading_mention_addresses_it_as_before() -> None:
    with pytest.raises(ParseError):
        parse_upload_text("<@U0ANA> check this shirt")
