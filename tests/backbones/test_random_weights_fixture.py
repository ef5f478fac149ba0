"""The shared ``random_weights_dir`` fixture loads through the real lookup and loading path."""

from __future__ import annotations

from pathlib import Path

import torch

from restyle.backbones.clip_rn50 import ClipRN50Backbone
from restyle.backbones.vgg16 import VGG16Backbone
from restyle.backbones.weights import find_checkpoint


def test_random_weights_dir_serves_both_backbones(random_weights_dir: Path) -> None:
    vgg_path = find_checkpoint("vgg16", random_weights_dir)
    clip_path = find_checkpoint("clip-rn50", random_weights_dir)
    assert vgg_path.name == "vgg16-397923af.pth" and clip_path.name == "open_clip_pytorch_model.bin"
    vgg = VGG16Backbone.from_checkpoint(vgg_path)
    clip = ClipRN50Backbone.from_checkpoint(clip_path)
    images = torch.rand(1, 3, 64, 64)
    assert vgg(images, ["15"]).maps[0].shape == (1, 256, 16, 16)
    features = clip(images, ["layer4.2"], embedding=True)
    assert features.maps[0].shape == (1, 512, 2, 2)
    assert features.embedding is not None and features.embedding.shape == (1, 1024)
