"""The time a run has left (restyle.run.eta): the arithmetic on a fake clock, never timed. The recorded sequence is
a real `make demo` run's step times (``data/step_times_demo.json``: Spot, 120 steps, the CPU seconds of each step,
its first with the preparation), replayed with a held-out check every 25 steps and an export after the last."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from restyle.run.eta import (
    LoopTimes,
    Periodic,
    about,
    estimate_line,
    ready_to_estimate,
    remaining_seconds,
    step_seconds,
)

RECORDED = Path(__file__).resolve().parents[1] / "data" / "step_times_demo.json"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_periodic_work_counts_the_runs_still_due() -> None:
    assert Periodic(25, 2.0).runs_left(0, 100) == 4  # after steps 25, 50, 75, 100
    assert Periodic(25, 2.0).runs_left(25, 100) == 3
    assert Periodic(25, 2.0).runs_left(24, 100) == 4
    assert Periodic(25, 2.0, at_last=True).runs_left(0, 110) == 5  # 25..100, and after the last step
    assert Periodic(25, 2.0, at_last=True).runs_left(0, 100) == 4  # the last step is due anyway
    assert Periodic(25, 2.0, at_last=True).runs_left(110, 110) == 0
    assert Periodic(0, 2.0, at_last=True).runs_left(0, 100) == 0  # never


def test_remaining_seconds_adds_steps_periodic_work_and_the_tail() -> None:
    assert remaining_seconds(10, 100, 2.0) == 180.0
    assert remaining_seconds(10, 100, 2.0, [Periodic(25, 3.0, at_last=True), Periodic(50, 1.0)], tail_s=15.0) == (
        180.0 + 4 * 3.0 + 2 * 1.0 + 15.0)
    assert remaining_seconds(100, 100, 2.0, [Periodic(25, 3.0, at_last=True)], tail_s=15.0) == 15.0


def test_the_step_estimate_leaves_out_the_warm_up_and_follows_the_latest_half() -> None:
    assert step_seconds([]) is None
    assert step_seconds([9.0]) == 9.0  # nothing else to go on yet
    assert step_seconds([9.0, 1.0, 1.0]) == 1.0
    slower = [9.0] + [1.0] * 20 + [2.0] * 20  # the machine got busier half way
    assert step_seconds(slower) == 2.0


def test_periodic_work_is_not_step_time() -> None:
    clock = FakeClock()
    times = LoopTimes(clock=clock)
    times.begin()
    for step in range(1, 8):
        clock.now += 1.0  # the step, its logging and progress callbacks
        if step % 3 == 0:
            times.timed("held-out check", lambda: setattr(clock, "now", clock.now + 100.0))
        times.step_done()
    assert times.steps == [1.0] * 7 and times.step_s() == 1.0
    assert times.action_s("held-out check") == 100.0 and times.action_s("checkpoint") == 0.0
    # 3 steps left, the check due after step 9 and after the last (10), then 5 s of export
    assert times.remaining(7, 10, {"held-out check": (3, True)}, tail_s=5.0) == 3 * 1.0 + 2 * 100.0 + 5.0


def test_an_action_that_raises_is_still_taken_out_of_the_step() -> None:
    clock = FakeClock()
    times = LoopTimes(clock=clock)
    times.begin()

    def interrupted() -> None:
        clock.now += 50.0
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        times.timed("checkpoint", interrupted)
    clock.now += 1.0
    times.step_done()
    assert times.steps == [1.0]


def _recorded() -> list[float]:
    steps = json.loads(RECORDED.read_text())["step_s"]
    assert len(steps) >= 100 and all(s > 0 for s in steps)
    return steps


def test_the_estimate_of_a_recorded_run_is_within_a_quarter_of_the_truth_from_the_10_percent_mark() -> None:
    steps, every, check_s, tail_s = _recorded(), 25, 1.5, 12.0
    total = len(steps)
    clock = FakeClock()
    times = LoopTimes(clock=clock)
    times.timed("held-out check", lambda: setattr(clock, "now", clock.now + check_s))  # before the first step
    times.begin()
    finished_at = clock.now + sum(steps) + check_s * Periodic(every, check_s, True).runs_left(0, total) + tail_s
    worst = 0.0
    for step, seconds in enumerate(steps, 1):
        clock.now += seconds
        if step % every == 0 or step == total:
            times.timed("held-out check", lambda: setattr(clock, "now", clock.now + check_s))
        times.step_done()
        if step >= total // 10 and step < total:
            estimate = times.remaining(step, total, {"held-out check": (every, True)}, tail_s)
            truth = finished_at - clock.now
            worst = max(worst, abs(estimate / truth - 1))
    assert worst <= 0.25


def test_the_estimate_is_told_after_a_few_steps_or_seconds_past_the_warm_up() -> None:
    assert not ready_to_estimate([30.0])  # the warm-up alone
    assert not ready_to_estimate([30.0, 1.0, 1.0, 1.0, 1.0])
    assert ready_to_estimate([30.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert ready_to_estimate([30.0, 12.0])  # a slow step is enough on its own


def test_the_estimate_line_says_how_long_for_how_many_steps_and_the_export() -> None:
    assert estimate_line(300, 1.23, 369.0, 15.0) == (
        "about 6 min for the 300 steps left on this machine (1.23 s/step), plus about 15 s of export")
    assert estimate_line(40, 0.5, 20.0, 0.0) == "about 20 s for the 40 steps left on this machine (0.5 s/step)"
    assert [about(s) for s in (0.2, 89, 90, 5399, 5400, 3600 * 108)] == [
        "about 1 s", "about 89 s", "about 2 min", "about 90 min", "about 1.5 h", "about 108 h"]
