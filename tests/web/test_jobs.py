"""The jobs of `restyle web`: tiny mesh and image runs through the queue, stop and resume, failures, the records a
restarted server finds, and job paths that cannot leave their folder."""

from __future__ import annotations

import json
import math
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from restyle import api
from restyle.errors import ConfigError
from restyle.io.images import load_image, save_image
from restyle.io.meshes import load_mesh
from restyle.run.loop import StepInfo
from restyle.web.actions import view_job
from restyle.web.jobs import JobRecord, JobRunner, JobStore

TINY_MESH = {
    "style": {"backbone": "patch"},
    "render": {"texture_size": 32, "render_size": 64, "views_per_step": 2, "view_pool": 4},
    "palette": {"source": "none"},
    "optim": {"iters": 6},
    "outputs": {"checkpoint_every": 0, "turntable": "none", "sheet_views": 2, "preview_size": 48},
}
TINY_IMAGE = {"size": 32, "style": {"backbone": "patch"}, "optim": {"iters": 3}}
TIMEOUT = 300.0  # generous: a loaded machine is slow, and nothing here is timed


def _style_image(path: Path) -> Path:
    stripes = (torch.sin(torch.linspace(0, 30, 64))[None].expand(64, 64) > 0).float()
    save_image(torch.stack([stripes, 0.3 * stripes, 1 - stripes]), path)
    return path


def _broken_image(path: Path) -> Path:
    path.write_bytes(b"not an image")
    return path


def _mesh_job(store: JobStore, box: Path, style: Callable[[Path], Path] = _style_image) -> str:
    job_id, folder = store.new_folder()
    shutil.copyfile(box, folder / "inputs" / box.name)
    style(folder / "inputs" / "style.png")
    store.create(job_id, "mesh", {"mesh": f"inputs/{box.name}", "styles": ["inputs/style.png"]}, TINY_MESH)
    return job_id


def _image_job(store: JobStore, options: dict = TINY_IMAGE) -> str:
    job_id, folder = store.new_folder()
    save_image(torch.rand(3, 32, 32), folder / "inputs" / "content.png")
    _style_image(folder / "inputs" / "style.png")
    store.create(job_id, "image", {"content": "inputs/content.png", "styles": ["inputs/style.png"]}, options)
    return job_id


def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "the condition was not reached"
        time.sleep(0.01)


def _endless_run(content, styles, output, *, on_step, on_phase, **options):
    """A stand-in for stylize_image that steps until its job is stopped."""
    on_phase("optimising (1000 steps)")
    for step in range(1, 1001):
        on_step(StepInfo(step, 1000, 0.1, {"style": 2.0, "total": 2.0}))
        time.sleep(0.002)
    raise AssertionError("the job was not stopped")


def _texture_pixels(store: JobStore, record: JobRecord) -> list[torch.Tensor]:
    return [load_image(store.resolve(record.id, path)) for path in record.outputs["textures"]]


@pytest.fixture
def runners() -> Iterator[Callable[..., JobRunner]]:
    """``start(store, **options)``: a started runner, shut down after the test."""
    started: list[JobRunner] = []

    def start(store: JobStore, **options: object) -> JobRunner:
        runner = JobRunner(store, **options)
        runner.start()
        started.append(runner)
        return runner

    yield start
    for runner in started:
        runner.shutdown()


@pytest.fixture(scope="module")
def straight(box: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JobStore, JobRecord]]:
    """One mesh job run to the end without a stop (shared: it is the reference of the resume test)."""
    store = JobStore(tmp_path_factory.mktemp("straight"))
    runner = JobRunner(store, preview_every=3)
    runner.start()
    job_id = _mesh_job(store, box)
    runner.submit(job_id)
    try:
        yield store, runner.wait(job_id, TIMEOUT)
    finally:
        runner.shutdown()


