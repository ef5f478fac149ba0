"""A worker process killed mid-job (SIGKILL, the out-of-memory killer) breaks the pool under every running job:
each is run again from its checkpoint, the killed one as its retry and its neighbour as it was, never from
scratch and never refused as "already holds a run"."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_fixtures import TINY_DEFAULTS, TWO_JOBS, execute_killed_once, write_manifest

from restyle.batch import executors, run_batch

pytestmark = pytest.mark.slow
CHECKPOINT_EVERY_STEP = TINY_DEFAULTS.replace("optim = {iters = 3}", "optim = {iters = 4}").replace(
    "checkpoint_every = 0", "checkpoint_every = 1")


def test_the_jobs_of_a_broken_pool_resume_from_their_checkpoints(workspace: Path, monkeypatch) -> None:
    assert CHECKPOINT_EVERY_STEP.count("= 4") == 1 and "checkpoint_every = 1" in CHECKPOINT_EVERY_STEP
    monkeypatch.setattr(executors, "execute", execute_killed_once)  # pickled by name: the workers import it
    manifest, out = write_manifest(workspace, TWO_JOBS, defaults=CHECKPOINT_EVERY_STEP), workspace / "out"
    summary = run_batch(manifest, out, workers=2, retries=1)
    assert (out / "red.killed").exists() and (out / "blue.at_step_2").exists()  # it happened as planned
    assert [job.status for job in summary.jobs] == ["done", "done"], summary.jobs
    for job in ("red", "blue"):
        assert (out / f"{job}.calls").read_text().split() == ["fresh", "resume"], job
