"""The one loop's held-out check, ETA and time estimate (restyle.run.loop.optimise), on a fake step and a fake
clock: which steps are measured and where their entries go, what each step report carries, a resumed log, the
time of a measurement kept out of the step time, and the one estimate line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from restyle.run.eta import LoopTimes
from restyle.run.heldout import HeldOut, HeldOutCheck, heldout_text, heldout_values, is_loss_entry, latest_heldout
from restyle.run.loop import Every, MetricsLog, StepInfo, optimise


class FakeRun:
    """Steps that take ``step_s`` on a fake clock and a check that takes ``check_s`` and gives ``0.9 - step/100``."""

    def __init__(self, total: int, step_s: float = 1.0, check_s: float = 0.0, start: int = 0) -> None:
        self.now, self.total, self.taken, self.step_s, self.check_s = 0.0, total, start, step_s, check_s
        self.measured_at: list[int] = []

    def clock(self) -> float:
        return self.now

    def step(self) -> StepInfo:
        self.now += self.step_s
        self.taken += 1
        return StepInfo(self.taken, self.total, 0.1, {"style": 1.0 / self.taken, "total": 1.0 / self.taken})

    def measure(self) -> dict[str, float]:
        self.now += self.check_s
        self.measured_at.append(self.taken)
        return {"gram": 0.9 - self.taken / 100, "nnfm": 0.4, "content": self.taken / 100}


def _run(run: FakeRun, metrics: MetricsLog, check_every: int, **options) -> tuple[list[StepInfo], LoopTimes]:
    infos: list[StepInfo] = []
    times = optimise(run.step, start=run.taken, total=run.total, metrics=metrics, log_every=1,
                     heldout=HeldOutCheck(check_every, run.measure), on_step=infos.append,
                     times=LoopTimes(clock=run.clock), **options)
    return infos, times


def test_measured_before_the_first_step_every_n_steps_and_after_the_last(tmp_path: Path) -> None:
    run, metrics = FakeRun(total=7), MetricsLog()
    metrics.open(tmp_path / "metrics.jsonl")
    saved: list[tuple[int, dict]] = []
    infos, _ = _run(run, metrics, 3, every=(Every(3, lambda step: saved.append((step, metrics.entries[-1]))),))
    assert run.measured_at == [0, 3, 6, 7]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == metrics.entries  # strict JSON lines, appended as they come
    assert [(e["step"], "loss" if is_loss_entry(e) else "heldout") for e in lines] == [
        (0, "heldout"), (1, "loss"), (2, "loss"), (3, "loss"), (3, "heldout"), (4, "loss"), (5, "loss"),
        (6, "loss"), (6, "heldout"), (7, "loss"), (7, "heldout")]
    assert set(lines[4]) == {"step", "elapsed_s", "heldout_gram", "heldout_nnfm", "heldout_content"}
    assert heldout_values(lines[4]) == {"gram": 0.87, "nnfm": 0.4, "content": 0.03}
    # a checkpoint of a step holds that step's measurement
    assert saved == [(3, lines[4]), (6, lines[8])]
    assert [info.heldout for info in infos] == [HeldOut(0, _at(0), _at(0))] * 2 + [HeldOut(3, _at(0), _at(3))] * 3 + [
        HeldOut(6, _at(0), _at(6)), HeldOut(7, _at(0), _at(7))]
    assert heldout_text(infos[-1].heldout) == "held-out gram 0.90→0.83 nnfm 0.40→0.40 content 0.00→0.07"


def _at(step: int) -> dict[str, float]:
    return {"gram": 0.9 - step / 100, "nnfm": 0.4, "content": step / 100}


def test_a_resumed_run_keeps_its_log_and_is_not_measured_again_at_its_start() -> None:
    first, metrics = FakeRun(total=4), MetricsLog()
    _run(first, metrics, 3)
    assert first.measured_at == [0, 3, 4]
    resumed = FakeRun(total=9, start=4)  # --iters grown, from the checkpoint's log
    infos, _ = _run(resumed, MetricsLog(entries=list(metrics.entries)), 3)
    assert resumed.measured_at == [6, 9]
    assert infos[0].heldout == HeldOut(4, _at(0), _at(4))  # first and latest come from the log
    assert latest_heldout(metrics.entries) == HeldOut(4, _at(0), _at(4))


def test_no_measurement_when_off_and_none_when_there_is_no_step_left() -> None:
    run, metrics = FakeRun(total=3), MetricsLog()
    infos, _ = _run(run, metrics, 0)
    assert run.measured_at == [] and all(info.heldout is None for info in infos)
    assert all(is_loss_entry(entry) for entry in metrics.entries)
    done = FakeRun(total=3, start=3)
    _run(done, MetricsLog(), 2)
    assert done.measured_at == []


def test_the_eta_includes_the_checks_still_due_and_the_tail_but_not_in_the_step_time() -> None:
    run = FakeRun(total=10, step_s=2.0, check_s=30.0)
    infos, times = _run(run, MetricsLog(), 4, tail_s=7.0)
    assert times.step_s() == 2.0  # 30 s checks kept out of the steps
    # after step 5: 5 steps, the checks after 8 and 10, the export
    assert infos[4].eta_s == pytest.approx(5 * 2.0 + 2 * 30.0 + 7.0)
    assert infos[-1].eta_s == pytest.approx(7.0)


def test_one_estimate_line_once_a_few_steps_past_the_warm_up_are_timed() -> None:
    run, phases = FakeRun(total=300, step_s=1.5), []
    _run(run, MetricsLog(), 0, on_phase=phases.append, tail_s=20.0)
    assert phases == ["about 7 min for the 294 steps left on this machine (1.5 s/step), plus about 20 s of export"]
    short = FakeRun(total=2, step_s=60.0)
    _run(short, MetricsLog(), 0, on_phase=phases.append)
    assert len(phases) == 1  # no step left after the first one timed past the warm-up
