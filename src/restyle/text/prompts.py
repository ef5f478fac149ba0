"""A prompt -> one unit CLIP text embedding, averaged over the ImageNet prompt templates, as CLIPstyler does.

"Prompt engineering" (Radford et al. 2021): the prompt is written into each of OpenAI's ImageNet templates,
the text tower embeds every sentence, and the mean embedding is a steadier target than the bare prompt.
CLIPstyler (Kwon & Ye 2022) uses 79 of OpenAI's 80 templates (not "a photo of many {}.") and averages the raw
embeddings, normalising only their mean: a sentence the tower embeds with a larger norm weighs more. That is
what :func:`encode_prompt` does, with the same templates in the same order.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F

from restyle.errors import InputError

# OpenAI's ImageNet templates as CLIPstyler's template.py lists them (79, in its order). Data, not wording of ours.
IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.",
)
PROMPT_TEMPLATES = IMAGENET_TEMPLATES  # the default of encode_prompt


class TextEncoder(Protocol):
    """What ``encode_prompt`` needs: token ids ``[B, L]`` -> embeddings ``[B, D]``."""

    name: str

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor: ...


class Tokenizer(Protocol):
    def __call__(self, prompts: Sequence[str]) -> torch.Tensor: ...


# Per encoder (dropped with it), per (prompt, templates): the finished [D] embedding.
_CACHE: weakref.WeakKeyDictionary[object, dict[tuple[str, tuple[str, ...]], torch.Tensor]] = (
    weakref.WeakKeyDictionary()
)


def encode_prompt(
    prompt: str, encoder: TextEncoder, tokenizer: Tokenizer, templates: Sequence[str] = PROMPT_TEMPLATES
) -> torch.Tensor:
    """``[D]`` unit vector: the normalised mean of the raw embeddings of ``prompt`` in each template (CLIPstyler's
    order: average first, normalise once).

    No gradient flows (the text side is a fixed target). Cached per (encoder, prompt, templates), in memory only.
    """
    prompt = prompt.strip()
    if not prompt:
        raise InputError("the text prompt is empty: give a few words describing the style")
    templates = tuple(templates)
    if not templates or any("{}" not in template for template in templates):
        raise InputError("every prompt template must contain '{}' (where the prompt goes), and one is needed")
    per_encoder = _CACHE.setdefault(encoder, {})
    key = (prompt, templates)
    if key not in per_encoder:
        per_encoder[key] = _average_embedding(prompt, encoder, tokenizer, templates)
    return per_encoder[key]


def clear_prompt_cache() -> None:
    """Forget every cached prompt embedding (e.g. after changing an encoder's weights in place)."""
    _CACHE.clear()


def _average_embedding(
    prompt: str, encoder: TextEncoder, tokenizer: Tokenizer, templates: tuple[str, ...]
) -> torch.Tensor:
    tokens = tokenizer([template.format(prompt) for template in templates])
    device = _device_of(encoder)
    with torch.no_grad():
        embeddings = encoder.encode_text(tokens.to(device)).float()
        return F.normalize(embeddings.mean(dim=0), dim=-1)


def _device_of(encoder: object) -> torch.device:
    parameters = getattr(encoder, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")
