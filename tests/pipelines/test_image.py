"""`restyle image` end to end: every method x backbone for a few steps on tiny images, reproducibility,
outputs and their sidecars, and bad inputs leaving nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restyle.api import stylize_image
from restyle.configs import load_toml
from restyle.errors import ConfigError, InputError, WeightsMissingError
from restyle.io.images import load_image, save_image


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A smooth content image and two textured style images, 48-64 px."""
    torch.manual_seed(1)
    y, x = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    content = torch.stack([x, y, 0.5 * (x + y)])
    stripes = (torch.sin(torch.linspace(0, 40, 64))[None, None].expand(1, 64, 64) > 0).float()
    style_a = torch.cat([stripes, 0.2 * stripes, 1 - stripes])
    style_b = torch.rand(3, 40, 56)
    paths = tmp_path / "content.png", tmp_path / "style_a.png", tmp_path / "style_b.png"
    for image, path in zip((content, style_a, style_b), paths, strict=True):
        save_image(image, path)
    return paths


def _run(photos, out: Path, weights_dir: Path | None = None, **options):
    content, style_a, style_b = photos
    base = {"size": 48, "optim": {"iters": 3, "lr": 0.05}}
    if weights_dir is not None:
        base["pretrained"] = {"weights_dir": weights_dir}
    return stylize_image(content, [style_a, style_b], out, **{**base, **options})


@pytest.mark.parametrize("method", ["nnfm", "gram"])
@pytest.mark.parametrize("backbone", ["patch", "vgg16", "clip-rn50"])
def test_every_method_and_backbone_runs(photos, tmp_path, random_weights_dir, method, backbone) -> None:
    out = tmp_path / "out.png"
    result = _run(photos, out, random_weights_dir, style={"method": method, "backbone": backbone})

    assert result.image.shape == (3, 36, 48)  # long side 48, aspect 48:64 kept
    assert load_image(out).shape == (3, 36, 48)
    entries = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    assert [e["step"] for e in entries] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(e["total"])) for e in entries)
    assert {"style", "content", "total"} <= set(entries[0])
    resolved = load_toml(result.config_path)
    assert resolved["style"]["backbone"] == backbone and resolved["style"]["method"] == method
    assert resolved["weights"]["style"] > 0 and resolved["style"]["style_taps"]  # defaults written resolved


def test_optimisation_lowers_the_style_loss(photos, tmp_path) -> None:
    result = _run(photos, tmp_path / "o.png", style={"backbone": "patch"}, optim={"iters": 25, "lr": 0.05})
    entries = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    assert entries[-1]["style"] < 0.8 * entries[0]["style"]


def test_same_seed_same_result(photos, tmp_path) -> None:
    options = {"style": {"backbone": "patch"}, "palette": {"source": "auto", "colors": 3}}
    first = _run(photos, tmp_path / "a.png", **options)
    again = _run(photos, tmp_path / "b.png", **options)
    assert torch.equal(first.image, again.image)


def test_written_config_reproduces_the_run(photos, tmp_path) -> None:
    first = _run(photos, tmp_path / "a.png", style={"backbone": "patch"})
    replay = stylize_image(output=tmp_path / "b.png", config_file=first.config_path)
    assert torch.equal(first.image, replay.image)


def test_missing_content_is_an_input_error_and_writes_nothing(photos, tmp_path) -> None:
    _, style_a, _ = photos
    out = tmp_path / "never.png"
    with pytest.raises(InputError, match="nope.png"):
        stylize_image(tmp_path / "nope.png", [style_a], out, style={"backbone": "patch"})
    assert not list(tmp_path.glob("never*"))


def test_missing_weights_name_the_remedies(photos, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RESTYLE_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(WeightsMissingError, match="--backbone patch"):
        _run(photos, tmp_path / "o.png", style={"backbone": "vgg16"})
    assert not (tmp_path / "o.png").exists()


def test_output_may_not_overwrite_an_input(photos) -> None:
    content, style_a, _ = photos
    with pytest.raises(ConfigError, match="overwrite an input"):
        stylize_image(content, [style_a], style_a, style={"backbone": "patch"})


def test_unknown_backbone_lists_valid_ones(photos, tmp_path) -> None:
    with pytest.raises(ConfigError, match="clip-rn50, patch, vgg16"):
        _run(photos, tmp_path / "o.png", style={"backbone": "resnet9000"})
