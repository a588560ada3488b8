"""The listing words of the grammar (issue 16): a marketplace preset and the layout options in any mode,
`check <preset>` as a command and as upload text, their errors, and the report's JSON."""

from __future__ import annotations

import pytest

from bot.domain.grammar import (
    Mode,
    Output,
    ParseError,
    RunCommand,
    parse_command,
    parse_spec,
    parse_upload_text,
)
from bot.domain.listing import PRESETS, Check, ComplianceReport, Layout, Preset, Rule
from bot.domain.reports import ResultReport


def run(text: str) -> RunCommand:
    command = parse_command(text)
    assert isinstance(command, RunCommand)
    return command


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("preset", list(Preset))
def test_every_preset_is_a_word_of_every_mode(mode: Mode, preset: Preset) -> None:
    spec = run(f"{mode.value} {preset.value.upper()}").spec
    assert spec.mode is mode and spec.layout == Layout(preset=preset)
    assert parse_spec(spec.words()) == spec


@pytest.mark.parametrize(
    ("words", "layout"),
    [
        ("fill=80%", Layout(fill=0.8)),
        ("margin=5%", Layout(margin=0.05)),
        ("bg=#f5f5f5", Layout(background=(245, 245, 245))),
        ("bg=F5F5F5", Layout(background=(245, 245, 245))),
        ("bg=transparent", Layout(transparent=True)),
        ("size=1600", Layout(size=(1600, 1600))),
        ("size=2000x1500", Layout(size=(2000, 1500))),
        ("shadow", Layout(shadow=True)),
        ("etsy shadow fill=82.5%", Layout(preset=Preset.ETSY, fill=0.825, shadow=True)),
    ],
)
def test_layout_options_work_without_a_preset(words: str, layout: Layout) -> None:
    spec = run(f"product {words}").spec
    assert spec.layout == layout
    assert parse_spec(spec.words()) == spec


def test_a_url_still_ends_a_listing_spec() -> None:
    command = run("apparel tops amazon https://example.com/a.jpg")
    assert command.url == "https://example.com/a.jpg"
    assert command.spec.layout == Layout(preset=Preset.AMAZON) and command.spec.classes == ("tops",)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("product amazon ebay", "choose a marketplace once"),
        ("product fill=80% margin=5%", "choose fill or margin once"),
        ("product fill=5%", "from 10% to 100%"),
        ("product margin=45%", "from 0% to 40%"),
        ("product bg=blue", "‘bg=#F5F5F5’"),
        ("product size=50", "100–10000 pixels"),
        ("product size=2000x", "‘size=2000x1500’"),
        ("product 800x800 amazon", "choose a size once"),
        ("portrait mask amazon", "Leave one out"),
        ("product amazn", "Did you mean ‘amazon’?"),
    ],
)
def test_wrong_listing_words_are_explained(text: str, says: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(text)
    assert says in caught.value.message


def test_white_output_and_a_preset_go_together() -> None:
    spec = run("portrait white walmart").spec
    assert spec.output is Output.WHITE and spec.layout == Layout(preset=Preset.WALMART)


@pytest.mark.parametrize("preset", list(Preset))
def test_check_names_a_marketplace(preset: Preset) -> None:
    spec = run(f"check {preset.value}").spec
    assert spec.check is preset and spec.layout is None
    assert spec.words() == f"check {preset.value}"
    assert parse_spec(spec.words()) == spec


def test_check_as_upload_text_but_not_every_caption_that_starts_with_check() -> None:
    spec = parse_upload_text("check Amazon")
    assert spec is not None and spec.check is Preset.AMAZON
    assert parse_upload_text("check this out") is None  # a caption, not a failed check
    with pytest.raises(ParseError):
        parse_upload_text("cutout check this")  # addressed to the bot: told what to type
    assert run("check ebay https://example.com/a.jpg").url == "https://example.com/a.jpg"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("check", "Name the marketplace"),
        ("check amazn", "Did you mean ‘amazon’?"),
        ("check amazon ebay", "takes one marketplace"),
    ],
)
def test_wrong_checks_are_explained(text: str, says: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(text)
    assert says in caught.value.message


def test_every_preset_has_a_row_that_makes_sense() -> None:
    for preset, rules in PRESETS.items():
        low, high = rules.fill_range
        assert 0 < low <= rules.fill <= high <= 1, preset
        assert min(rules.canvas) >= rules.min_side, preset
        assert rules.max_bytes >= 1_000_000 and rules.source.startswith("https://"), preset


def test_a_report_survives_the_database() -> None:
    report = ComplianceReport(
        Preset.AMAZON,
        (
            Check(Rule.BACKGROUND, True, "100% of the edge is pure white", "pure white #FFFFFF"),
            Check(Rule.BYTES, False, "12.3 MB", "at most 10 MB"),
        ),
    )
    assert not report.passed and report.failed == (report.checks[1],)
    stored = ResultReport("product amazon", "Aidge", (10, 10), (20, 20), 1.0, compliance=report).to_json()
    assert ResultReport.from_json(stored) == ResultReport(
        "product amazon", "Aidge", (10, 10), (20, 20), 1.0, compliance=report
    )
    assert ResultReport.from_json('{"spec": "x", "compliance": {"preset": "nowhere"}}').compliance is None
