"""``restyle mesh --text`` end to end (CLIPstyler's losses on mesh renders): the tiny random CLIP model of conftest,
the weight-free patch content network, the bundled box at texture 32, renders 64, 2 views and 2 steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from restyle.configs import load_toml
from restyle.io.images import save_image
from restyle.io.meshes import load_mesh
from restyle.run.heldout import heldout_values, is_loss_entry

FAST = ("--texture-size", "32", "--render-size", "64", "--views-per-step", "2", "--iters", "2", "--crops", "2",
        "--crop-size", "32", "--content-backbone", "patch", "-q")




@pytest.fixture
def style(tmp_path: Path) -> Path:
    torch.manual_seed(3)
    path = tmp_path / "style.png"
    save_image(torch.rand(3, 64, 64), path)
    return path


def _entries(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _last_metrics(out: Path) -> dict:
    losses = [entry for entry in _entries(out) if is_loss_entry(entry)]  # the held-out check's entries left out
    assert losses[-1]["step"] == 2
    return losses[-1]


def _texture(path: Path) -> np.ndarray:
    return np.asarray(load_mesh(path).slots[0].image, dtype=np.float64)


def test_text_alone_stylises_the_box(run_cli, weights, box, tmp_path) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli("mesh", box, "--text", "a cat", "-o", out, "--weights-dir", weights,
                        "--lr", "0.2", *FAST)
    assert code == 0, err
    for name in ("config.toml", "metrics.jsonl", "before_after.png", "checkpoint.pt"):
        assert (out / name).is_file(), name
    assert list(out.glob("*.glb"))
    metrics = _last_metrics(out)
    assert {"directional", "patch", "content"} <= set(metrics)
    assert "style" not in metrics and "palette" not in metrics
    # no style image to measure against: the held-out check measures the content distance alone
    measured = [(e["step"], set(heldout_values(e))) for e in _entries(out) if not is_loss_entry(e)]
    assert measured == [(0, {"content"}), (2, {"content"})]
    config = load_toml(out / "config.toml")
    assert config["text"] == "a cat" and config["palette"]["source"] == "none" and config["styles"] == []
    assert config["clip_text"]["crops"] == 2 and config["clip_text"]["crop_size"] == 32
    glb = next(out.glob("*.glb"))
    assert np.abs(_texture(glb) - _texture(box)).max() > 0  # the texture moved


def test_text_with_a_style_image_adds_both(run_cli, weights, box, style, tmp_path) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli("mesh", box, "--text", "a cat", "-s", style, "-o", out,
                        "--weights-dir", weights, "--backbone", "patch", *FAST)
    assert code == 0, err
    metrics = _last_metrics(out)
    assert {"style", "directional", "patch", "content"} <= set(metrics)


def test_missing_clip_weights_is_one_line(run_cli, offline_caches, box, tmp_path) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli("mesh", box, "--text", "a cat", "-o", out,
                        "--weights-dir", tmp_path / "empty", *FAST)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "restyle weights download clip-vit-b32" in err and "Traceback" not in err
    assert not (out / "metrics.jsonl").exists()


def test_no_style_and_no_text_is_refused(run_cli, box, tmp_path) -> None:
    code, _, err = run_cli("mesh", box, "-o", tmp_path / "out", *FAST)
    assert code == 2 and "--text PROMPT" in err
