"""The command-line tool: `cutout-bot cutout PATH… SPEC-WORDS [--out DIR] [--jobs N]`.

Files and folders (folders are searched recursively for images), then the same spec words as in Slack.
It runs through the same runner, image preparation and vendor/local engines as the bot, with a throwaway
task store, and delivers into folders instead of threads:

    a file            its results go beside it (or into --out)
    a folder          its results go into a sibling folder `<folder>-cutouts`, mirroring its layout (or into --out)

Nothing is ever overwritten or written through a link: a result whose name is taken — by an earlier run's
result, by an input, by any file or symlink — is written as `x-product-transparent-2.png`, then `-3`, …
(each file is created new, with O_EXCL and O_NOFOLLOW). Inside a folder, a symlink that leads outside the
folders and files given is skipped, and said so on its line and in the summary; one that stays inside is
fine. A file named on the command line is taken as it is.

A progress bar shows each file's status; a summary counts done, failed and skipped, with the reasons; the
exit status is 1 when any file failed, 2 for a usage or configuration problem.
"""

from __future__ import annotations

import getpass
import mimetypes
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from bot.assembly import build_engines, cli_run
from bot.config import Config
from bot.domain.failures import TaskFailure
from bot.domain.grammar import ParseError, RunCommand, Spec, parse_command
from bot.domain.listing import PRESETS, ComplianceReport
from bot.domain.reports import ProgressReport, ResultReport
from bot.domain.tasks import LOCAL_FILE_ID, NewTask, SourceFile, Task, TaskSource, TaskState
from bot.engines.registry import Engines
from bot.tasks.delivery import Outcome

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".gif"}
)
OUTPUT_FOLDER_SUFFIX = "-cutouts"
MAX_NUMBERED_NAME = 10_000  # `x-2.png` … `x-10000.png`: past that, the delivery fails rather than loop on
LINK_OUTSIDE = "a link that leads outside the folders and files given"


class UsageError(Exception):
    """What the user typed cannot be run; the text says why."""


@dataclass(frozen=True, slots=True)
class Input:
    path: Path
    out_dir: Path


@dataclass(frozen=True, slots=True)
class Skipped:
    path: Path
    target: Path  # where the link leads


@dataclass(frozen=True, slots=True)
class Inputs:
    found: list[Input]
    skipped: list[Skipped]  # links in a folder that lead outside what was given


def split_arguments(items: list[str]) -> tuple[list[Path], list[str]]:
    """Leading items that name existing files or folders are inputs; the rest are spec words."""
    paths: list[Path] = []
    for index, item in enumerate(items):
        path = Path(item)
        if path.exists():
            paths.append(path)
        else:
            return paths, items[index:]
    return paths, []


def collect_inputs(paths: list[Path], out_dir: Path | None) -> Inputs:
    """Every image to cut, with where its results go; a folder is searched recursively (not through
    symlinked folders). Symlinks found in a folder are kept when they lead inside the folders and files
    given, and skipped when they lead outside."""
    given = [path.resolve() for path in paths]
    found: dict[Path, Input] = {}
    skipped: list[Skipped] = []
    for path in paths:
        if path.is_file():
            found.setdefault(path.resolve(), Input(path, out_dir or path.parent))
            continue
        base = out_dir or path.with_name(path.name + OUTPUT_FOLDER_SUFFIX)
        for item in sorted(path.rglob("*")):
            relative = item.relative_to(path)
            if any(part.startswith(".") or part.endswith(OUTPUT_FOLDER_SUFFIX) for part in relative.parts):
                continue
            is_link = item.is_symlink()
            if not (is_link and item.is_dir()) and item.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            real = item.resolve()
            if is_link and not any(real == root or real.is_relative_to(root) for root in given):
                skipped.append(Skipped(item, real))
                continue
            if item.is_file():
                found.setdefault(real, Input(item, base / relative.parent))
    return Inputs(list(found.values()), skipped)


def parse_spec_words(words: list[str]) -> Spec:
    if not words:
        raise UsageError("give the spec words after the images, e.g. `apparel tops whiteBK`")
    try:
        command = parse_command(" ".join(words))
    except ParseError as error:
        raise UsageError(error.message) from None
    if not isinstance(command, RunCommand) or command.url is not None:
        raise UsageError("the command-line tool takes a spec (mode and options), not a sub-command or URL")
    return command.spec


def compliance_lines(report: ComplianceReport, *, only_failed: bool = False) -> list[str]:
    """A report as plain lines: each rule, what was measured, and what passes."""
    return [
        f"{'ok  ' if check.passed else 'FAIL'} {check.rule.value}: {check.measured}"
        + ("" if check.passed else f" (needs {check.expected})")
        for check in report.checks
        if not (only_failed and check.passed)
    ]


