"""The step of an image run under its learning-rate schedule, and the one loop with its intermediate images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restyle.backbones.precision import Precision
from restyle.errors import ConfigError, DivergedError
from restyle.jobs.image.config import ImageConfig
from restyle.jobs.image.steps import Evaluation, PixelOptimizer, ScheduledStep, optimise_image
from restyle.params.pixels import PixelImage
from restyle.run.loop import MetricsLog, StepInfo
from restyle.run.precision import LossScaler
from restyle.sections import OptimConfig


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def _evaluation(value: float) -> Evaluation:
    return Evaluation({"style": torch.tensor(value)}, torch.tensor(value))


def test_each_step_gets_its_scheduled_rate_before_it_is_taken() -> None:
    optim, optimizer = OptimConfig(lr=1.0, lr_decay=0.5, lr_decay_every=2, iters=5), _optimizer()
    seen: list[tuple[int, float]] = []

    def take(step: int) -> Evaluation:
        seen.append((step, optimizer.param_groups[0]["lr"]))
        return _evaluation(float(step))

    step = ScheduledStep(optim, optimizer, take)
    infos = [step() for _ in range(5)]
    assert seen == [(0, 1.0), (1, 1.0), (2, 0.5), (3, 0.5), (4, 0.25)]
    assert infos[2] == StepInfo(3, 5, 0.5, {"style": 2.0, "total": 2.0})


def _config(tmp_path: Path, iters: int, save_every: int) -> ImageConfig:
    return ImageConfig(output=tmp_path / "out.png", save_every=save_every, optim=OptimConfig(iters=iters))


def test_intermediates_are_saved_every_n_steps_before_the_step_is_reported(tmp_path) -> None:
    events: list[str] = []
    step = ScheduledStep(OptimConfig(lr=1.0, iters=5), _optimizer(), lambda n: _evaluation(1.0))

    def save(path: Path) -> None:
        events.append(f"save {path.name}")

    intermediates = optimise_image(step, _config(tmp_path, 5, 2), MetricsLog(), save,
                                   lambda info: events.append(f"step {info.step}"))
    assert intermediates == (tmp_path / "out.00002.png", tmp_path / "out.00004.png")
    assert events == ["step 1", "save out.00002.png", "step 2", "step 3", "save out.00004.png", "step 4", "step 5"]


def test_a_non_finite_step_is_neither_logged_nor_saved(tmp_path) -> None:
    saved: list[Path] = []
    step = ScheduledStep(OptimConfig(lr=1.0, iters=4), _optimizer(),
                         lambda n: _evaluation(float("nan") if n == 1 else 1.0))
    metrics = MetricsLog()
    with pytest.raises(DivergedError, match="step 2"):
        optimise_image(step, _config(tmp_path, 4, 1), metrics, saved.append, None)
    assert [entry["step"] for entry in metrics.entries] == [1]
    assert saved == [tmp_path / "out.00001.png"]


FP16_ON_CPU = Precision("fp16", "cpu")  # the scaler's logic on CPU tensors; a run's fp16 is CUDA only


def _pixel_step(scaler: LossScaler | None, poison: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One Adam step of a pixel image towards a target: (pixels before, after)."""
    generator = torch.Generator().manual_seed(0)
    image, target = PixelImage(torch.rand(3, 4, 4, generator=generator)), torch.rand(1, 3, 4, 4, generator=generator)
    optimizer = PixelOptimizer("adam", image, 0.1, scaler)

    def terms(pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        if poison:  # a finite loss whose gradient overflowed, as fp16's backward can give
            pixels.register_hook(lambda grad: torch.full_like(grad, float("inf")))
        return {"style": ((pixels - target) ** 2).sum()}

    before = image.pixels.detach().clone()
    optimizer.step(terms)
    return before, image.pixels.detach().clone()


def test_an_fp16_pixel_step_is_the_plain_step_and_an_overflow_moves_nothing() -> None:
    _, plain = _pixel_step(None)
    _, scaled = _pixel_step(LossScaler(FP16_ON_CPU))
    torch.testing.assert_close(scaled, plain)
    before, after = _pixel_step(LossScaler(FP16_ON_CPU), poison=True)
    assert torch.equal(before, after)


def test_lbfgs_is_refused_under_fp16_in_one_line() -> None:
    with pytest.raises(ConfigError, match="lbfgs runs in fp32 or bf16"):
        PixelOptimizer("lbfgs", PixelImage(torch.rand(3, 4, 4)), 1.0, LossScaler(FP16_ON_CPU))