def test_a_mesh_job_records_every_output(straight, box) -> None:
    store, record = straight
    assert record.status == "done" and record.error is None and not record.resumable
    assert record.progress.step == record.progress.total == 6 and record.progress.eta_s is None
    assert {"style", "total"} <= set(record.progress.losses) and record.progress.phase.startswith("exporting")
    expected = {"glb", "obj_zip", "before_after", "config", "textures", "preview", "original_glb"}
    assert expected <= set(record.outputs) and "turntable" not in record.outputs
    for name in expected - {"textures"}:
        assert store.resolve(record.id, record.outputs[name]).is_file(), name
    assert [Path(p).suffix for p in record.outputs["textures"]] == [".png"]
    assert store.get(record.id) == record
    assert json.loads((store.folder(record.id) / "job.json").read_text())["status"] == "done"

    unzipped = store.folder(record.id) / "unzipped"
    with zipfile.ZipFile(store.resolve(record.id, record.outputs["obj_zip"])) as archive:
        assert sorted(Path(n).suffix for n in archive.namelist()) == [".mtl", ".obj", ".png"]
        archive.extractall(unzipped)
    reloaded = load_mesh(next(unzipped.glob("*.obj")))
    original = load_mesh(store.resolve(record.id, record.outputs["original_glb"]))
    assert len(reloaded.slots) == len(original.slots) == 1
    torch.testing.assert_close(torch.from_numpy(original.slots[0].image),
                               torch.from_numpy(load_mesh(box).slots[0].image), rtol=0, atol=1 / 255)


def test_a_stopped_mesh_job_resumes_to_the_straight_result(straight, box, runners, tmp_path, monkeypatch) -> None:
    store = JobStore(tmp_path)
    runner = runners(store, preview_every=3)
    job_id = _mesh_job(store, box)
    real = api.stylize_mesh

    def stop_after_step_2(*args, on_step, **kwargs):
        def step(info: StepInfo) -> None:
            if info.step == 2:
                runner.stop(job_id)
            on_step(info)

        return real(*args, on_step=step, **kwargs)

    monkeypatch.setattr(api, "stylize_mesh", stop_after_step_2)
    runner.submit(job_id)
    stopped = runner.wait(job_id, TIMEOUT)
    assert stopped.status == "stopped" and stopped.resumable and stopped.error is None
    assert stopped.progress.step == 2 and runner.queue_position(job_id) is None
    assert "glb" not in stopped.outputs and "original_glb" in stopped.outputs

    runner.resume(job_id)
    resumed = runner.wait(job_id, TIMEOUT)
    assert resumed.status == "done" and not resumed.resumable and resumed.progress.step == 6
    for ours, reference in zip(_texture_pixels(store, resumed), _texture_pixels(*straight), strict=True):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="only a stopped or failed job"):
        runner.resume(job_id)


def test_a_failed_job_has_a_one_line_error_and_the_next_job_runs(box, runners, tmp_path) -> None:
    store = JobStore(tmp_path)
    broken = _mesh_job(store, box, style=_broken_image)
    following = _image_job(store)
    runner = runners(store)
    runner.submit(broken)
    runner.submit(following)

    failed = runner.wait(broken, TIMEOUT)
    assert failed.status == "failed" and not failed.resumable
    assert failed.error.startswith("inputs/style.png: ") and "\n" not in failed.error
    with pytest.raises(ConfigError, match="before its first checkpoint"):
        runner.resume(broken)
    assert runner.wait(following, TIMEOUT).status == "done"


