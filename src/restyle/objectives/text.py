"""The CLIP side of the text losses: the text encoder by name, and the direction from a source text to a prompt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from restyle.backbones.precision import Precision
from restyle.errors import ConfigError
from restyle.losses.clip_text import text_direction
from restyle.objectives.registry import lookup
from restyle.sections import WeightsConfig
from restyle.text.clip_vit_b32 import ClipViTB32, load_clip_vit_b32
from restyle.text.prompts import encode_prompt
from restyle.text.tokenizer import ClipTokenizer, load_clip_tokenizer

# name -> loader of a CLIP model with encode_text and a differentiable encode_image
TEXT_ENCODERS: dict[str, Callable[[Path | None, bool], ClipViTB32]] = {"clip-vit-b32": load_clip_vit_b32}


def load_clip(
    name: str, pretrained: WeightsConfig, device: torch.device, *, precision: Precision
) -> tuple[ClipViTB32, ClipTokenizer]:
    """The CLIP model (its image tower to run in ``precision``) and its tokenizer."""
    # The model first: when nothing is there, its missing-weights message names the download that brings both.
    clip = lookup(TEXT_ENCODERS, name, "text encoder")(pretrained.weights_dir, pretrained.download).to(device)
    clip.precision = precision
    return clip, load_clip_tokenizer(pretrained.weights_dir, pretrained.download)


@torch.no_grad()
def prompt_direction(prompt: str, source: str, clip: ClipViTB32, tokenizer: ClipTokenizer) -> torch.Tensor:
    """The unit CLIP direction ``[D]`` from the source text to the prompt; a zero one is a config error."""
    direction = text_direction(encode_prompt(prompt, clip, tokenizer), encode_prompt(source, clip, tokenizer))
    if not bool(direction.norm() > 0):
        raise ConfigError(f"the prompt {prompt!r} and the source text {source!r} give the same CLIP embedding: "
                          "there is no direction to follow; change one of them")
    return direction
