"""Where a claimed task goes on from: what it kept, and whether this machine has it (work folders are a
cache, and an instance taking over another's task has none of its files)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.domain.grammar import parse_spec
from bot.domain.tasks import ResultFile, SourceFile, StoredPart, Task, TaskSource, TaskState
from bot.tasks.steps import resume_point

FRESH = Task(
    id=1,
    team_id="T",
    channel_id="C",
    user_id="U",
    message_ts="1.0",
    thread_ts="1.0",
    file=SourceFile("F1", "a.jpg", "image/jpeg", "https://files.example/a"),
    spec=parse_spec("segment"),
    source=TaskSource.UPLOAD,
    state=TaskState.RUNNING,
    vendor=None,
    attempts=1,
    vendor_task_id=None,
    error_code=None,
    error_message=None,
    result_files=(),
    vendor_parts=(),
    summary=None,
    created_at=0.0,
    updated_at=0.0,
    started_at=0.0,
    finished_at=None,
    notified_at=None,
)


@pytest.fixture
def here(tmp_path: Path) -> Path:
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"png")
    return kept


def test_a_new_task_starts_at_the_beginning() -> None:
    assert resume_point(FRESH) is TaskState.RUNNING


def test_finished_files_on_this_machine_are_posted(here: Path) -> None:
    posting = dataclasses.replace(
        FRESH, state=TaskState.POSTING, result_files=(ResultFile(str(here), "a", "A"),)
    )
    assert resume_point(posting) is TaskState.POSTING
    retried = dataclasses.replace(posting, state=TaskState.RUNNING)  # *Try again* on an undelivered result
    assert resume_point(retried) is TaskState.POSTING


def test_finished_files_elsewhere_are_made_again_from_the_vendors_links(tmp_path: Path) -> None:
    posting = dataclasses.replace(
        FRESH,
        state=TaskState.POSTING,
        result_files=(ResultFile(str(tmp_path / "gone.png"), "a", "A"),),
        vendor_parts=(StoredPart("result", url="https://cdn.example/r.png"),),
    )
    assert resume_point(posting) is TaskState.DOWNLOADING


def test_an_inline_answer_kept_elsewhere_is_asked_of_the_vendors_job_again(tmp_path: Path) -> None:
    downloading = dataclasses.replace(
        FRESH,
        state=TaskState.DOWNLOADING,
        vendor_task_id="job-7",
        vendor_parts=(StoredPart("tops", path=str(tmp_path / "inline-0")),),
    )
    assert resume_point(downloading) is TaskState.POLLING
    without_job = dataclasses.replace(downloading, vendor_task_id=None)  # a synchronous vendor: cut again
    assert resume_point(without_job) is TaskState.RUNNING


def test_an_inline_answer_kept_here_is_used(here: Path) -> None:
    downloading = dataclasses.replace(
        FRESH,
        state=TaskState.DOWNLOADING,
        vendor_task_id="job-7",
        vendor_parts=(StoredPart("tops", path=str(here)),),
    )
    assert resume_point(downloading) is TaskState.DOWNLOADING


def test_a_vendor_job_is_polled_and_a_job_never_submitted_starts_over() -> None:
    polling = dataclasses.replace(FRESH, state=TaskState.POLLING, vendor_task_id="job-7")
    assert resume_point(polling) is TaskState.POLLING
    assert resume_point(dataclasses.replace(polling, vendor_task_id=None)) is TaskState.RUNNING
