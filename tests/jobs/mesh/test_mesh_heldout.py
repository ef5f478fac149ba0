"""A mesh run's held-out check (restyle.jobs.mesh.heldout) on tiny runs of the box with the real VGG19: its
entries in metrics.jsonl at the right steps, finite, off at 0, kept by a resume; the run's own VGG19 reused; the
views the quality benchmark renders unchanged; the export's time measured; the run's seconds per step kept."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from mesh_job_fixtures import PATCH, mesh_job, tiny

from restyle.api import stylize_mesh
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.io.meshes import load_mesh
from restyle.jobs.mesh.heldout import HeldOutMeasure, evaluation_network, held_out_views
from restyle.jobs.mesh.outputs import export_seconds
from restyle.jobs.mesh.run import Interrupted
from restyle.render.geometry import geometry_and_textures
from restyle.render.raster import rasterize
from restyle.render.shading import render
from restyle.render.views import ViewConfig, ViewSampler
from restyle.run.heldout import heldout_values, is_loss_entry
from restyle.run.timings import TIMINGS_ENV, TimingKey, step_estimate, timing_key

# the check at a small size: 2 views of 48 px
CHECKED = {"eval_every": 2, "eval_views": 2, "eval_size": 48, "checkpoint_every": 100}


def _entries(out: Path) -> list[dict]:
    text = (out / "metrics.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text
    return [json.loads(line) for line in text.splitlines()]


def _heldout(out: Path) -> list[tuple[int, dict[str, float]]]:
    return [(entry["step"], heldout_values(entry)) for entry in _entries(out) if not is_loss_entry(entry)]


def test_the_check_is_logged_before_the_first_step_every_n_steps_and_after_the_last(box, style, tmp_path) -> None:
    out = tmp_path / "out"
    infos = []
    stylize_mesh(box, [style], out, on_step=infos.append,
                 **tiny(style=PATCH, optim={"iters": 5}, outputs=CHECKED, texture={"recolour": "none"}))
    measured = _heldout(out)
    assert [step for step, _ in measured] == [0, 2, 4, 5]
    assert [entry["step"] for entry in _entries(out) if is_loss_entry(entry)] == [1, 2, 3, 4, 5]
    for _, values in measured:
        assert set(values) == {"gram", "nnfm", "content"} and all(math.isfinite(v) for v in values.values())
    start = measured[0][1]
    assert start["content"] == 0.0  # the texture the run starts from is the original (no recolour here)
    assert measured[-1][1]["content"] > 0.0  # and moves away from it
    assert infos[-1].heldout.first == start and infos[-1].heldout.latest == measured[-1][1]
    assert infos[-1].eta_s is not None and infos[-1].eta_s > 0  # the export is still to come


def test_no_check_and_no_entries_when_eval_every_is_0(box, style, tmp_path) -> None:
    out = tmp_path / "out"
    infos = []
    stylize_mesh(box, [style], out, on_step=infos.append,
                 **tiny(style=PATCH, optim={"iters": 3}, outputs={**CHECKED, "eval_every": 0}))
    assert all(is_loss_entry(entry) for entry in _entries(out)) and len(_entries(out)) == 3
    assert all(info.heldout is None for info in infos)


def test_a_resumed_run_keeps_the_measurements_and_ends_with_the_straight_runs(box, style, tmp_path) -> None:
    options = tiny(style=PATCH, optim={"iters": 5}, outputs=CHECKED)
    stylize_mesh(box, [style], tmp_path / "straight", **options)

    def stop_at_3(info) -> None:
        if info.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        stylize_mesh(box, [style], tmp_path / "cut", on_step=stop_at_3, **options)
    assert [step for step, _ in _heldout(tmp_path / "cut")] == [0, 2]
    stylize_mesh(resume=tmp_path / "cut")
    straight, resumed = _heldout(tmp_path / "straight"), _heldout(tmp_path / "cut")
    assert [step for step, _ in resumed] == [0, 2, 4, 5]  # not measured again at the resumed start
    for (_, one), (_, two) in zip(straight, resumed, strict=True):
        assert one == pytest.approx(two, rel=1e-5, abs=1e-7)


def test_a_run_on_vgg19_measures_with_its_own_network_and_others_load_the_shipped_one(box, style, tmp_path) -> None:
    own = mesh_job(tiny(style={"backbone": "vgg19"}), box, [style], tmp_path / "a")
    assert evaluation_network(own) is own.nets.style
    patch = mesh_job(tiny(style=PATCH), box, [style], tmp_path / "b")
    loaded = evaluation_network(patch)
    assert isinstance(loaded, VGG19Backbone) and loaded is not patch.nets.style


def test_a_run_gives_the_same_texture_with_the_check_or_without(box, style, tmp_path) -> None:
    options = tiny(style=PATCH, optim={"iters": 3})
    checked = stylize_mesh(box, [style], tmp_path / "a", **{**options, "outputs": {**options["outputs"], **CHECKED,
                                                                                    "eval_every": 1}})
    plain = stylize_mesh(box, [style], tmp_path / "b", **options)
    for one, two in zip(checked.textures, plain.textures, strict=True):
        assert torch.equal(one, two)


def test_the_measurement_does_not_touch_the_runs_random_state(box, style, tmp_path) -> None:
    job = mesh_job(tiny(style=PATCH, outputs=CHECKED), box, [style], tmp_path / "a")
    before = (torch.get_rng_state(), job.sampler.state_dict()["generator"], job.style_pick.getstate())
    HeldOutMeasure(job).measure()
    after = (torch.get_rng_state(), job.sampler.state_dict()["generator"], job.style_pick.getstate())
    assert torch.equal(before[0], after[0]) and torch.equal(before[1], after[1]) and before[2] == after[2]


def test_the_benchmarks_held_out_renders_are_what_they_were(box) -> None:
    """``benchmarks/_quality_mesh.py`` now renders through ``held_out_views``: the same cameras, lights and pixels
    as its own code before (seed + 1000, one rasterisation at 2x, the original's textures, black background)."""
    views, seed, count, size = ViewConfig(), 7, 3, 40
    geometry, textures, wraps = geometry_and_textures(load_mesh(box))
    sampler = ViewSampler(geometry, views, seed=seed + 1000)
    cameras, lights = sampler.sample(count, width=size, height=size)
    before = render(geometry, rasterize(geometry, cameras.resized(2 * size, 2 * size)), cameras, textures, wraps,
                    lights, supersample=2)
    now = held_out_views(geometry, views, seed=seed, count=count, size=size).render(geometry, textures, wraps, None)
    assert torch.equal(before.images, now.images) and torch.equal(before.mask, now.mask)


def test_the_export_time_is_measured_before_the_run(box, style, tmp_path) -> None:
    job = mesh_job(tiny(style=PATCH, outputs={"turntable": "gif"}), box, [style], tmp_path / "a")
    seconds = export_seconds(job)
    assert math.isfinite(seconds) and seconds > 0


def test_a_run_keeps_its_seconds_per_step_for_this_machine(box, style, tmp_path, monkeypatch) -> None:
    timings = tmp_path / "timings.json"
    monkeypatch.setenv(TIMINGS_ENV, str(timings))
    config = stylize_mesh(box, [style], tmp_path / "out", **tiny(style=PATCH, optim={"iters": 6})).config
    key = timing_key(config.device, config.style, config.render, config.optim)
    assert key == TimingKey("cpu", "patch", 64, 2, config.optim.precision)
    estimate = step_estimate(key)
    assert estimate is not None and estimate.measured and estimate.step_s > 0
    assert json.loads(timings.read_text())["mesh_steps"][0]["steps"] == 6
