"""The /cutout grammar: every row of DESIGN §2 and the error cases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from bot.domain.grammar import (
    CLOTH_CLASSES,
    AutoCommand,
    CancelCommand,
    DefaultCommand,
    HelpCommand,
    HistoryCommand,
    Mode,
    Output,
    ParseError,
    RunCommand,
    SegmentClasses,
    Spec,
    StatusCommand,
    parse_command,
    parse_spec,
    parse_thread_reply,
    parse_upload_text,
)
from bot.domain.text import mrkdwn


def spec_of(text: str) -> Spec:
    command = parse_command(text)
    assert isinstance(command, RunCommand)
    assert command.url is None
    return command.spec


# --- apparel ---------------------------------------------------------------------------------


def test_apparel_without_classes_is_main_garment_on_transparency() -> None:
    assert spec_of("apparel") == Spec(Mode.APPAREL)


@pytest.mark.parametrize("cloth", CLOTH_CLASSES)
def test_apparel_takes_each_cloth_class(cloth: str) -> None:
    assert spec_of(f"apparel {cloth}").classes == (cloth,)


def test_apparel_class_list_is_comma_separated_and_canonically_ordered() -> None:
    spec = spec_of("apparel hat,tops,coat")
    assert spec.classes == ("tops", "coat", "hat")
    assert spec_of("apparel hat, tops coat").classes == ("tops", "coat", "hat")


def test_apparel_duplicate_classes_collapse() -> None:
    assert spec_of("apparel tops,tops").classes == ("tops",)


@pytest.mark.parametrize(
    ("word", "output"),
    [
        ("whiteBK", Output.WHITE),
        ("white", Output.WHITE),
        ("mask", Output.MASK),
        ("transparent", Output.TRANSPARENT),
    ],
)
def test_apparel_outputs(word: str, output: Output) -> None:
    assert spec_of(f"apparel tops,coat {word}").output is output


def test_words_are_case_insensitive_and_order_free_after_the_mode() -> None:
    assert spec_of("APPAREL WhiteBk Coat,TOPS") == spec_of("apparel tops,coat whiteBK")


def test_apparel_rejects_crop() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("apparel crop")
    assert caught.value.word == "crop"
    assert "tops" in caught.value.valid


# --- portrait --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "output"),
    [
        ("whiteBK", Output.WHITE),
        ("white", Output.WHITE),
        ("mask", Output.MASK),
        ("crop", Output.CROP),
        ("transparent", Output.TRANSPARENT),
    ],
)
def test_portrait_outputs(word: str, output: Output) -> None:
    assert spec_of(f"portrait {word}") == Spec(Mode.PORTRAIT, output=output)


def test_portrait_rejects_cloth_classes() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("portrait tops")
    assert caught.value.word == "tops"
    assert "crop" in caught.value.valid


# --- product ---------------------------------------------------------------------------------


def test_product_defaults_to_transparent() -> None:
    assert spec_of("product") == Spec(Mode.PRODUCT)


def test_product_white_and_target_size() -> None:
    assert spec_of("product white 800x600") == Spec(Mode.PRODUCT, output=Output.WHITE, size=(800, 600))


def test_product_size_accepts_the_multiplication_sign() -> None:
    assert spec_of("product 1000×1200").size == (1000, 1200)


@pytest.mark.parametrize("size", ["100x100", "3000x3000", "100x3000"])
def test_product_size_bounds_are_inclusive(size: str) -> None:
    width, height = (int(side) for side in size.split("x"))
    assert spec_of(f"product {size}").size == (width, height)


@pytest.mark.parametrize("size", ["99x800", "800x3001", "0x0", "100000x100"])
def test_product_size_out_of_range_is_refused_with_the_range(size: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(f"product {size}")
    assert "100–3000" in caught.value.message


def test_product_rejects_mask_and_suggests_nothing_silly() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("product mask")
    assert caught.value.word == "mask"
    assert caught.value.valid == ("white", "transparent", "WIDTHxHEIGHT", "local")


@pytest.mark.parametrize("text", ["product WIDTHxHEIGHT", "product white widthxheight"])
def test_product_size_placeholder_typed_as_is_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ParseError) as caught:  # it was read as a segment class set: a ValueError
        parse_command(text)
    assert "‘800x800’" in caught.value.message


def test_product_two_sizes_conflict() -> None:
    with pytest.raises(ParseError, match="conflicts"):
        parse_command("product 800x800 900x900")


# --- segment ---------------------------------------------------------------------------------


def test_segment_defaults() -> None:
    spec = spec_of("segment")
    assert spec == Spec(Mode.SEGMENT)
    assert spec.segment_classes is SegmentClasses.CLOTHING
    assert not (spec.ultra or spec.parts or spec.hq or spec.cutouts)


@pytest.mark.parametrize("classes", list(SegmentClasses))
def test_segment_class_sets(classes: SegmentClasses) -> None:
    assert spec_of(f"segment {classes.value}").segment_classes is classes


@pytest.mark.parametrize("flag", ["ultra", "parts", "hq", "cutouts"])
def test_segment_flags(flag: str) -> None:
    spec = spec_of(f"segment {flag}")
    assert getattr(spec, flag) is True
    others = {"ultra", "parts", "hq", "cutouts"} - {flag}
    assert not any(getattr(spec, other) for other in others)


def test_segment_two_class_sets_conflict() -> None:
    with pytest.raises(ParseError, match="conflicts with ‘clothing’"):
        parse_command("segment clothing person")


def test_segment_rejects_output_words() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("segment white")
    assert "ultra" in caught.value.valid


# --- local and URL ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
def test_local_is_accepted_by_every_mode(mode: Mode) -> None:
    assert spec_of(f"{mode.value} local").local is True


@pytest.mark.parametrize(
    "url_word",
    [
        "https://example.com/shirt.jpg",
        "<https://example.com/shirt.jpg>",
        "<https://example.com/shirt.jpg|shirt>",
    ],
)
def test_trailing_url_is_taken_as_the_image(url_word: str) -> None:
    command = parse_command(f"product white {url_word}")
    assert command == RunCommand(Spec(Mode.PRODUCT, output=Output.WHITE), "https://example.com/shirt.jpg")


def test_url_with_commas_is_not_split() -> None:
    command = parse_command("apparel https://cdn.example.com/a,b.png")
    assert isinstance(command, RunCommand)
    assert command.url == "https://cdn.example.com/a,b.png"


# --- sub-commands ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", HelpCommand()),
        ("   ", HelpCommand()),
        ("help", HelpCommand()),
        ("HELP", HelpCommand()),
        ("status", StatusCommand()),
        ("history", HistoryCommand()),
        ("cancel", CancelCommand()),
        ("cancel 42", CancelCommand(42)),
        ("cancel #42", CancelCommand(42)),
        ("auto on", AutoCommand(True)),
        ("auto OFF", AutoCommand(False)),
        ("auto", AutoCommand()),
        ("default", DefaultCommand()),
        (
            "default apparel pants mask",
            DefaultCommand(Spec(Mode.APPAREL, output=Output.MASK, classes=("pants",))),
        ),
    ],
)
def test_sub_commands(text: str, command: object) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["help me", "status now", "history 3"])
def test_sub_commands_without_arguments_refuse_extra_words(text: str) -> None:
    with pytest.raises(ParseError, match="takes no more words"):
        parse_command(text)


def test_cancel_needs_a_number() -> None:
    with pytest.raises(ParseError, match="not a task number"):
        parse_command("cancel everything")


def test_auto_only_on_or_off() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("auto onn")
    assert caught.value.valid == ("on", "off")
    assert caught.value.suggestion == "on"


def test_default_with_a_bad_spec_is_refused() -> None:
    with pytest.raises(ParseError, match="portrait"):
        parse_command("default portrat")


# --- errors ----------------------------------------------------------------------------------


def test_unknown_option_names_word_lists_valid_words_and_suggests_the_closest() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("apparel topz whiteBK")
    error = caught.value
    assert error.word == "topz"
    assert error.suggestion == "tops"
    assert "‘topz’" in error.message
    assert "Did you mean ‘tops’?" in error.message
    for word in ("tops", "coat", "skirt", "pants", "bag", "shoes", "hat", "whiteBK", "mask", "transparent"):
        assert f"‘{word}’" in error.message


def test_unknown_mode_lists_modes_and_sub_commands() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("aparel tops")
    assert caught.value.suggestion == "apparel"
    assert set(caught.value.valid) >= {"apparel", "portrait", "product", "segment", "help", "status"}


def test_word_with_no_close_match_has_no_suggestion() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("apparel zzzzzz")
    assert caught.value.suggestion is None
    assert "Did you mean" not in caught.value.message


def test_conflicting_outputs_are_refused() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("apparel white mask")
    assert caught.value.word == "mask"
    assert "‘white’" in caught.value.message


@pytest.mark.parametrize("word", ["👕", "tøps", "<script>", "a`b"])
def test_unicode_emoji_and_markup_are_refused_safely(word: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(f"apparel {word}")
    shown = mrkdwn(caught.value.message)
    assert "<" not in shown.replace("&lt;", "")
    assert shown.count("`") % 2 == 0


def test_very_long_command_is_refused_without_echoing_it() -> None:
    text = "apparel " + "tops " * 1000
    with pytest.raises(ParseError) as caught:
        parse_command(text)
    assert "at most 1000" in caught.value.message
    assert len(caught.value.message) < 200


def test_refusal_survives_a_contextlib_context_manager() -> None:
    @contextlib.contextmanager
    def around() -> Iterator[None]:
        yield

    with pytest.raises(ParseError), around():  # contextlib writes __traceback__ on the way out
        parse_command("apparel topz")


def test_long_unknown_word_is_shortened_in_the_message() -> None:
    with pytest.raises(ParseError) as caught:
        parse_command("apparel " + "x" * 500)
    assert len(caught.value.message) < 400


# --- round trip, spec-only parsing, upload text ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "apparel",
        "apparel tops,coat white",
        "apparel mask local",
        "portrait crop",
        "product white 800x800",
        "segment all ultra parts hq cutouts",
        "segment person local",
    ],
)
def test_canonical_words_round_trip(text: str) -> None:
    spec = parse_spec(text)
    assert spec.words() == text
    assert parse_spec(spec.words()) == spec


def test_parse_spec_refuses_sub_commands() -> None:
    with pytest.raises(ParseError):
        parse_spec("status")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apparel tops,coat whiteBK", "apparel tops,coat white"),
        ("<@U0BOT> portrait mask", "portrait mask"),
        ("<@U0BOT|cutout>: product white", "product white"),
        ("cutout segment all", "segment all"),
        ("/cutout apparel pants", "apparel pants"),
    ],
)
def test_upload_text_that_is_a_spec(text: str, expected: str) -> None:
    spec = parse_upload_text(text)
    assert spec is not None
    assert spec.words() == expected


@pytest.mark.parametrize("text", ["", "new shirt for the summer drop", "see attached", "<@U0BOT>"])
def test_upload_text_that_is_a_caption(text: str) -> None:
    assert parse_upload_text(text) is None


def test_a_long_caption_is_a_caption_not_a_too_long_command() -> None:
    assert parse_upload_text("new summer collection, " + "details " * 200) is None
    assert parse_thread_reply("new summer collection, " + "details " * 200) is None
    with pytest.raises(ParseError, match="at most 1000"):
        parse_upload_text("apparel " + "tops " * 200)


@pytest.mark.parametrize("text", ["apparel topz", "<@U0BOT> please cut this", "cutout portait"])
def test_upload_text_addressed_to_the_bot_but_invalid_is_an_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_upload_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apparel pants mask", "apparel pants mask"),
        ("<@U0BOT> portrait crop", "portrait crop"),
        ("looks great!", None),
        ("apparel team, can you check this?", None),  # talk that starts with a mode word is still talk
        ("", None),
    ],
)
def test_thread_replies(text: str, expected: str | None) -> None:
    spec = parse_thread_reply(text)
    assert (spec.words() if spec else None) == expected


@pytest.mark.parametrize("text", ["<@U0BOT> apparel topz", "cutout portait"])
def test_thread_reply_addressed_to_the_bot_explains_its_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_thread_reply(text)
