"""`restyle image` with no style options: Gram on the shipped VGG19, offline, one backbone pass per step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restyle.api import stylize_image
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.configs import load_toml
from restyle.io.images import save_image
from restyle.objectives.networks import Networks, build_style_objective, resolve_loss_defaults
from restyle.sections import LossWeights, StyleConfig


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path]:
    y, x = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 48), indexing="ij")
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    save_image(torch.stack([x, y, 0.5 * (x + y)]), content)
    save_image(torch.rand(3, 40, 48, generator=torch.Generator().manual_seed(2)), style)
    return content, style


def test_default_run_is_relative_gram_on_vgg19_with_one_backbone_pass_per_step(photos, tmp_path,
                                                                                 monkeypatch) -> None:
    calls: list[tuple[str, ...]] = []
    forward = VGG19Backbone.forward

    def counting(self, images, taps, *, embedding=False):
        calls.append(tuple(taps))
        return forward(self, images, taps, embedding=embedding)

    monkeypatch.setattr(VGG19Backbone, "forward", counting)
    content, style = photos
    result = stylize_image(content, [style], tmp_path / "out.png", size=40, optim={"iters": 3})

    resolved = load_toml(result.config_path)["style"]
    assert (resolved["method"], resolved["backbone"], resolved["content_backbone"]) == ("gram", "vgg19", "vgg19")
    assert resolved["gram_norm"] == "relative"
    # The style targets, the content targets, then ONE pass per step for both losses (it was two).
    assert len(calls) == 1 + 1 + 3
    assert set(calls[-1]) == {*resolved["style_taps"], *resolved["content_taps"]}
    entries = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    elapsed = [entry["elapsed_s"] for entry in entries]
    assert elapsed == sorted(elapsed) and elapsed[0] >= 0.0


def test_the_gram_objective_follows_the_resolved_normalisation() -> None:
    net = VGG19Backbone()
    style_image = torch.rand(1, 3, 32, 32)
    for backbone, relative in (("vgg19", True), ("vgg16", False)):
        style, _ = resolve_loss_defaults(StyleConfig(method="gram", backbone=backbone), LossWeights())
        style = StyleConfig(**{**style.__dict__, "style_taps": ("relu1_1", "relu2_1")})
        objective = build_style_objective(style, Networks(net, net), [style_image], seed=0)
        assert objective.relative is relative
