"""``run_batch`` with the local executor: failures are recorded and retried without stopping the others,
finished jobs are skipped, changed inputs re-run, interrupted jobs resume, and worker processes give the
same outputs as one process."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from batch_fixtures import (
    BROKEN_JOB,
    RED_JOB,
    TINY_DEFAULTS,
    TWO_JOBS,
    pretend_read_only,
    texture_bytes,
    write_manifest,
    write_style,
)

from restyle import api
from restyle.batch import run_batch
from restyle.batch.jobs import RECORD
from restyle.run.heldout import is_loss_entry

pytestmark = pytest.mark.slow
REAL_STYLIZE = api.stylize_mesh

THREE_JOBS = TWO_JOBS + BROKEN_JOB


def recording(monkeypatch: pytest.MonkeyPatch, *, interrupt_at: int | None = None) -> list[dict[str, Any]]:
    """Wrap ``api.stylize_mesh``: each call's output and keywords are recorded; ``interrupt_at`` makes the run
    get a Ctrl-C after that step."""
    calls: list[dict[str, Any]] = []

    def wrapper(mesh, styles, output, **kwargs):
        calls.append({"output": Path(output), **kwargs})
        if interrupt_at is not None:
            def on_step(info):
                if info.step >= interrupt_at:
                    raise KeyboardInterrupt

            kwargs["on_step"] = on_step
        return REAL_STYLIZE(mesh, styles, output, **kwargs)

    monkeypatch.setattr(api, "stylize_mesh", wrapper)
    return calls


def linked_files(index: Path) -> list[str]:
    return [unquote(link) for link in re.findall(r'(?:href|src)="([^"]+)"', index.read_text())]


def test_bad_asset_fails_alone_and_finished_jobs_are_skipped(workspace: Path, monkeypatch) -> None:
    manifest, out = write_manifest(workspace, THREE_JOBS), workspace / "out"
    events: list[tuple[str, str]] = []
    summary = run_batch(manifest, out, retries=1, on_event=lambda kind, name, detail: events.append((kind, name)))

    status = {job.name: job for job in summary.jobs}
    assert [status[n].status for n in ("red", "blue", "broken")] == ["done", "done", "failed"]
    assert status["broken"].attempts == 2 and status["red"].attempts == 1  # 1 + retries
    assert "broken.obj" in status["broken"].error and "\n" not in status["broken"].error
    assert ("retrying", "broken") in events and ("failed", "broken") in events and ("done", "red") in events

    data = json.loads((out / "summary.json").read_text())
    assert data["counts"]["done"] == 2 and data["counts"]["failed"] == 1
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["done", "done", "failed"] and rows[2]["error"]
    links = linked_files(out / "index.html")
    assert "red/before_after.png" in links and any(link.endswith(".glb") for link in links)
    assert all(not link.startswith(("/", "http")) and (out / link).is_file() for link in links)
    record = json.loads((out / "red" / RECORD).read_text())
    assert record["finished"] is True and len(record["fingerprint"]) == 64

    glb = out / "red" / "box_stylized.glb"
    mtime = glb.stat().st_mtime_ns
    calls = recording(monkeypatch)
    again = run_batch(manifest, out, retries=0)
    assert [job.status for job in again.jobs] == ["skipped", "skipped", "failed"]
    assert [call["output"].name for call in calls] == ["broken"]  # the finished ones did no work at all
    assert glb.stat().st_mtime_ns == mtime
    assert again.jobs[0].outputs["glb"] == "red/box_stylized.glb"  # the gallery still shows skipped jobs
    assert all((out / link).is_file() for link in linked_files(out / "index.html"))


def test_changed_style_image_reruns_that_job(workspace: Path, monkeypatch) -> None:
    manifest, out = write_manifest(workspace, RED_JOB), workspace / "out"
    assert run_batch(manifest, out).jobs[0].status == "done"
    write_style(workspace / "red.png", 7)
    calls = recording(monkeypatch)
    summary = run_batch(manifest, out)
    assert summary.jobs[0].status == "done"
    assert len(calls) == 1 and calls[0]["overwrite"] is True


def test_interrupted_job_stops_the_batch_and_resumes_from_its_checkpoint(workspace: Path, monkeypatch) -> None:
    manifest, out = write_manifest(workspace, TWO_JOBS), workspace / "out"
    recording(monkeypatch, interrupt_at=2)
    first = run_batch(manifest, out)
    assert [job.status for job in first.jobs] == ["interrupted", "pending"] and first.interrupted
    assert (out / "red" / "checkpoint.pt").is_file()
    assert json.loads((out / "red" / RECORD).read_text())["finished"] is False

    calls = recording(monkeypatch)
    second = run_batch(manifest, out)
    assert [job.status for job in second.jobs] == ["done", "done"]
    assert calls[0]["output"] == out / "red" and calls[0]["resume"] == out / "red"
    assert "resume" not in calls[1]  # the one never started runs fresh
    lines = (out / "red" / "metrics.jsonl").read_text().splitlines()
    metrics = [entry for entry in map(json.loads, lines) if is_loss_entry(entry)]  # held-out entries left out
    assert [entry["step"] for entry in metrics][-1:] == [3]
    assert all(entry["step"] > 2 for entry in metrics)  # steps 1-2 were not redone


def test_worker_processes_give_the_same_outputs(workspace: Path) -> None:
    manifest = write_manifest(workspace, TWO_JOBS)
    one = run_batch(manifest, workspace / "one", workers=1)
    two = run_batch(manifest, workspace / "two", workers=2)
    assert [job.status for job in one.jobs] == [job.status for job in two.jobs] == ["done", "done"]
    expected = texture_bytes(workspace / "one")
    assert len(expected) == 2 and texture_bytes(workspace / "two") == expected


def test_a_finished_job_whose_outputs_are_gone_runs_again(workspace: Path, monkeypatch) -> None:
    manifest, out = write_manifest(workspace, RED_JOB), workspace / "out"
    assert run_batch(manifest, out).jobs[0].status == "done"
    (out / "red" / "box_stylized.glb").unlink()
    calls = recording(monkeypatch)
    summary = run_batch(manifest, out)
    assert summary.jobs[0].status == "done" and len(calls) == 1
    assert (out / "red" / "box_stylized.glb").is_file()


def test_a_job_rerun_after_a_manifest_change_leaves_no_stale_outputs(workspace: Path) -> None:
    shutil.copy(workspace / "box.glb", workspace / "crate.glb")
    with_turntable = TINY_DEFAULTS.replace('turntable = "none"', 'turntable = "gif"')
    manifest, out = write_manifest(workspace, RED_JOB, defaults=with_turntable), workspace / "out"
    assert run_batch(manifest, out).jobs[0].outputs["turntable"] == "red/turntable.gif"
    (out / "red" / "notes.txt").write_text("mine")
    write_manifest(workspace, RED_JOB.replace("box.glb", "crate.glb"))  # another mesh, no turntable
    (job,) = run_batch(manifest, out).jobs
    assert job.status == "done" and "turntable" not in job.outputs
    assert job.outputs["glb"] == "red/crate_stylized.glb" and job.outputs["obj"] == "red/obj/crate_stylized.obj"
    left = {path.relative_to(out / "red").as_posix() for path in (out / "red").rglob("*")}
    assert not any("box_stylized" in name or "turntable" in name for name in left), left
    assert (out / "red" / "notes.txt").read_text() == "mine"  # not restyle's: kept
    assert all((out / link).is_file() for link in linked_files(out / "index.html"))
    assert not any("box_stylized" in link for link in linked_files(out / "index.html"))


def test_moving_the_library_and_the_output_folder_reruns_nothing(workspace: Path, monkeypatch,
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    manifest = write_manifest(workspace, TWO_JOBS)
    assert run_batch(manifest, workspace / "out").ok
    library = tmp_path_factory.mktemp("moved") / "library"
    shutil.move(workspace, library)
    results = shutil.move(library / "out", library.parent / "results")
    calls = recording(monkeypatch)
    summary = run_batch(library / manifest.name, results)
    assert [job.status for job in summary.jobs] == ["skipped", "skipped"] and calls == []
    assert all((results / link).is_file() for link in linked_files(results / "index.html"))


def test_a_job_folder_that_cannot_be_written_fails_alone(workspace: Path, monkeypatch) -> None:
    manifest, out = write_manifest(workspace, TWO_JOBS), workspace / "out"
    (out / "red").mkdir(parents=True)
    pretend_read_only(monkeypatch, out / "red")
    summary = run_batch(manifest, out, retries=2)
    red, blue = summary.jobs
    assert blue.status == "done" and red.status == "failed" and red.attempts == 1  # a retry cannot help
    assert red.error == f"{out / 'red'}: cannot write the output, {out / 'red'} is not writable"
