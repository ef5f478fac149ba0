"""Schedules shared by the jobs: the palette weight (the CLIP paper's shape, independent of the run length)."""

from __future__ import annotations

import math

import pytest

from restyle.configs import apply_overrides
from restyle.errors import ConfigError
from restyle.run.loop import palette_weight
from restyle.sections import OptimConfig, PaletteConfig


def _paper_code_weight(step: int, iters: int) -> float:
    """The schedule of the paper's optimize.py: 0.083 N exp(max(0.5, 2 - 2i/N))."""
    return 0.083 * iters * math.exp(max(0.5, 2 - 2 * step / iters))


def test_palette_weight_starts_high_and_reaches_its_floor_at_three_quarters_of_the_run() -> None:
    palette, optim = PaletteConfig(), OptimConfig(iters=15000)
    assert palette.weight == 2000.0
    assert palette_weight(palette, optim, 0) == pytest.approx(2000 * math.exp(1.5))  # ~8963; the code: ~9200
    assert palette_weight(palette, optim, 11249) > 2000.0
    assert palette_weight(palette, optim, 11250) == pytest.approx(2000.0)  # 75% of 15000
    assert palette_weight(palette, optim, 14999) == pytest.approx(2000.0)
    # exponential in between, with the paper code's shape: the same ratio to the floor at every step
    for step in (0, 3000, 7500, 11000, 13000):
        paper_ratio = _paper_code_weight(step, 15000) / _paper_code_weight(15000, 15000)
        assert palette_weight(palette, optim, step) / 2000.0 == pytest.approx(paper_ratio)


def test_palette_schedule_follows_the_run_length_and_start_factor_one_is_constant() -> None:
    short = OptimConfig(iters=100)
    assert palette_weight(PaletteConfig(weight=10.0), short, 0) == pytest.approx(10 * math.exp(1.5))
    assert palette_weight(PaletteConfig(weight=10.0), short, 75) == pytest.approx(10.0)
    constant = PaletteConfig(weight=10.0, start_factor=1.0)
    assert {palette_weight(constant, short, step) for step in (0, 50, 99)} == {10.0}


def test_palette_schedule_options_are_checked_and_the_old_decay_is_gone() -> None:
    with pytest.raises(ConfigError, match="start_factor"):
        PaletteConfig(start_factor=0.0)
    with pytest.raises(ConfigError, match="palette.weight"):
        PaletteConfig(weight=-1.0)
    with pytest.raises(ConfigError, match="unknown option 'decay'"):
        apply_overrides(PaletteConfig(), {"decay": 0.9}, source="test")
    assert PaletteConfig().colors == 16  # the paper's code: 16 k-means colours
