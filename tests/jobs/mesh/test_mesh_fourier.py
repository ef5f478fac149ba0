"""`restyle mesh` with the Fourier texture parameterisation (``texture.parameterisation``): a tiny run that
changes the texture and keeps it in range, resume equal to an uninterrupted run, and the options it refuses."""

from __future__ import annotations

import pytest
import torch
from mesh_job_fixtures import PATCH, TINY, merge, mesh_job

from restyle.api import stylize_mesh
from restyle.errors import ConfigError
from restyle.io.images import load_image
from restyle.jobs.mesh.run import Interrupted
from restyle.params.fourier import FourierTexture

FOURIER = {"parameterisation": "fourier"}


@pytest.mark.parametrize("parameterisation", ["fourier", "fourier-rgb"])
def test_a_fourier_run_changes_the_texture_and_keeps_it_in_range(box, style, tmp_path, parameterisation) -> None:
    job = mesh_job(TINY, box, [style], tmp_path / "out", style=PATCH, texture={"parameterisation": parameterisation},
                   optim={"lr": 0.5})  # big steps, to push texels past 0 and 1
    assert isinstance(job.params[0], FourierTexture)
    torch.testing.assert_close(job.textures()[0], job.originals()[0], atol=0, rtol=0)  # zero at start
    for _ in range(3):
        job.step()
    total = job.params[0].original + job.params[0].residual
    assert total.min() >= -1e-5 and total.max() <= 1 + 1e-5
    assert (total <= 1e-5).any() or (total >= 1 - 1e-5).any()  # the projection had something to do
    assert job.params[0].residual.abs().max() > 0.2


def test_a_fourier_run_interrupted_then_resumed_equals_uninterrupted(box, style, tmp_path) -> None:
    options = merge(TINY, {"style": PATCH, "texture": FOURIER, "optim": {"iters": 5, "log_every": 1},
                           "outputs": {"checkpoint_every": 100}})
    straight = stylize_mesh(box, [style], tmp_path / "straight", **options)

    def stop_at_3(info) -> None:
        if info.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="--resume"):
        stylize_mesh(box, [style], tmp_path / "cut", on_step=stop_at_3, **options)
    resumed = stylize_mesh(resume=tmp_path / "cut")

    assert resumed.steps == 5 and resumed.config.texture.parameterisation == "fourier"
    for a, b in zip(straight.textures, resumed.textures, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    residual = load_image(tmp_path / "straight" / "residual_0.png") - 0.5  # 0.5 + r/2 on disk
    assert residual.abs().max() > 4 / 255  # the run did move the texture


def test_residual_levels_are_refused_with_fourier(box, style, tmp_path) -> None:
    with pytest.raises(ConfigError, match="residual_levels 3 is a pixels option"):
        mesh_job(TINY, box, [style], tmp_path / "out", texture={**FOURIER, "residual_levels": 3})