class Report:
    """The progress bar, one line per finished file, and the counts for the summary."""

    def __init__(self, total: int, *, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        # disable=None: a bar on a terminal, nothing in a log or a pipe (the per-file lines still come)
        self._bar = tqdm(total=total, unit="image", file=err, dynamic_ncols=True, leave=False, disable=None)
        self.failures: Counter[str] = Counter()
        self.done = 0
        self.skipped = 0

    def started(self, task: Task) -> None:
        self._bar.set_postfix_str(task.file.name[:30])

    def delivered(self, task: Task, written: list[Path]) -> None:
        self.done += 1
        for path in written:
            self._bar.write(f"{task.file.url} → {path}", file=self._out)
        report = ResultReport.from_json(task.summary)
        for note in report.notes if report else ():
            self._bar.write(f"{task.file.url}: note: {note}", file=self._out)
        if report is not None and report.compliance is not None:
            verdict = "passes" if report.compliance.passed else "fails"
            self._bar.write(
                f"{task.file.url}: {PRESETS[report.compliance.preset].title} main image {verdict}:",
                file=self._out,
            )
            for line in compliance_lines(report.compliance):
                self._bar.write(f"  {line}", file=self._out)
        self._bar.update()

    def failed(self, task: Task, reason: str) -> None:
        self.failures[reason] += 1
        self._bar.write(f"{task.file.url}: failed: {reason}", file=self._err)
        self._bar.update()

    def skip(self, skipped: Skipped) -> None:
        self.skipped += 1
        self._bar.write(f"{skipped.path}: skipped: {LINK_OUTSIDE} (to {skipped.target})", file=self._err)

    def close(self) -> None:
        self._bar.close()


class FolderDelivery:
    """The command-line tool's `Delivery`: results are copied into each input's output folder, each under a
    name nothing has yet (`write_new`)."""

    def __init__(self, targets: dict[int, Path], report: Report) -> None:
        self._targets = targets
        self._report = report

    async def working(self, task: Task) -> None:
        self._report.started(task)

    async def deliver(self, task: Task) -> None:
        folder = self._targets[task.id]
        folder.mkdir(parents=True, exist_ok=True)
        written = [write_new(Path(result.path), folder / result.name) for result in task.result_files]
        self._report.delivered(task, written)

    async def tell_failure(self, task: Task, reason: str) -> None:
        self._report.failed(task, reason)

    async def already_said(self, task: Task, marker: str, *, with_files: bool = False) -> bool:
        return False

    async def progress(self, task: Task, report: ProgressReport, message_ts: str | None) -> str | None:
        return None

    async def message_outcome(self, task: Task, outcome: Outcome) -> None:
        return None


def write_new(source: Path, target: Path, *, max_numbered_name: int = MAX_NUMBERED_NAME) -> Path:
    """Copy `source` to `target`, or to `<stem>-2<suffix>`, `-3`, … up to `-<max_numbered_name>` when that
    name is taken. The file is created new (O_CREAT | O_EXCL | O_NOFOLLOW): whatever is already there — a
    result, an input, a symlink, even a dangling one — is left alone and never written through. Returns the
    path written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for number in range(1, max_numbered_name + 1):
        candidate = target if number == 1 else target.with_name(f"{target.stem}-{number}{target.suffix}")
        try:
            descriptor = os.open(candidate, flags, 0o666)
        except FileExistsError:
            continue
        try:
            with os.fdopen(descriptor, "wb") as out, source.open("rb") as data:
                shutil.copyfileobj(data, out)
        except BaseException:
            candidate.unlink(missing_ok=True)
            raise
        return candidate
    raise FileExistsError(f"{target} and its numbered names up to -{max_numbered_name} are all taken")


async def run_cutout(
    config: Config,
    items: list[str],
    *,
    out_dir: Path | None,
    jobs: int = 2,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    paths, words = split_arguments(items)
    try:
        if not paths:
            raise UsageError(f"no such image file or folder: {items[0] if items else 'IMAGE'}")
        spec = parse_spec_words(words)
        collected = collect_inputs(paths, out_dir)
        if not collected.found:
            skipped = f" ({len(collected.skipped)} skipped: {LINK_OUTSIDE})" if collected.skipped else ""
            raise UsageError("no image files found in " + ", ".join(str(p) for p in paths) + skipped)
    except UsageError as error:
        print(f"cutout-bot: {error}", file=err)
        return EXIT_USAGE
    inputs = collected.found
    engines = build_engines(config)
    try:
        try:
            engines.for_spec(spec)
        except TaskFailure as failure:
            print(f"cutout-bot: {failure.user_text()}", file=err)
            return EXIT_USAGE
        report = Report(len(inputs), out=out, err=err)
        for link in collected.skipped:
            report.skip(link)
        try:
            tasks = await _run(config, engines, spec, inputs, report, jobs=jobs)
        finally:
            report.close()
    finally:
        await engines.aclose()
    return _summarise(tasks, report, err)


async def _run(
    config: Config, engines: Engines, spec: Spec, inputs: list[Input], report: Report, *, jobs: int
) -> list[Task]:
    targets: dict[int, Path] = {}  # task id → its output folder, filled as the tasks are queued
    async with cli_run(config, engines, FolderDelivery(targets, report), jobs=jobs) as run:
        user = getpass.getuser()
        for number, item in enumerate(inputs):
            mimetype = mimetypes.guess_type(item.path.name)[0] or ""
            task = await run.store.create_task(
                NewTask(
                    team_id=None,
                    channel_id="cli",
                    user_id=user,
                    message_ts=str(number),
                    thread_ts=str(number),
                    file=SourceFile(LOCAL_FILE_ID, item.path.name, mimetype, str(item.path)),
                    spec=spec,
                    source=TaskSource.CLI,
                )
            )
            assert task is not None
            targets[task.id] = item.out_dir
        await run.runner.start()
        try:
            await run.runner.run_until_idle(timeout_s=None)
        finally:
            await run.runner.stop(grace_s=0)
        return [task for task_id in targets if (task := await run.store.get_task(task_id)) is not None]


def _summarise(tasks: list[Task], report: Report, err: TextIO) -> int:
    done = sum(1 for t in tasks if t.state is TaskState.DONE)
    failed = len(tasks) - done
    skipped = f", {report.skipped} skipped" if report.skipped else ""
    print(f"{done} done, {failed} failed{skipped}", file=err)
    for reason, count in report.failures.most_common():
        print(f"  {count} × {reason}", file=err)
    if report.skipped:
        print(f"  {report.skipped} × skipped: {LINK_OUTSIDE}", file=err)
    return EXIT_SOME_FAILED if failed else EXIT_OK
