"""``restyle mesh`` with depth: the style loss weighted by the renderer's exact depth and the view angle, styles
blended by depth (one loss per mask), and bad depth options refused before anything is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mesh_job_fixtures import NO_PALETTE, PATCH, mesh_job, tiny

from restyle.io.images import save_image
from restyle.jobs.mesh.run import MeshJob
from restyle.run.heldout import is_loss_entry

SMALL = tiny(render={"view_pool": 0}, style=PATCH, palette=NO_PALETTE, outputs={"checkpoint_every": 0})


@pytest.fixture
def styles(tmp_path: Path) -> tuple[Path, Path]:
    red, blue = torch.zeros(3, 64, 64), torch.zeros(3, 64, 64)
    red[0], blue[2] = 1.0, 1.0
    paths = tmp_path / "red.png", tmp_path / "blue.png"
    for image, path in zip((red, blue), paths, strict=True):
        save_image(image * torch.rand(1, 64, 64), path)
    return paths


def _render_step(job: MeshJob):
    cameras, lights, gbuffer = job.views.sample(2)
    return job.render_batch(job.textures(), cameras, lights, gbuffer), cameras


def test_near_and_far_weights_split_the_asset_and_leave_the_background_out(box, styles, tmp_path) -> None:
    job = mesh_job(SMALL, box, styles, tmp_path / "out", depth={"style_masks": ["near", "far"]})
    out, cameras = _render_step(job)
    near, far = job.style_objective.pixel_weights(out, cameras)
    torch.testing.assert_close(near + far, out.mask)  # complementary masks share each pixel of the asset
    assert float(near[out.mask == 0].abs().max()) == 0 and float(far[out.mask == 0].abs().max()) == 0
    covered = out.mask[:, 0] > 0.99
    depth = out.depth[:, 0][covered]
    nearest, farthest = depth.argmin(), depth.argmax()
    assert near[:, 0][covered][nearest] > 0.99 and far[:, 0][covered][farthest] > 0.99


def test_angle_weights_fall_towards_grazing_views(box, styles, tmp_path) -> None:
    job = mesh_job(SMALL, box, [styles[0]], tmp_path / "out", depth={"angle_power": 2.0})
    out, cameras = _render_step(job)
    (weight,) = job.style_objective.pixel_weights(out, cameras)
    covered = out.mask > 0.99
    assert float(weight[out.mask == 0].abs().max()) == 0
    assert float(weight[covered].max()) <= 1.0 and float(weight[covered].min()) < 0.9  # some faces are seen aslant
    assert job.style_objective.masked is not None  # the weighted path, not the plain one


def test_plain_runs_keep_the_papers_unweighted_loss(box, styles, tmp_path) -> None:
    job = mesh_job(SMALL, box, styles, tmp_path / "out")
    assert job.style_objective.masked is None and job.style_objective.plain is not None


def test_a_blended_mesh_run_finishes_and_records_its_masks(run_cli, box, styles, tmp_path) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli("mesh", box, "--style-near", styles[0], "--style-far", styles[1], "--angle-weight", "1",
                           "-o", out, "-b", "patch", "--iters", "2", "--texture-size", "32", "--render-size", "64",
                           "--views-per-step", "2", "--palette", "none", "--turntable", "none", "-q")
    assert code == 0, err
    config = (out / "config.toml").read_text()
    assert 'style_masks = [\n    "near",\n    "far",\n]' in config and "angle_power = 1.0" in config
    losses = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = [entry for entry in losses if is_loss_entry(entry)][-1]  # the held-out check's entries left out
    assert last["style"] > 0


@pytest.mark.parametrize("extra, needle", [
    (("--style-mask", "image:mask.png"), "image: masks are for photos"),
    (("--style-mask", "far", "--depth-mode", "world"), "depth mode world needs --depth-range NEAR FAR"),
    (("--style-mask", "far", "--depth-mode", "world", "--depth-range", "3", "2"), "needs NEAR < FAR"),
])
def test_bad_mesh_depth_options_fail_in_one_line(run_cli, box, styles, tmp_path, extra, needle) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli("mesh", box, "-s", styles[0], "-o", out, "-b", "patch", "--iters", "1", "-q", *extra)
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not out.exists()


def test_preview_every_writes_the_current_texture_while_the_run_goes(box, styles, tmp_path) -> None:
    """outputs.preview_every: preview.png appears during the run (the web app polls it) and follows the texture."""
    from restyle.api import stylize_mesh

    out = tmp_path / "run"
    previews: list[bytes | None] = []

    def look(info) -> None:
        path = out / "preview.png"
        previews.append(path.read_bytes() if path.exists() else None)

    options = {**SMALL, "optim": {"iters": 4}, "outputs": {"checkpoint_every": 0, "preview_every": 2}}
    stylize_mesh(box, [styles[0]], out, on_step=look, **options)
    assert previews[0] is None and previews[1] is not None
    assert previews[2] == previews[1] and previews[3] != previews[1]  # rewritten at step 4, with a new texture
