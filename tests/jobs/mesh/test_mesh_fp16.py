"""fp16's gradient scaling in the mesh job: every backward of a step scaled, the step skipped (not diverged) when
its gradients overflow, and the scale kept in the checkpoint. On the CPU the job's scaler is swapped for an enabled
one (torch's GradScaler runs on CPU tensors; a run's fp16 is CUDA only); the CUDA run itself is marked gpu."""

from __future__ import annotations

import pytest
import torch
from mesh_job_fixtures import PATCH, TINY, merge, mesh_job, tiny

from restyle.api import stylize_image, stylize_mesh
from restyle.backbones.precision import Precision
from restyle.configs import load_toml
from restyle.jobs.mesh import checkpoint as mesh_checkpoint
from restyle.jobs.mesh import step as mesh_step
from restyle.run.precision import LossScaler

FP16_ON_CPU = Precision("fp16", "cpu")


def _job(box, style, folder):
    job = mesh_job(tiny(style=PATCH), box, [style], folder)
    job.output.mkdir(parents=True, exist_ok=True)
    return job


def _residuals(job) -> list[torch.Tensor]:
    return [p.detach().clone() for p in job.params.parameters()]


def test_a_scaled_step_moves_the_texture_as_the_plain_step_does(box, style, tmp_path) -> None:
    plain, scaled = _job(box, style, tmp_path / "plain"), _job(box, style, tmp_path / "scaled")
    scaled.scaler = LossScaler(FP16_ON_CPU)
    for job in (plain, scaled):
        torch.manual_seed(0)
        mesh_step.take_step(job)
    for a, b in zip(_residuals(plain), _residuals(scaled), strict=True):
        torch.testing.assert_close(a, b)
    assert any(bool(r.abs().sum() > 0) for r in _residuals(scaled))  # the step did move the texture


def test_an_overflowing_step_is_skipped_counted_and_not_a_divergence(box, style, tmp_path) -> None:
    job = _job(box, style, tmp_path / "out")
    job.scaler = LossScaler(FP16_ON_CPU)
    backward = job.scaler.backward

    def overflowing(loss: torch.Tensor) -> None:  # an fp16 backward whose gradient overflowed
        backward(loss)
        next(job.params.parameters()).grad.view(-1)[0] = float("inf")

    job.scaler.backward = overflowing
    before = _residuals(job)
    info = mesh_step.take_step(job)  # no DivergedError: the loss was finite
    assert info.step == 1 and job.step_count == 1
    for a, b in zip(before, _residuals(job), strict=True):
        assert torch.equal(a, b)
    assert job.scaler.skipped == 1 and job.state_dict()["scaler"]["scale"] == 32768.0

    job.save_checkpoint()
    again = _job(box, style, tmp_path / "out")
    again.scaler = LossScaler(FP16_ON_CPU)
    mesh_checkpoint.resume(again, again.provenance())
    assert again.scaler.state_dict() == job.scaler.state_dict() and again.step_count == 1


def test_an_fp32_checkpoint_holds_no_scale(box, style, tmp_path) -> None:
    job = _job(box, style, tmp_path / "out")
    mesh_step.take_step(job)
    assert job.state_dict()["scaler"] == {} and not job.scaler.enabled


@pytest.mark.gpu
def test_fp16_runs_on_cuda_with_a_scaled_backward(box, style, tmp_path, random_weights_dir) -> None:
    """The real thing: VGG16 (random weights, published format) under float16 autocast on the GPU, for a mesh run
    (resumed once) and an image run."""
    options = merge(TINY, {"style": {"backbone": "vgg16"}, "pretrained": {"weights_dir": random_weights_dir},
                           "optim": {"precision": "fp16", "iters": 3}, "device": "cuda"})
    out = tmp_path / "mesh"
    stylize_mesh(box, [style], out, preset="none", **options)
    assert load_toml(out / "config.toml")["optim"]["precision"] == "fp16"
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["state"]
    assert saved["scaler"]["scale"] > 0 and saved["step"] == 3
    resumed = stylize_mesh(resume=out, optim={"iters": 5})
    assert resumed.steps == 5 and all(bool(torch.isfinite(t).all()) for t in resumed.textures)
    image = stylize_image(style, [style], tmp_path / "out.png", preset="none", size=64, device="cuda",
                          style={"backbone": "vgg16"}, pretrained={"weights_dir": random_weights_dir},
                          optim={"precision": "fp16", "iters": 3})
    assert bool(torch.isfinite(image.image).all())
