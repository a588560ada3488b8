"""The README stays true: its commands are the ones CI runs, and it documents every CLI command."""

from __future__ import annotations

import re

from bot.__main__ import build_parser
from tests.paths import ROOT

README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\$ (python3 -m venv .+)$", quick_start, flags=re.MULTILINE)


def test_quick_start_has_exactly_two_set_up_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[0].endswith("cutout-bot")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in ci


def test_every_cli_command_has_help_and_is_in_the_readme() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(commands) == {"run", "cutout", "check"}
    for name, sub in commands.items():
        assert sub.description, f"{name} has no help"
        assert f"cutout-bot {name}" in README


def test_every_configuration_variable_is_in_the_readme() -> None:
    source = (ROOT / "bot" / "config.py").read_text()
    variables = set(re.findall(r'"((?:SLACK|AILAB|AIDGE|PICWISH|CUTOUT)_[A-Z_]+|PORT)"', source))
    assert len(variables) >= 20
    for variable in variables:
        assert f"`{variable}`" in README, variable


def test_every_variable_the_readme_documents_is_read_by_the_configuration() -> None:
    source = (ROOT / "bot" / "config.py").read_text()
    configuration = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:SLACK|AILAB|AIDGE|PICWISH|CUTOUT)_[A-Z_]+|PORT)`", configuration))
    assert len(documented) >= 20
    for variable in documented:
        assert f'"{variable}"' in source, f"{variable} is documented but never read"


def test_the_readme_says_how_to_run_every_benchmark() -> None:
    from bench.__main__ import BENCHMARKS

    assert "python -m bench" in README
    for name in BENCHMARKS:
        assert (ROOT / "bench" / f"{name}.py").is_file(), name
        assert f"`{name}`" in README.split("## Performance", 1)[1].split("\n## ", 1)[0], name


def test_the_readme_prints_the_presets_table_of_the_code() -> None:
    from bot.domain.listing import PRESETS

    for preset, rules in PRESETS.items():
        (row,) = [line for line in README.splitlines() if line.startswith(f"| `{preset.value}` |")]
        width, height = rules.canvas
        assert f"| {width}×{height} |" in row, preset
        assert f"≤ {rules.max_bytes / 1e6:g} MB" in row and f"| {rules.min_side} |" in row, preset
        assert f"{rules.fill_range[0] * 100:g}–{rules.fill_range[1] * 100:g} %" in row, preset
        assert ("pure white" in row) is rules.pure_white and rules.source in row, preset
