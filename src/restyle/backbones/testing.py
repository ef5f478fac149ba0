"""Random weights saved in the published checkpoint formats, for tests and benchmarks.

No pretrained file can be downloaded on the development and CI machines; these files exercise the real
loading path (same file type, same key names, same shapes, so the same FLOPs) with random values.
"""

from __future__ import annotations

from pathlib import Path

import torch

from restyle.backbones.clip_rn50 import ClipRN50Backbone
from restyle.backbones.vgg16 import VGG16Backbone


def write_random_checkpoints(folder: Path, *, seed: int = 20220809) -> Path:
    """Write full-size random ``vgg16-397923af.pth`` (torchvision layout; a tiny stand-in for the unused
    120M-parameter classifier) and ``open_clip_pytorch_model.bin`` (open_clip CLIP RN50: ``visual.*`` plus
    a text key that loaders must ignore) into ``folder``. The global RNG is left as it was."""
    folder.mkdir(parents=True, exist_ok=True)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        vgg_state = dict(VGG16Backbone().state_dict())
        vgg_state["classifier.6.weight"] = torch.zeros(10, 8)
        vgg_state["classifier.6.bias"] = torch.zeros(10)
        torch.save(vgg_state, folder / "vgg16-397923af.pth")
        clip_state = dict(ClipRN50Backbone().state_dict())
        clip_state["logit_scale"] = torch.tensor(4.6052)
        torch.save(clip_state, folder / "open_clip_pytorch_model.bin")
    finally:
        torch.random.set_rng_state(generator_state)
    return folder
