"""The mesh job's training views and texel coverage: fresh cameras every step, reproducible and resumable, and
coverage that accumulates the texels the views have read, inside the UV islands."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mesh_job_fixtures import PATCH, mesh_job, tiny

from restyle.io.images import save_image
from restyle.jobs.mesh.run import MeshConfig, MeshJob
from restyle.render.views import FreshViews, GBufferCache

FRESH = tiny(render={"view_pool": 0}, style=PATCH, optim={"iters": 5},
             palette={"source": "#ff0000,#0000ff", "weight": 1.0}, outputs={"checkpoint_every": 0})


@pytest.fixture
def style(tmp_path: Path) -> Path:
    """Diagonal stripes: this module's own image, in place of conftest's vertical ones."""
    ramp = torch.arange(64.0)
    stripes = (((ramp[:, None] + ramp[None, :]) // 5) % 2).float()
    path = tmp_path / "style.png"
    save_image(torch.stack([stripes, 0.3 * stripes, 1 - stripes]), path)
    return path


def _record_cameras(job: MeshJob) -> list[torch.Tensor]:
    """Make ``job`` note the camera transforms ``[B,4,4]`` of every batch of views it draws."""
    seen: list[torch.Tensor] = []
    draw = job.views.draw

    def recording(n: int):
        views = draw(n)
        seen.append(views.cameras.world_to_view.clone())
        return views

    job.views.draw = recording
    return seen


def test_fresh_views_are_the_default_new_every_step_and_reproducible(box, style, tmp_path) -> None:
    assert MeshConfig().render.view_pool == 0
    job = mesh_job(FRESH, box, [style], tmp_path / "out")
    assert isinstance(job.views, FreshViews)
    first = _record_cameras(job)
    job.step()
    job.step()
    assert not torch.allclose(first[0], first[1])  # two steps, two different sets of cameras
    again = mesh_job(FRESH, box, [style], tmp_path / "out")
    second = _record_cameras(again)
    again.step()
    again.step()
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])  # same seed, same cameras


def test_a_pool_size_keeps_a_pool(box, style, tmp_path) -> None:
    assert isinstance(mesh_job(FRESH, box, [style], tmp_path / "out", render={"view_pool": 3}).views, GBufferCache)


def test_coverage_grows_over_steps_and_stays_inside_the_islands(box, style, tmp_path) -> None:
    # texels smaller than pixels
    job = mesh_job(FRESH, box, [style], tmp_path / "out", render={"texture_size": 256, "views_per_step": 1})
    assert all(not covered.any() for covered in job.coverage)
    job.step()
    after_one = job.coverage[0].clone()
    assert after_one.any()
    assert not (after_one & ~job.islands[0]).any()
    # narrow the islands to the left half: texels outside them are never covered, whatever the views read
    job.islands = [torch.zeros_like(island) for island in job.islands]
    job.islands[0][:, :128] = True
    for _ in range(4):
        job.step()
    grown = job.coverage[0]
    assert torch.equal(grown & after_one, after_one)  # nothing is forgotten
    assert grown[:, :128].sum() > after_one[:, :128].sum()  # new views add texels
    assert torch.equal(grown[:, 128:], after_one[:, 128:])  # outside the islands nothing was added


def test_a_step_cut_short_is_redone_exactly_on_resume(box, style, tmp_path) -> None:
    straight = mesh_job(FRESH, box, [style], tmp_path / "out")
    for _ in range(5):
        straight.step()

    cut = mesh_job(FRESH, box, [style], tmp_path / "out")
    for _ in range(2):
        cut.step()
    objective = cut.style_objective

    def interrupt(features, out, cameras):
        objective(features, out, cameras)  # the views were drawn and rendered, their texels added to the coverage
        raise KeyboardInterrupt

    cut.style_objective = interrupt
    with pytest.raises(KeyboardInterrupt):
        cut.step()
    path = tmp_path / "checkpoint.pt"
    torch.save(cut.state_dict(), path)

    resumed = mesh_job(FRESH, box, [style], tmp_path / "out")
    resumed.load_state_dict(torch.load(path, weights_only=False))
    assert resumed.step_count == 2
    while resumed.step_count < 5:
        resumed.step()
    for a, b in zip(straight.textures(), resumed.textures(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    for a, b in zip(straight.coverage, resumed.coverage, strict=True):
        assert torch.equal(a, b)
