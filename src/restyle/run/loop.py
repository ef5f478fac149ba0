"""The one optimisation loop every job runs (:func:`optimise`), and what every run shares: step reports,
schedules, the metrics log, devices, outputs.

Anything that belongs to every run (an evaluation every N steps, time estimates, precision, stop handling) is
added to :func:`optimise` once, not to each job."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import torch

from restyle.configs import dump_toml
from restyle.errors import ConfigError, DivergedError
from restyle.io.atomic import write_text_atomic
from restyle.run.eta import LoopTimes, estimate_line, ready_to_estimate
from restyle.run.heldout import HeldOut, HeldOutCheck, heldout_entry, latest_heldout
from restyle.sections import OptimConfig, PaletteConfig, StyleConfig


@dataclass(frozen=True)
class StepInfo:
    """What a progress callback is told after every optimisation step."""

    step: int  # 1-based, the step just finished
    total: int
    lr: float
    losses: dict[str, float]  # every weighted term, and "total"
    heldout: HeldOut | None = None  # the latest held-out distances and the first ones (see run.heldout)
    eta_s: float | None = None  # seconds until the job is done, what follows the last step included


StepCallback = Callable[[StepInfo], None]
# Told each stage of the preparation before it starts ("unwrapping spot.obj (70,000 faces)"), so that minutes of
# loading, unwrapping or rasterising before the first step are not silent.
PhaseCallback = Callable[[str], None]


def report(on_phase: PhaseCallback | None, phase: str) -> None:
    if on_phase is not None:
        on_phase(phase)


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


def check_finite(losses: dict[str, float], step: int) -> None:
    """DivergedError naming the first non-finite loss term of ``step`` (1-based), so the run stops before the
    optimiser applies a NaN step and before a checkpoint could hold it."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise DivergedError(f"the run diverged at step {step}: loss term {name!r} is {value}; nothing of this "
                                "step was kept (try a lower lr or smaller loss weights)")


def _json_line(entry: dict[str, float]) -> str:
    """One strict JSON line: a non-finite number (which JSON cannot hold) is written as null."""
    clean = {k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in entry.items()}
    return json.dumps(clean, allow_nan=False) + "\n"


