"""The command-line tool: `cutout-bot cutout PATH… SPEC-WORDS [--out DIR] [--jobs N]`.

Files and folders (folders are searched recursively for images), then the same spec words as in Slack.
It runs through the same runner, image preparation and vendor/local engines as the bot, with a throwaway
task store, and delivers into folders instead of threads:

    a file            its results go beside it (or into --out)
    a folder          its results go into a sibling folder `<folder>-cutouts`, mirroring its layout (or into --out)

An input is never overwritten. A progress bar shows each file's status; a summary counts done and failed
with the reasons; the exit status is 1 when any file failed, 2 for a usage or configuration problem.
"""

from __future__ import annotations

import getpass
import mimetypes
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from bot.config import Config
from bot.delivery import Outcome
from bot.engines import Engines
from bot.failures import TaskFailure
from bot.grammar import ParseError, RunCommand, Spec, parse_command
from bot.http_client import http_client
from bot.runner import TaskRunner
from bot.sources import ImageSources
from storage import LOCAL_FILE_ID, NewTask, SourceFile, Store, Task, TaskSource, TaskState

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".bmp", ".gif"}
)
OUTPUT_FOLDER_SUFFIX = "-cutouts"


class UsageError(Exception):
    """What the user typed cannot be run; the text says why."""


@dataclass(frozen=True, slots=True)
class Input:
    path: Path
    out_dir: Path


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


def collect_inputs(paths: list[Path], out_dir: Path | None) -> list[Input]:
    """Every image to cut, with where its results go; a folder is searched recursively."""
    inputs: dict[Path, Input] = {}
    for path in paths:
        if path.is_file():
            inputs.setdefault(path.resolve(), Input(path, out_dir or path.parent))
            continue
        base = out_dir or path.with_name(path.name + OUTPUT_FOLDER_SUFFIX)
        for found in sorted(path.rglob("*")):
            relative = found.relative_to(path)
            if any(part.startswith(".") or part.endswith(OUTPUT_FOLDER_SUFFIX) for part in relative.parts):
                continue
            if found.is_file() and found.suffix.lower() in IMAGE_SUFFIXES:
                inputs.setdefault(found.resolve(), Input(found, base / relative.parent))
    return list(inputs.values())


def parse_spec_words(words: list[str]) -> Spec:
    if not words:
        raise UsageError("give the spec words after the images, e.g. `apparel tops whiteBK`")
    try:
        command = parse_command(" ".join(words))
    except ParseError as error:
        raise UsageError(_plain(error.message)) from None
    if not isinstance(command, RunCommand) or command.url is not None:
        raise UsageError("the command-line tool takes a spec (mode and options), not a sub-command or URL")
    return command.spec


class Report:
    """The progress bar, one line per finished file, and the counts for the summary."""

    def __init__(self, total: int, *, out: TextIO, err: TextIO) -> None:
        self._out = out
        self._err = err
        # disable=None: a bar on a terminal, nothing in a log or a pipe (the per-file lines still come)
        self._bar = tqdm(total=total, unit="image", file=err, dynamic_ncols=True, leave=False, disable=None)
        self.failures: Counter[str] = Counter()
        self.done = 0

    def started(self, task: Task) -> None:
        self._bar.set_postfix_str(task.file.name[:30])

    def delivered(self, task: Task, written: list[Path]) -> None:
        self.done += 1
        for path in written:
            self._bar.write(f"{task.file.url} → {path}", file=self._out)
        self._bar.update()

    def failed(self, task: Task, reason: str) -> None:
        self.failures[_plain(reason)] += 1
        self._bar.write(f"{task.file.url}: failed: {_plain(reason)}", file=self._err)
        self._bar.update()

    def close(self) -> None:
        self._bar.close()


class FolderDelivery:
    """The command-line tool's `Delivery`: results are copied into each input's output folder."""

    def __init__(self, targets: dict[int, Path], inputs: set[Path], report: Report) -> None:
        self._targets = targets
        self._inputs = inputs
        self._report = report

    async def working(self, task: Task) -> None:
        self._report.started(task)

    async def deliver(self, task: Task, blocks: list[dict[str, Any]]) -> None:
        folder = self._targets[task.id]
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for result in task.result_files:
            target = folder / result.name
            if target.resolve() in self._inputs:  # never overwrite an input
                target = target.with_name(f"{target.stem}-result{target.suffix}")
            shutil.copyfile(result.path, target)
            written.append(target)
        self._report.delivered(task, written)

    async def tell_failure(self, task: Task, text: str, blocks: list[dict[str, Any]]) -> None:
        self._report.failed(task, task.error_message or text)

    async def already_said(self, task: Task, marker: str) -> bool:
        return False

    async def progress(self, task: Task, text: str, message_ts: str | None) -> str | None:
        return None

    async def message_outcome(self, task: Task, outcome: Outcome) -> None:
        return None


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
        inputs = collect_inputs(paths, out_dir)
        if not inputs:
            raise UsageError("no image files found in " + ", ".join(str(p) for p in paths))
    except UsageError as error:
        print(f"cutout-bot: {error}", file=err)
        return EXIT_USAGE
    engines = Engines.from_config(config)
    try:
        try:
            engines.for_spec(spec)
        except TaskFailure as failure:
            print(f"cutout-bot: {_plain(failure.user_text())}", file=err)
            return EXIT_USAGE
        report = Report(len(inputs), out=out, err=err)
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
    with tempfile.TemporaryDirectory(prefix="cutout-cli-") as work:
        store = await Store.open(Path(work) / "tasks.db")
        sources = ImageSources(None, http_client(), allow_private_urls=config.allow_private_urls)
        try:
            targets: dict[int, Path] = {}
            user = getpass.getuser()
            for number, item in enumerate(inputs):
                mimetype = mimetypes.guess_type(item.path.name)[0] or ""
                task = await store.create_task(
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
            delivery = FolderDelivery(targets, {i.path.resolve() for i in inputs}, report)
            runner = TaskRunner(
                store, engines, delivery, sources, data_dir=Path(work) / "data", concurrency=jobs
            )
            await runner.start()
            try:
                await runner.run_until_idle(timeout_s=None)
            finally:
                await runner.stop(grace_s=0)
            return [task for task_id in targets if (task := await store.get_task(task_id)) is not None]
        finally:
            await sources.aclose()
            await store.close()


def _summarise(tasks: list[Task], report: Report, err: TextIO) -> int:
    done = sum(1 for t in tasks if t.state is TaskState.DONE)
    failed = len(tasks) - done
    print(f"{done} done, {failed} failed", file=err)
    for reason, count in report.failures.most_common():
        print(f"  {count} × {reason}", file=err)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _plain(text: str) -> str:
    """Slack mrkdwn made readable on a terminal."""
    return text.replace("`", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