def test_an_internal_error_points_at_the_log(runners, tmp_path, monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(api, "stylize_image", crash)
    store = JobStore(tmp_path)
    job_id = _image_job(store)
    runner = runners(store)
    runner.submit(job_id)
    record = runner.wait(job_id, TIMEOUT)
    assert record.status == "failed" and record.error == "internal error: boom (details in log.txt)"
    log = (store.folder(job_id) / "log.txt").read_text()
    assert "Traceback" in log and "RuntimeError: boom" in log


def test_queue_positions_progress_and_stopping(runners, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(api, "stylize_image", _endless_run)
    store = JobStore(tmp_path)
    first, second = _image_job(store), _image_job(store)
    runner = runners(store)
    runner.submit(first)
    runner.submit(second)
    _until(lambda: store.get(first).progress.step >= 3)
    assert runner.queue_position(first) == 0 and runner.queue_position(second) == 1
    running = store.get(first)
    assert running.status == "running" and running.progress.total == 1000
    assert running.progress.eta_s is not None and running.progress.eta_s > 0
    assert running.progress.losses == {"style": 2.0, "total": 2.0}
    assert running.progress.phase == "optimising (1000 steps)"
    assert [r.id for r in store.list()] == [second, first]

    runner.stop(second)
    assert store.get(second).status == "stopped" and runner.queue_position(second) is None
    runner.stop(first)
    record = runner.wait(first, TIMEOUT)
    assert record.status == "stopped" and not record.resumable and runner.queue_position(first) is None
    with pytest.raises(ConfigError, match="image jobs start over; run it again"):
        runner.resume(first)


def test_a_reopened_store_stops_the_jobs_of_a_dead_process(tmp_path) -> None:
    store = JobStore(tmp_path)
    ids = [_image_job(store), _mesh_job(store, Path(__file__)), _mesh_job(store, Path(__file__))]
    (store.folder(ids[2]) / "out").mkdir()
    (store.folder(ids[2]) / "out" / "checkpoint.pt").write_bytes(b"a checkpoint")
    for job_id, status in zip(ids, ["running", "stopping", "running"], strict=True):
        path = store.folder(job_id) / "job.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "status": status, "future_field": 1}))
    (store.root / "garbled").mkdir()
    (store.root / "garbled" / "job.json").write_text("{not json")

    reopened = JobStore(tmp_path)
    records = [reopened.get(job_id) for job_id in ids]
    assert [r.status for r in records] == ["stopped"] * 3
    assert [r.resumable for r in records] == [False, False, True]
    assert json.loads((reopened.folder(ids[2]) / "job.json").read_text())["status"] == "stopped"
    assert {r.id for r in reopened.list()} == set(ids)
    with pytest.raises(KeyError):
        reopened.get("garbled")


def test_shutdown_stops_the_running_job_and_a_new_runner_takes_up_the_queue(runners, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(api, "stylize_image", _endless_run)
    store = JobStore(tmp_path)
    first, second = _image_job(store), _image_job(store)
    runner = JobRunner(store)
    runner.start()
    runner.submit(first)
    runner.submit(second)
    _until(lambda: store.get(first).progress.step >= 1)
    runner.shutdown()
    assert store.get(first).status == "stopped" and store.get(second).status == "queued"

    monkeypatch.undo()  # the real image run from here on
    reopened = JobStore(tmp_path)
    record = runners(reopened).wait(second, TIMEOUT)
    assert record.status == "done" and record.outputs == {"image": "out.png", "config": "out.config.toml"}
    assert load_image(reopened.resolve(second, "out.png")).shape == (3, 32, 32)
    assert reopened.resolve(second, "out.config.toml").is_file()
    assert record.progress.step == record.progress.total == 3
    assert reopened.get(first).status == "stopped"


def test_job_paths_cannot_leave_the_job_folder(tmp_path) -> None:
    store = JobStore(tmp_path / "data")
    job_id, folder = store.new_folder()
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    (folder / "inputs" / "link.png").symlink_to(outside)
    (folder / "inputs" / "inside.png").symlink_to(folder / "inputs" / "a.png")

    assert store.resolve(job_id, "inputs/inside.png") == folder / "inputs" / "a.png"
    for bad in ("../x", "inputs/../../x", "/etc/passwd", "inputs/link.png", ""):
        with pytest.raises(ValueError):
            store.resolve(job_id, bad)
    with pytest.raises(ValueError, match="leads out of the job folder"):
        store.create(job_id, "image", {"content": "inputs/link.png", "styles": []}, {})
    with pytest.raises(ValueError, match="may not set output"):
        store.create(job_id, "image", {"content": "inputs/a.png"}, {"output": "/tmp/x.png"})
    for bad_id in ("../data", "nope", ""):
        with pytest.raises(KeyError):
            store.folder(bad_id)


def test_a_mesh_jobs_page_shows_its_held_out_distances(straight) -> None:
    store, record = straight
    view = view_job(store, JobRunner(store), record.id)
    # the run's check (on by default) before its first step and after its last, three distances each
    assert sorted({(step, name) for step, name, _ in view.heldout}) == [
        (step, name) for step in (0, 6) for name in ("content", "gram", "nnfm")]
    assert all(math.isfinite(value) for _, _, value in view.heldout)
    assert '<div class="restyle-heldout">held-out gram ' in view.summary_html and "→" in view.summary_html
