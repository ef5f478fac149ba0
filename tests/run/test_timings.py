"""This machine's seconds per step, kept between runs (restyle.run.timings): where the file is, a measurement kept
and replaced, estimates measured or scaled, and a file that cannot be read or written costing nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from restyle.run.timings import (
    NOT_MEASURED,
    TIMINGS_ENV,
    TimingKey,
    estimate_text,
    record_step_seconds,
    step_estimate,
    timing_key,
    timings_path,
)
from restyle.sections import OptimConfig, RenderConfig, StyleConfig

PREVIEW = TimingKey("cpu", "vgg19", 224, 2, "bf16")


def test_the_file_is_in_the_users_cache_or_where_the_environment_says(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(TIMINGS_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert timings_path() == tmp_path / "cache" / "restyle" / "timings.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert timings_path() == tmp_path / "home" / ".cache" / "restyle" / "timings.json"
    monkeypatch.setenv(TIMINGS_ENV, str(tmp_path / "elsewhere.json"))
    assert timings_path() == tmp_path / "elsewhere.json"


def test_a_measurement_is_kept_replaced_by_the_next_and_read_back(tmp_path) -> None:
    path = tmp_path / "sub" / "timings.json"
    assert step_estimate(PREVIEW, path) is None
    assert record_step_seconds(PREVIEW, 1.25, 300, path)
    other = TimingKey("cpu", "patch", 64, 2, "fp32")
    assert record_step_seconds(other, 0.1, 10, path)
    assert record_step_seconds(PREVIEW, 1.5, 60, path)  # the latest run of a setting is what this machine does now
    estimate = step_estimate(PREVIEW, path)
    assert estimate is not None and estimate.measured and estimate.step_s == 1.5
    entries = json.loads(path.read_text())["mesh_steps"]
    assert len(entries) == 2 and {e["backbone"] for e in entries} == {"vgg19", "patch"}
    assert estimate_text(PREVIEW, 300, path) == "about 8 min (1.5 s/step, measured here)"


def test_too_short_or_missing_measurements_are_not_kept(tmp_path) -> None:
    path = tmp_path / "timings.json"
    assert not record_step_seconds(PREVIEW, None, 300, path)
    assert not record_step_seconds(PREVIEW, 1.0, 4, path)  # a warm-up and three steps say too little
    assert not record_step_seconds(PREVIEW, float("nan"), 300, path)
    assert not path.exists()


def test_an_unmeasured_setting_is_scaled_from_the_nearest_of_its_kind(tmp_path) -> None:
    path = tmp_path / "timings.json"
    record_step_seconds(TimingKey("cpu", "vgg19", 128, 1, "bf16"), 0.2, 60, path)
    record_step_seconds(TimingKey("cpu", "vgg19", 512, 8, "bf16"), 40.0, 10, path)
    record_step_seconds(TimingKey("cpu", "patch", 224, 2, "bf16"), 0.01, 10, path)
    estimate = step_estimate(PREVIEW, path)
    assert estimate is not None and not estimate.measured
    assert estimate.source == TimingKey("cpu", "vgg19", 128, 1, "bf16")  # 6x the pixels, against 21x fewer
    assert estimate.step_s == pytest.approx(0.2 * (224**2 * 2) / 128**2)
    assert estimate_text(PREVIEW, 300, path) == "roughly 6 min (scaled from a 128 px, 1-view run here)"
    assert step_estimate(TimingKey("cuda", "vgg19", 224, 2, "bf16"), path) is None  # another device says nothing
    assert estimate_text(TimingKey("cpu", "vgg19", 224, 2, "fp32"), 300, path) == NOT_MEASURED


def test_a_damaged_or_unwritable_file_costs_the_estimate_never_the_run(tmp_path) -> None:
    path = tmp_path / "timings.json"
    path.write_text("{not json")
    assert step_estimate(PREVIEW, path) is None
    assert record_step_seconds(PREVIEW, 1.0, 10, path)  # replaced by a good one
    assert step_estimate(PREVIEW, path).step_s == 1.0
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert not record_step_seconds(PREVIEW, 1.0, 10, blocked / "timings.json")  # its folder cannot be made


def test_the_key_of_a_resolved_config() -> None:
    key = timing_key("cpu", StyleConfig(backbone="vgg19"), RenderConfig(render_size=224, views_per_step=2),
                     OptimConfig(precision="bf16"))
    assert key == PREVIEW and key.pixels == 224**2 * 2


def test_the_test_session_keeps_its_timings_out_of_the_users_cache() -> None:
    assert Path.home() not in timings_path().parents
