"""Runs that go wrong while running: a NaN loss stops the run naming the term and the step (exit 3) and keeps the
last good checkpoint; metrics.jsonl is strict JSON lines, appended as the run goes; plain progress lines when
the output is not a terminal; a GLB named .obj is named for what it is."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from restyle import cli
from restyle.api import stylize_image, stylize_mesh
from restyle.cli.progress import plain_progress
from restyle.errors import DivergedError, InputError
from restyle.io.meshes import load_mesh
from restyle.jobs.image import run as image_pipeline
from restyle.jobs.mesh import step as mesh_step
from restyle.run.loop import MetricsLog, StepInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs" / "mesh"))
from mesh_job_fixtures import PATCH, mesh_job, tiny  # noqa: E402

TINY_MESH = tiny(style=PATCH, optim={"iters": 5})


def _nan_from_step(monkeypatch, owner: object, name: str, bad_step: int) -> None:
    """Make the style term of ``owner.name`` NaN from the ``bad_step``-th call (1-based) on."""
    original = getattr(owner, name)
    calls = [0]

    def patched(*args, **kwargs):
        terms = original(*args, **kwargs)
        calls[0] += 1
        if calls[0] >= bad_step:
            terms["style"] = terms["style"] * float("nan")
        return terms

    monkeypatch.setattr(owner, name, patched)


def _metrics(path: Path) -> list[dict]:
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    return [json.loads(line) for line in text.splitlines()]


def test_image_nan_loss_stops_naming_term_and_step(monkeypatch, images, tmp_path) -> None:
    _nan_from_step(monkeypatch, image_pipeline, "_loss_terms", 3)
    content, style = images
    out = tmp_path / "o.png"
    with pytest.raises(DivergedError, match=r"step 3: loss term 'style' is nan"):
        stylize_image(content, [style], out, size=48, style={"backbone": "patch"}, optim={"iters": 5})
    assert not out.exists()
    assert [e["step"] for e in _metrics(tmp_path / "o.metrics.jsonl")] == [1, 2]


def test_mesh_nan_loss_keeps_the_last_good_checkpoint(monkeypatch, assets, images, tmp_path) -> None:
    _nan_from_step(monkeypatch, mesh_step, "view_terms", 3)  # one pass per step
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    out = tmp_path / "run"
    with pytest.raises(DivergedError, match=r"step 3: loss term 'style' is nan"):
        stylize_mesh(box, [images[1]], out, **TINY_MESH)
    assert [e["step"] for e in _metrics(out / "metrics.jsonl")] == [1, 2]
    saved = torch.load(out / "checkpoint.pt", weights_only=False)
    state = saved.get("state", saved)  # the run's state, beside its provenance
    assert state["step"] == 2
    assert all(torch.isfinite(p).all() for p in state["params"].values())


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_mesh_never_checkpoints_non_finite_textures(assets, images, tmp_path, poison) -> None:
    """A finite loss with an infinite gradient still poisons the textures: the guard in save_checkpoint must
    refuse that state and keep the previous, good checkpoint byte for byte."""
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    job = mesh_job(TINY_MESH, box, [images[1]], tmp_path / "run")
    job.output.mkdir()
    job.step()
    good = job.save_checkpoint().read_bytes()
    job.step()
    with torch.no_grad():
        next(iter(job.params.parameters())).view(-1)[0] = poison
    with pytest.raises(DivergedError, match=r"diverged at step 2: the textures hold NaN or infinite values"):
        job.save_checkpoint()
    assert (job.output / "checkpoint.pt").read_bytes() == good
    assert [p.name for p in job.output.iterdir()] == ["checkpoint.pt"]  # no temporary left behind


def test_cli_reports_divergence_in_one_line_with_exit_3(monkeypatch, capsys, images, tmp_path) -> None:
    _nan_from_step(monkeypatch, image_pipeline, "_loss_terms", 1)
    content, style = images
    monkeypatch.setattr(sys, "argv", ["restyle", "image", str(content), "-s", str(style), "-o",
                                      str(tmp_path / "o.png"), "--size", "48", "--backbone", "patch", "-q"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 3
    assert len(err.strip().splitlines()) == 1 and "diverged at step 1" in err and "Traceback" not in err


def test_metrics_are_strict_json_and_flushed_per_step(tmp_path) -> None:
    log, path = MetricsLog(), tmp_path / "m.jsonl"
    log.open(path)
    log.record(StepInfo(1, 3, 0.1, {"style": 1.0, "total": 1.0}), every=1)
    assert [e["step"] for e in _metrics(path)] == [1]  # readable while the run goes on
    log.record(StepInfo(2, 3, 0.1, {"style": float("inf"), "total": float("nan")}), every=1)
    assert _metrics(path)[1]["style"] is None and _metrics(path)[1]["total"] is None
    log.write(path)
    assert len(_metrics(path)) == 2


def test_plain_progress_lines_when_not_a_terminal(monkeypatch, capsys, images, tmp_path) -> None:
    content, style = images
    monkeypatch.setattr(sys, "argv", ["restyle", "image", str(content), "-s", str(style), "-o",
                                      str(tmp_path / "o.png"), "--size", "48", "--backbone", "patch",
                                      "--iters", "3"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 0
    err = capsys.readouterr().err
    assert "restyle image: step 3/3  eta 0m00s  style" in err
    assert "\x1b" not in err  # no terminal control codes in a log


def test_plain_progress_prints_every_interval_and_the_last_step(capsys) -> None:
    on_step = plain_progress("restyle mesh", every_s=3600)
    for step in range(1, 6):
        on_step(StepInfo(step, 5, 0.1, {"total": 1.0}))
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split()[3] for line in lines] == ["1/5", "5/5"]


def test_glb_named_obj_is_named_for_what_it_is(assets, tmp_path) -> None:
    fake = tmp_path / "box.obj"
    shutil.copy(assets / "meshes" / "box_textured" / "BoxTextured.glb", fake)
    with pytest.raises(InputError, match=r"box.obj: this is a binary glTF \(GLB\) file, not an OBJ; rename it to "
                                         r"\.glb"):
        load_mesh(fake)
