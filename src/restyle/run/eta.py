"""How long a run has left: the loop's timings (:class:`LoopTimes`) and the arithmetic on them
(:func:`remaining_seconds`), kept apart so that tests drive them with a recorded sequence and a fake clock.

The loop times every step from the end of the one before, so that logging and progress callbacks count, and
takes the periodic work out of it (held-out checks, checkpoints, previews): each is timed on its own and counted
for the runs still due. A step's estimate leaves out the first step of the session (kernels chosen, buffers
allocated) and follows the latest half of the steps, so that a machine that got busier is seen within a while.
The job adds what comes after the last step (``tail_s``: a mesh run's export, measured while it prepares)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

WARM_UP_STEPS = 1  # the session's first step: slower, and not what the rest will take
RECENT_MIN_STEPS = 5  # the estimate follows the latest half of the steps, but never fewer than these
# when the estimate is first worth telling: after this many steps past the warm-up, or this many seconds of them
ESTIMATE_AFTER_STEPS, ESTIMATE_AFTER_S = 5, 10.0


@dataclass(frozen=True)
class Periodic:
    """Work done after every ``every``-th step (and after the last one when ``at_last``) that takes ``seconds``."""

    every: int
    seconds: float
    at_last: bool = False

    def runs_left(self, step: int, total: int) -> int:
        """How many times it still runs after step ``step`` (1-based, done) up to ``total``."""
        if not self.every or step >= total:
            return 0
        runs = total // self.every - step // self.every
        return runs + int(self.at_last and total % self.every != 0)


def step_seconds(times: Sequence[float]) -> float | None:
    """The seconds a step takes from now on, from the steps timed so far (periodic work excluded): the mean of the
    latest half, the warm-up step left out once there is another; None before any step."""
    steady = list(times[WARM_UP_STEPS:]) if len(times) > WARM_UP_STEPS else list(times)
    if not steady:
        return None
    recent = steady[-max(RECENT_MIN_STEPS, len(steady) // 2):]
    return sum(recent) / len(recent)


def remaining_seconds(step: int, total: int, step_s: float, periodic: Sequence[Periodic] = (),
                      tail_s: float = 0.0) -> float:
    """Seconds until a run at step ``step`` of ``total`` is done: its steps left at ``step_s`` each, the periodic
    work still due, then ``tail_s`` (what follows the last step)."""
    steps = max(0, total - step) * step_s
    return steps + sum(work.seconds * work.runs_left(step, total) for work in periodic) + tail_s


def ready_to_estimate(times: Sequence[float]) -> bool:
    """Whether enough steps past the warm-up have been timed for an estimate worth a line of its own."""
    steady = times[WARM_UP_STEPS:]
    return len(steady) >= ESTIMATE_AFTER_STEPS or (len(steady) > 0 and sum(steady) >= ESTIMATE_AFTER_S)


def about(seconds: float) -> str:
    """``about 40 s``, ``about 6 min``, ``about 2.5 h``, ``about 2,607 h``: a duration as an estimate is worth
    saying."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    hours = seconds / 3600
    return f"about {hours:.1f} h" if hours < 10 else f"about {round(hours):,} h"


def estimate_line(steps: int, step_s: float, optimise_s: float, tail_s: float) -> str:
    """``about 6 min for the 300 steps left on this machine (1.2 s/step), plus about 15 s of export``."""
    line = f"{about(optimise_s)} for the {steps} steps left on this machine ({step_s:.3g} s/step)"
    return line + (f", plus {about(tail_s)} of export" if tail_s >= 0.5 else "")


@dataclass
class LoopTimes:
    """What the loop measured this session: each step's seconds (from the end of the step before, periodic work
    taken out) and each periodic action's runs, by name. ``clock`` is injectable for tests."""

    clock: Callable[[], float] = time.perf_counter
    steps: list[float] = field(default_factory=list)
    actions: dict[str, list[float]] = field(default_factory=dict)
    _mark: float = math.nan  # when the step being timed began
    _aside: float = 0.0  # periodic work since then

    def begin(self) -> None:
        """The first step begins now."""
        self._mark, self._aside = self.clock(), 0.0

    def timed(self, name: str, action: Callable[[], object]) -> None:
        """Run ``action()`` as periodic work ``name``: timed on its own, not as part of the step."""
        start = self.clock()
        try:
            action()
        finally:
            spent = self.clock() - start
            self.actions.setdefault(name, []).append(spent)
            self._aside += spent

    def step_done(self) -> None:
        """A step (and the work around it) is done; the next one begins now."""
        now = self.clock()
        self.steps.append(max(0.0, now - self._mark - self._aside))
        self._mark, self._aside = now, 0.0

    def step_s(self) -> float | None:
        return step_seconds(self.steps)

    def action_s(self, name: str) -> float:
        """Mean seconds of a periodic action so far; 0 before it has run."""
        runs = self.actions.get(name, [])
        return sum(runs) / len(runs) if runs else 0.0

    def remaining(self, step: int, total: int, schedules: Mapping[str, tuple[int, bool]],
                  tail_s: float = 0.0) -> float | None:
        """Seconds left after step ``step`` (see :func:`remaining_seconds`); ``schedules``: per action name, its
        ``(every, at_last)``. None before a step was timed."""
        step_s = self.step_s()
        if step_s is None:
            return None
        periodic = [Periodic(every, self.action_s(name), at_last) for name, (every, at_last) in schedules.items()]
        return remaining_seconds(step, total, step_s, periodic, tail_s)
