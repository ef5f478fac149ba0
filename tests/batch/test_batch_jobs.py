"""One job as a worker runs it, without running the optimisation: a submission run again after its worker died
resumes, a failed job is retried as a new submission, and a job folder that cannot be written fails that job
alone, in one line, without a retry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from batch_fixtures import pretend_read_only

from restyle.batch import jobs
from restyle.batch.executors import Tracker, again
from restyle.batch.jobs import Attempt, JobSpec, effective_mode, execute, write_record


def spec(folder: Path, mode: str = "fresh") -> JobSpec:
    return JobSpec(folder.name, Path("box.glb"), (), folder, None, {}, mode, "f" * 64)  # type: ignore[arg-type]


def test_a_submission_run_again_after_its_worker_died_resumes(tmp_path: Path) -> None:
    job = spec(tmp_path / "red")
    job.output.mkdir()
    assert effective_mode(job) == "fresh"
    write_record(job.output, fingerprint=job.fingerprint, token=job.token, finished=False)
    (job.output / "config.toml").write_text("")
    assert effective_mode(job) == "overwrite"  # it died before its first checkpoint: replace what it left
    (job.output / "checkpoint.pt").write_bytes(b"")
    assert effective_mode(job) == "resume"
    other = dataclasses.replace(job, token=jobs.new_token())
    assert effective_mode(other) == "fresh"  # another submission: the plan's mode


def test_a_lost_worker_retries_the_same_submission_and_a_failure_a_new_one(tmp_path: Path) -> None:
    job = spec(tmp_path / "red")
    lost = Attempt("failed", 1.0, "the worker process died", lost=True)
    assert again(job, lost) is job
    retry = again(job, Attempt("failed", 1.0, "boom"))
    assert retry.mode == "overwrite" and retry.token != job.token
    tracker = Tracker([job], 3, lambda kind, name, detail: None)
    tracker.started(job)
    assert tracker.finished(job, lost) is job
    tracker.started(job)
    assert tracker.finished(job, Attempt("failed", 0.0, "read-only", retryable=False)) is None


@pytest.mark.parametrize("blocked", ["file", "read-only"])
def test_a_job_folder_that_cannot_be_written_fails_that_job_alone(tmp_path: Path, monkeypatch, blocked: str) -> None:
    job = spec(tmp_path / "out" / "red")
    (tmp_path / "out").mkdir()
    if blocked == "file":
        job.output.write_text("a file where the job's folder goes")
    else:
        job.output.mkdir()
        pretend_read_only(monkeypatch, job.output)
    monkeypatch.setattr("restyle.api.stylize_mesh", lambda *args, **kwargs: pytest.fail("the job ran"))
    attempt = execute(job)
    assert attempt.status == "failed" and not attempt.retryable
    assert attempt.error.startswith(str(job.output)) and "\n" not in attempt.error
    assert ("is a file" if blocked == "file" else "is not writable") in attempt.error
