"""The optimisation steps of ``restyle image``: Adam or L-BFGS on the pixels (:class:`PixelOptimizer`), the
learning-rate schedule around any step (:class:`ScheduledStep`, the text run's too), and the one loop with its
intermediate images (:func:`optimise_image`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from restyle.backbones.precision import FP32
from restyle.errors import ConfigError
from restyle.jobs.image.config import ImageConfig
from restyle.objectives.registry import lookup
from restyle.params.pixels import PixelImage
from restyle.run.loop import (
    Every,
    MetricsLog,
    PhaseCallback,
    StepCallback,
    StepInfo,
    as_floats,
    learning_rate,
    optimise,
    set_learning_rate,
    weighted_total,
)
from restyle.run.precision import LossScaler
from restyle.sections import OptimConfig

LossTerms = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # current image [1,3,H,W] -> weighted loss terms

# Adam 0.05 per step on 0..1 pixels: on the default Gram/VGG19 run (cat x Starry Night, 256 px) it reaches
# pastiche's 60-step L-BFGS style distance in ~15 steps, 0.02 in ~25 (benchmarks/_quality_image.py).
DEFAULT_LEARNING_RATES = {"adam": 0.05, "lbfgs": 1.0}
_TINY_LOSS = 1e-12  # a first loss of zero leaves nothing to optimise; this only avoids dividing by it


@dataclass(frozen=True)
class Evaluation:
    """The loss terms at the image a step started from (what the step's gradient came from)."""

    terms: dict[str, torch.Tensor]
    total: torch.Tensor


def _adam(parameters: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(parameters, lr=lr)


def _lbfgs(parameters: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Optimizer:
    # max_iter=1 and no line search: each step evaluates the loss exactly once (as in pastiche and neural-style),
    # so ``iters`` buys the same number of forward/backward passes whichever optimizer runs. A strong-Wolfe line
    # search spends a variable number of evaluations per step; at equal evaluations it ended higher on VGG19 Gram.
    return torch.optim.LBFGS(parameters, lr=lr, max_iter=1)


@dataclass(frozen=True)
class OptimizerEntry:
    build: Callable[[Iterable[torch.nn.Parameter], float], torch.optim.Optimizer]
    # Zero the gradient of pixels held at 0 or 1 that the descent direction would push further out (projected
    # gradient, the active-set idea of L-BFGS-B). Pixels are clamped to 0..1 after every step for both
    # optimizers; for L-BFGS that alone moves pixels behind its back, so its curvature pairs describe steps that
    # were not taken: on a box-constrained quadratic it reached the best clamped loss, then rose 50x. With the
    # bound pixels frozen it stays there. The alternatives did worse on quick checks (48-96 px, 30-100 steps):
    # free pixels, clamped only at the output (as in pastiche), drifted out of range and blew a patch-NNFM run
    # up 25x; clamping inside the loss left pixels that one large step pushed out with zero gradient for good
    # (98% of a synthetic Gram run). Adam keeps its plain update, so its runs are unchanged.
    freeze_bound_pixels: bool
    # Divide the loss by its first value (a constant) before the optimizer sees it. L-BFGS's float32 curvature
    # products overflow on losses of 1e14 (plain VGG Gram losses reach that; the run went to NaN) and its
    # tolerances are absolute; its steps do not otherwise depend on the loss scale. Adam is scale-free already.
    normalise_loss: bool


OPTIMIZERS: dict[str, OptimizerEntry] = {
    "adam": OptimizerEntry(_adam, freeze_bound_pixels=False, normalise_loss=False),
    "lbfgs": OptimizerEntry(_lbfgs, freeze_bound_pixels=True, normalise_loss=True),
}


class PixelOptimizer:
    """One optimizer on a ``PixelImage``; :meth:`step` evaluates the loss once and updates the pixels. ``scaler``:
    fp16's gradient scaling (see ``restyle.run.precision.LossScaler``); by default none."""

    def __init__(self, name: str, image: PixelImage, lr: float, scaler: LossScaler | None = None) -> None:
        self.entry = lookup(OPTIMIZERS, name, "optimizer")
        self.scaler = scaler or LossScaler(FP32)
        if self.scaler.enabled and name == "lbfgs":  # torch's GradScaler cannot drive a closure optimizer
            raise ConfigError("optim.optimizer lbfgs runs in fp32 or bf16 (fp16 needs gradient scaling, which "
                              "L-BFGS cannot take); use --precision bf16 or fp32, or --optimizer adam")
        self.image = image
        self.optimizer = self.entry.build(image.parameters(), lr)
        self.loss_scale: float | None = None  # set at the first evaluation when the entry normalises

    def _scaled(self, total: torch.Tensor) -> torch.Tensor:
        if not self.entry.normalise_loss:
            return total
        if self.loss_scale is None:
            self.loss_scale = 1.0 / max(abs(float(total.detach())), _TINY_LOSS)
        return total * self.loss_scale

    def step(self, loss_terms: LossTerms) -> Evaluation:
        evaluations: list[Evaluation] = []

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            terms = loss_terms(self.image())
            total = weighted_total(terms)
            scaled = self._scaled(total)
            self.scaler.backward(scaled)
            self.scaler.unscale(self.optimizer)  # fp16: the true gradients, before anything reads them
            if self.entry.freeze_bound_pixels:
                self._freeze_bound_pixels()
            evaluations.append(Evaluation(terms, total))
            return scaled

        if self.scaler.enabled:  # one evaluation, then the step (skipped on inf/nan gradients)
            closure()
            self.scaler.step(self.optimizer)
        else:
            self.optimizer.step(closure)
        self.image.project()
        return evaluations[0]

    @torch.no_grad()
    def _freeze_bound_pixels(self) -> None:
        pixels = self.image.pixels
        outward = ((pixels <= 0.0) & (pixels.grad > 0)) | ((pixels >= 1.0) & (pixels.grad < 0))
        pixels.grad.masked_fill_(outward, 0.0)


def intermediate_path(output: Path, step: int) -> Path:
    """``out.png`` at step 40 -> ``out.00040.png``, next to the output."""
    return output.with_name(f"{output.stem}.{step:05d}{output.suffix}")


def intermediate_paths(output: Path, every: int, iters: int) -> list[Path]:
    """Every intermediate image a run of ``iters`` steps writes with ``save_every = every`` (0: none)."""
    if every <= 0:
        return []
    return [intermediate_path(output, step) for step in range(every, iters + 1, every)]


@dataclass
class ScheduledStep:
    """One step of a run under the step-decay learning rate: the rate of the step is set on ``optimizer``, then
    ``take(step)`` (0-based) evaluates the loss, updates the parameters and says what the step started from."""

    optim: OptimConfig
    optimizer: torch.optim.Optimizer
    take: Callable[[int], Evaluation]
    taken: int = field(default=0, init=False)  # steps taken so far

    def __call__(self) -> StepInfo:
        step = self.taken
        lr = learning_rate(self.optim, step)
        set_learning_rate(self.optimizer, lr)
        evaluation = self.take(step)
        self.taken += 1
        return StepInfo(step + 1, self.optim.iters, lr, as_floats(evaluation.terms, evaluation.total))


def optimise_image(
    step: Callable[[], StepInfo], config: ImageConfig, metrics: MetricsLog, save: Callable[[Path], None],
    on_step: StepCallback | None, on_phase: PhaseCallback | None = None,
) -> tuple[Path, ...]:
    """All ``config.optim.iters`` steps through the one loop (:func:`restyle.run.loop.optimise`), with
    ``save(path)`` writing the current image every ``save_every`` steps; the intermediate images, in step order.
    ``on_phase`` is told the loop's time estimate once a few steps are timed."""
    intermediates: list[Path] = []

    def save_intermediate(step_number: int) -> None:
        path = intermediate_path(config.output, step_number)
        save(path)
        intermediates.append(path)

    optimise(step, start=0, total=config.optim.iters, metrics=metrics, log_every=config.optim.log_every,
             every=(Every(config.save_every, save_intermediate),), on_step=on_step, on_phase=on_phase)
    return tuple(intermediates)