@dataclass
class MetricsLog:
    """Every loss term of every logged step, and each held-out measurement as an entry of its own (see
    ``run.heldout``), written as JSON lines, with the seconds since the optimisation began (``elapsed_s``:
    :func:`optimise` sets ``started`` just before the first step, so it counts the optimisation, not the start-up).

    Once :meth:`open` names a file, each entry is appended to it and flushed as it is recorded, so a running
    or stopped run's log can be read; the lines are strict JSON (non-finite numbers as null)."""

    entries: list[dict[str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    path: Path | None = None

    def open(self, path: Path) -> None:
        """Start appending to ``path``, which is first made to hold exactly the entries so far (a resumed run's
        entries up to its checkpoint, dropping any logged after it)."""
        self.path = path
        self.write(path)

    def record(self, info: StepInfo, every: int) -> None:
        """Keep every ``every``-th step, and always the last one."""
        if info.step % every == 0 or info.step == info.total:
            self._append({"step": info.step, "lr": info.lr, "elapsed_s": self._elapsed(), **info.losses})

    def record_heldout(self, step: int, values: Mapping[str, float]) -> None:
        """A held-out measurement after step ``step`` (0: before the first), as its own entry (see run.heldout)."""
        self._append(heldout_entry(step, self._elapsed(), values))

    def _elapsed(self) -> float:
        return round(time.perf_counter() - self.started, 3)

    def _append(self, entry: dict[str, float]) -> None:
        self.entries.append(entry)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as log:
                log.write(_json_line(entry))
                log.flush()

    def write(self, path: Path) -> None:
        write_text_atomic(path, "".join(_json_line(entry) for entry in self.entries))


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


@dataclass(frozen=True)
class Every:
    """``action(step)`` after every ``steps``-th step (1-based); never when ``steps`` is 0."""

    steps: int
    action: Callable[[int], None]

    def due(self, step: int) -> bool:
        return bool(self.steps) and step % self.steps == 0


def _no_stop() -> None:
    return None


HELDOUT_ACTION = "held-out check"  # its name among the loop's timed periodic work


@dataclass
class _Measurements:
    """The held-out check of a run in the loop: each measurement logged, timed apart from the steps, and the first
    and latest kept for the progress line (a resumed run's come from its log)."""

    check: HeldOutCheck | None
    metrics: MetricsLog
    times: LoopTimes
    latest: HeldOut | None = None

    def measure(self, step: int) -> None:
        if self.check is not None:
            self.times.timed(HELDOUT_ACTION, functools.partial(self._measure, self.check, step))

    def _measure(self, check: HeldOutCheck, step: int) -> None:
        values = check.measure()
        self.metrics.record_heldout(step, values)
        self.latest = HeldOut(step, self.latest.first if self.latest else values, values)


def _announce_estimate(on_phase: PhaseCallback | None, times: LoopTimes, step: int, total: int,
                       eta_s: float | None, tail_s: float) -> bool:
    """Tell ``on_phase`` once how long the rest will take, when enough steps were timed; whether it was told."""
    step_s = times.step_s()
    if on_phase is None or eta_s is None or step_s is None or step >= total or not ready_to_estimate(times.steps):
        return False
    report(on_phase, estimate_line(total - step, step_s, eta_s - tail_s, tail_s))
    return True


def optimise(
    step: Callable[[], StepInfo],
    *,
    start: int,
    total: int,
    metrics: MetricsLog,
    log_every: int,
    every: Sequence[Every] = (),
    on_step: StepCallback | None = None,
    check_stop: Callable[[], None] = _no_stop,
    on_interrupt: Callable[[], NoReturn] | None = None,
    heldout: HeldOutCheck | None = None,
    on_phase: PhaseCallback | None = None,
    tail_s: float = 0.0,
    times: LoopTimes | None = None,
) -> LoopTimes:
    """Take steps ``start + 1 .. total``. After each: stop on a non-finite loss (:func:`check_finite`), log it,
    ``check_stop()`` (under torchrun: every rank stops after the same step), the ``heldout`` check when due (also
    before the first step of a run that has none logged yet), the due ``every`` actions in their order
    (checkpoints, previews, intermediates: a checkpoint holds the measurement of its step), then ``on_step`` with
    the latest held-out distances and the time left (``tail_s``: what the job does after the last step, e.g. an
    export). Once a few steps are timed, ``on_phase`` is told the estimate in one line. Returns the timings
    (``times``, or new ones), e.g. for the seconds a step took.

    ``step()`` takes one optimisation step and reports it. A Ctrl-C goes to ``on_interrupt`` (which raises: a mesh
    run writes its checkpoint first) or, without one, on to the caller."""
    times = times or LoopTimes()
    measurements = _Measurements(heldout, metrics, times, latest_heldout(metrics.entries))
    schedules = {f"every {index}": (action.steps, False) for index, action in enumerate(every)}
    if heldout is not None:
        schedules[HELDOUT_ACTION] = (heldout.every, True)
    announced = False
    metrics.started = time.perf_counter()  # elapsed_s counts the optimisation, whatever the job prepared before
    try:
        if heldout is not None and heldout.every and start < total and measurements.latest is None:
            measurements.measure(start)  # the curve's start: what the optimisation starts from
        times.begin()
        for _ in range(start, total):
            info = step()
            check_finite(info.losses, info.step)
            metrics.record(info, log_every)
            check_stop()
            if heldout is not None and heldout.due(info.step, total):
                measurements.measure(info.step)
            for index, action in enumerate(every):
                if action.due(info.step):
                    times.timed(f"every {index}", functools.partial(action.action, info.step))
            times.step_done()
            eta_s = times.remaining(info.step, total, schedules, tail_s)
            announced = announced or _announce_estimate(on_phase, times, info.step, total, eta_s, tail_s)
            if on_step is not None:
                on_step(dataclasses.replace(info, heldout=measurements.latest, eta_s=eta_s))
    except KeyboardInterrupt:
        if on_interrupt is None:
            raise
        on_interrupt()
    return times
