"""The run kernel's side of the held-out check: what a job hands the loop to measure its result on views the
optimisation never sees, how the measurements sit in ``metrics.jsonl``, and how they are read back.

A job that can measure itself (a mesh job: ``restyle.jobs.mesh.heldout``) gives :func:`restyle.run.loop.optimise`
a :class:`HeldOutCheck`; the loop calls it before the first step, every ``every`` steps and after the last, and
logs each result as its own entry, ``{"step": 50, "elapsed_s": 61.2, "heldout_gram": 0.78, "heldout_nnfm": 0.35,
"heldout_content": 0.41}``, beside the loss entries (which always hold ``"total"``). The distances are the
evaluator's (``restyle.eval.evaluator``): scale-free, lower is closer, comparable across runs and settings, unlike
the losses of one noisy batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

HELDOUT_PREFIX = "heldout_"  # the keys of a held-out entry: heldout_gram, heldout_nnfm, heldout_content
HELDOUT_ORDER = ("gram", "nnfm", "content")  # how they are listed wherever they are shown


@dataclass(frozen=True)
class HeldOutCheck:
    """``measure()``: the distances of the current result, e.g. ``{"gram": 0.8, "nnfm": 0.4, "content": 0.3}``
    (only those that apply); taken before the first step, every ``every`` steps and after the last; never when
    ``every`` is 0."""

    every: int
    measure: Callable[[], dict[str, float]]

    def due(self, step: int, total: int) -> bool:
        return bool(self.every) and (step % self.every == 0 or step == total)


@dataclass(frozen=True)
class HeldOut:
    """The run's first held-out measurement and its latest (at ``step``), so that a trend can be shown."""

    step: int
    first: dict[str, float]
    latest: dict[str, float]


def heldout_entry(step: int, elapsed_s: float, values: Mapping[str, float]) -> dict[str, float]:
    """The metrics entry of one measurement."""
    return {"step": step, "elapsed_s": elapsed_s, **{HELDOUT_PREFIX + name: value for name, value in values.items()}}


def heldout_values(entry: Mapping[str, object]) -> dict[str, float] | None:
    """The distances of a held-out entry, by name (``gram``...), or None for a loss entry. A value the log wrote
    as null (not finite) is left out."""
    values = {key.removeprefix(HELDOUT_PREFIX): value for key, value in entry.items()
              if key.startswith(HELDOUT_PREFIX) and isinstance(value, int | float)}
    has_any = any(key.startswith(HELDOUT_PREFIX) for key in entry)
    return values if has_any else None


def is_loss_entry(entry: Mapping[str, object]) -> bool:
    """Whether a metrics entry is a step's losses (not a held-out measurement)."""
    return heldout_values(entry) is None


def latest_heldout(entries: Iterable[Mapping[str, object]]) -> HeldOut | None:
    """The first and the latest held-out measurement among ``entries`` (a run's log, in order), or None."""
    first = latest = None
    for entry in entries:
        values = heldout_values(entry)
        if values is not None:
            first = values if first is None else first
            latest = (int(entry["step"]), values)  # type: ignore[call-overload]
    if first is None or latest is None:
        return None
    return HeldOut(latest[0], first, latest[1])


def heldout_text(heldout: HeldOut | None) -> str:
    """``held-out gram 0.91→0.78 nnfm 0.40→0.35 content 0.12→0.41``: first → latest, for progress lines."""
    if heldout is None:
        return ""
    names = [name for name in HELDOUT_ORDER if name in heldout.latest]
    parts = [f"{name} {heldout.first[name]:.2f}→{heldout.latest[name]:.2f}" if name in heldout.first
             else f"{name} {heldout.latest[name]:.2f}" for name in names]
    return "held-out " + " ".join(parts) if parts else ""


def read_metrics(path: Path) -> list[dict]:
    """The entries of a ``metrics.jsonl`` that a run may still be appending to: a missing file is no entries, and a
    line that does not parse (the one being written) is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
