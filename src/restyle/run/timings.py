"""Seconds per step measured on this machine, kept between runs so that a front end can say how long a setting will
take before it runs (``restyle web``'s preset choice).

One small JSON file per user, ``$XDG_CACHE_HOME/restyle/timings.json`` (``~/.cache/restyle/timings.json`` without
it; ``RESTYLE_TIMINGS`` names another file): per mesh setting that decides a step's cost (:class:`TimingKey`: the
device kind, the style backbone, the render size, the views per step, the precision), the latest run's seconds per
step, written at the end of each run's optimisation. A setting not measured yet is estimated from a measured one
of the same device, backbone and precision, scaled by the pixels a step renders (render size² x views): the
networks' cost, most of a step, grows with them. Reading or writing the file never fails a run.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from restyle.io.atomic import write_text_atomic
from restyle.run.eta import about
from restyle.run.loop import resolve_device
from restyle.sections import OptimConfig, RenderConfig, StyleConfig

TIMINGS_ENV = "RESTYLE_TIMINGS"
FORMAT = 1
RECORD_MIN_STEPS = 5  # a run of fewer steps (warm-up included) says too little to be kept


@dataclass(frozen=True)
class TimingKey:
    """What a mesh step's cost depends on most."""

    device: str  # "cpu" or "cuda"
    backbone: str
    render_size: int
    views_per_step: int
    precision: str  # fp32, bf16, fp16 (resolved, never auto)

    @property
    def pixels(self) -> int:
        return self.render_size**2 * self.views_per_step


@dataclass(frozen=True)
class StepEstimate:
    """Seconds per step for a setting: ``measured`` on it, or scaled from ``source``, a measured setting."""

    step_s: float
    measured: bool
    source: TimingKey

    def describe(self, steps: int) -> str:
        """``about 6 min (1.2 s/step, measured here)`` for a run of ``steps`` steps (the steps alone)."""
        if self.measured:
            return f"{about(steps * self.step_s)} ({self.step_s:.2g} s/step, measured here)"
        source = self.source
        return (f"roughly {about(steps * self.step_s).removeprefix('about ')} (scaled from a "
                f"{source.render_size} px, {source.views_per_step}-view run here)")


NOT_MEASURED = "not measured on this machine yet"


def timing_key(device: str, style: StyleConfig, render: RenderConfig, optim: OptimConfig) -> TimingKey:
    """The key of a resolved mesh config's setting (``config.device``, ``.style``, ``.render``, ``.optim``; its
    precision resolved, as ``restyle.api.resolved_config`` gives it)."""
    return TimingKey(resolve_device(device).type, style.backbone, render.render_size, render.views_per_step,
                     optim.precision)


def timings_path() -> Path:
    override = os.environ.get(TIMINGS_ENV, "").strip()
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache) if cache else Path.home() / ".cache") / "restyle" / "timings.json"


def _read(path: Path) -> list[dict]:
    """The file's entries; none when it is missing or not ours (a damaged file is replaced at the next write)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    entries = data.get("mesh_steps") if isinstance(data, dict) and data.get("format") == FORMAT else None
    return [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []


def _key_of(entry: dict) -> TimingKey | None:
    try:
        return TimingKey(**{f.name: entry[f.name] for f in fields(TimingKey)})
    except (KeyError, TypeError):
        return None


def _measured(path: Path) -> dict[TimingKey, float]:
    found = {}
    for entry in _read(path):
        key, step_s = _key_of(entry), entry.get("step_s")
        if key is not None and isinstance(step_s, int | float) and math.isfinite(step_s) and step_s > 0:
            found[key] = float(step_s)
    return found


def record_step_seconds(key: TimingKey, step_s: float | None, steps: int, path: Path | None = None) -> bool:
    """Keep ``step_s`` (measured over ``steps`` steps) as this machine's time for ``key``, replacing an older
    measurement; whether it was written (not for a run of fewer than :data:`RECORD_MIN_STEPS` steps, nor when the
    file cannot be written)."""
    if step_s is None or not math.isfinite(step_s) or step_s <= 0 or steps < RECORD_MIN_STEPS:
        return False
    path = path or timings_path()
    entries = [entry for entry in _read(path) if _key_of(entry) != key]
    entries.append({**asdict(key), "step_s": round(step_s, 4), "steps": steps,
                    "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({"format": FORMAT, "mesh_steps": entries}, indent=1) + "\n")
    except OSError:  # a read-only home or a full disk costs the estimate, never the run
        return False
    return True


def step_estimate(key: TimingKey, path: Path | None = None) -> StepEstimate | None:
    """Seconds per step for ``key`` on this machine: measured, else scaled from the measured setting of the same
    device, backbone and precision nearest in pixels per step; None when there is none."""
    measured = _measured(path or timings_path())
    if key in measured:
        return StepEstimate(measured[key], True, key)
    alike = [other for other in measured if (other.device, other.backbone, other.precision)
             == (key.device, key.backbone, key.precision)]
    if not alike:
        return None
    nearest = min(alike, key=lambda other: abs(math.log(other.pixels / key.pixels)))
    return StepEstimate(measured[nearest] * key.pixels / nearest.pixels, False, nearest)


def estimate_text(key: TimingKey, steps: int, path: Path | None = None) -> str:
    """How long ``steps`` steps of ``key``'s setting take here, in words (see :meth:`StepEstimate.describe`)."""
    estimate = step_estimate(key, path)
    return NOT_MEASURED if estimate is None else estimate.describe(steps)
