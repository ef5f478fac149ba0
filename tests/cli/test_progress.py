"""What the progress output says of a step: the run's ETA (its export included) and the held-out distances, the
first against the latest, in plain lines and on the rich bar."""

from __future__ import annotations

from restyle.api import HeldOut, StepInfo
from restyle.cli import progress as cli_progress
from restyle.cli.progress import plain_progress, progress

HELD_OUT = HeldOut(50, {"gram": 0.912, "nnfm": 0.404, "content": 0.0}, {"gram": 0.781, "nnfm": 0.349, "content": 0.41})


def _step(step: int, eta_s: float | None, heldout: HeldOut | None = HELD_OUT) -> StepInfo:
    return StepInfo(step, 300, 0.02, {"style": 1.5, "total": 2.5}, heldout=heldout, eta_s=eta_s)


def test_a_plain_line_shows_the_runs_eta_and_the_held_out_trend(capsys) -> None:
    on_step = plain_progress("restyle mesh", every_s=0)
    on_step(_step(60, eta_s=65.4))
    line = capsys.readouterr().err.strip()
    assert line == ("restyle mesh: step 60/300  eta 1m05s  style 1.5  total 2.5  "
                    "held-out gram 0.91→0.78 nnfm 0.40→0.35 content 0.00→0.41")


def test_a_plain_line_without_a_held_out_check_or_an_eta_of_the_runs_own(capsys) -> None:
    on_step = plain_progress("restyle image", every_s=0)
    on_step(StepInfo(3, 3, 0.1, {"style": 1.0, "total": 1.0}))
    assert capsys.readouterr().err.strip() == "restyle image: step 3/3  eta 0m00s  style 1  total 1"


def test_the_bar_shows_the_runs_eta_and_the_held_out_trend(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cli_progress, "_is_terminal", lambda: True)
    monkeypatch.setenv("COLUMNS", "250")  # rich cuts the last columns to fit a narrower terminal
    with progress(True, "restyle mesh") as (on_step, on_phase):
        on_step(_step(60, eta_s=None, heldout=None))
        on_phase("about 6 min for the 240 steps left on this machine (1.5 s/step), plus about 15 s of export")
        on_step(_step(61, eta_s=367.0))
    out = capsys.readouterr().out
    assert "restyle mesh: about 6 min for the 240 steps left" in out
    assert "eta 6m07s" in out and "held-out gram 0.91→0.78 nnfm 0.40→0.35" in out
