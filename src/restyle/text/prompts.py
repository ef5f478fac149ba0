"""A prompt -> one unit CLIP text embedding, averaged over our own set of sentence templates.

Averaging the normalised embeddings of a prompt written into several templates ("prompt engineering",
as CLIPstyler does) gives a steadier direction than the bare prompt. The templates below are our wording.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Protocol

import torch
import torch.nn.functional as F

from restyle.errors import InputError

PROMPT_TEMPLATES: tuple[str, ...] = (
    "{}.",
    "a photo of {}.",
    "a picture of {}.",
    "a painting of {}.",
    "an artwork in the style of {}.",
    "an image that looks like {}.",
    "a close-up picture of {}.",
    "a detailed rendering of {}.",
    "a drawing of {}.",
    "a texture of {}.",
    "a high-quality photo of {}.",
    "a blurry photo of {}.",
    "a surface covered in {}.",
    "an illustration of {}.",
)


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
    """``[D]`` unit vector: the normalised mean of the normalised embeddings of ``prompt`` in each template.

    No gradient flows (the text side is a fixed target). Cached per (encoder, prompt, templates).
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
        embeddings = F.normalize(encoder.encode_text(tokens.to(device)).float(), dim=-1)
        return F.normalize(embeddings.mean(dim=0), dim=-1)


def _device_of(encoder: object) -> torch.device:
    parameters = getattr(encoder, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")
