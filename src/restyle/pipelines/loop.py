"""Pieces every optimisation run shares: step reports, schedules, the metrics log, devices, outputs."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from restyle.configs import dump_toml
from restyle.errors import ConfigError
from restyle.io.atomic import write_text_atomic
from restyle.pipelines.config import OptimConfig, PaletteConfig, StyleConfig


@dataclass(frozen=True)
class StepInfo:
    """What a progress callback is told after every optimisation step."""

    step: int  # 1-based, the step just finished
    total: int
    lr: float
    losses: dict[str, float]  # every weighted term, and "total"


StepCallback = Callable[[StepInfo], None]


def learning_rate(optim: OptimConfig, step: int) -> float:
    """Step decay: ``lr * lr_decay ** (step // lr_decay_every)`` (the CLIP paper's 0.95 every 200 steps)."""
    return optim.lr * optim.lr_decay ** (step // optim.lr_decay_every)


# Fraction of the run after which the palette weight stays at its floor (the CLIP paper's code: its exponent
# 2 - 2i/N reaches the floor 0.5 at i = 0.75 N).
PALETTE_FLOOR_AT = 0.75


def palette_weight(palette: PaletteConfig, optim: OptimConfig, step: int) -> float:
    """``weight * start_factor ** max(0, 1 - step / (0.75 * iters))``: high while colours settle, then falling
    exponentially to ``weight`` at 75% of the run, so that style detail can pull texels off the palette.

    The CLIP paper's code, ``0.083 N exp(max(0.5, 2 - 2i/N))`` for N steps, has this shape (start/floor = e^1.5)
    but a scale that grows with N; here the floor is ``weight`` whatever the run's length."""
    progress = step / (PALETTE_FLOOR_AT * max(optim.iters, 1))
    return palette.weight * palette.start_factor ** max(0.0, 1.0 - progress)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@dataclass
class MetricsLog:
    """Every loss term of every logged step, written as JSON lines, with the seconds since the log was made
    (``elapsed_s``: made just before the first step, so it counts the optimisation, not the start-up)."""

    entries: list[dict[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def record(self, info: StepInfo, every: int) -> None:
        """Keep every ``every``-th step, and always the last one."""
        if info.step % every == 0 or info.step == info.total:
            elapsed = round(time.perf_counter() - self.started, 3)
            self.entries.append({"step": info.step, "lr": info.lr, "elapsed_s": elapsed, **info.losses})

    def write(self, path: Path) -> None:
        write_text_atomic(path, "".join(json.dumps(entry) + "\n" for entry in self.entries))


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; an unavailable device is a ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but no CUDA device is available; use --device cpu")
    return device


def refuse_overwriting_inputs(outputs: Sequence[Path], inputs: Sequence[Path]) -> None:
    """Outputs may replace earlier outputs, never a file the user gave as input."""
    given = {p.resolve() for p in inputs}
    for out in outputs:
        if out.resolve() in given:
            raise ConfigError(f"{out}: output would overwrite an input file; choose another output path")


def check_weights(name: str, weights: Sequence[float] | None, count: int, what: str) -> None:
    """ConfigError unless ``weights`` is None or ``count`` finite, non-negative numbers with a positive sum."""
    if weights is None:
        return
    if len(weights) != count:
        raise ConfigError(f"{name} has {len(weights)} weight(s) for {count} {what}; give one per {what[:-1]}")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        listed = ", ".join(f"{w:g}" for w in weights)
        raise ConfigError(f"{name} must be non-negative numbers with a positive sum; got {listed}")


def refuse_image_only_options(optim: OptimConfig, style: StyleConfig) -> None:
    """The mesh pipeline optimises with Adam and weighs layers equally; say so rather than ignore a request."""
    if optim.optimizer != "adam":
        raise ConfigError(f"optim.optimizer {optim.optimizer!r} is only available for restyle image; use adam")
    if style.style_tap_weights is not None or style.content_tap_weights is not None:
        raise ConfigError("style.style_tap_weights / content_tap_weights are only available for restyle image")


def write_config(config: object, path: Path) -> None:
    write_text_atomic(path, dump_toml(config))


def weighted_total(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.stack(list(terms.values())).sum()


def as_floats(terms: dict[str, torch.Tensor], total: torch.Tensor) -> dict[str, float]:
    return {**{name: float(value.detach()) for name, value in terms.items()}, "total": float(total.detach())}
