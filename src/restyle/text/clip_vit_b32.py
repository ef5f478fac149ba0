"""OpenAI's CLIP ViT-B/32 through transformers' ``CLIPModel``, loaded from a local folder only.

The folder is the one the weights machinery finds for "clip-vit-b32" (``model.safetensors`` or
``pytorch_model.bin`` with ``config.json``, ``vocab.json`` and ``merges.txt`` beside it, as in the hub repo
``openai/clip-vit-base-patch32``). Text and image embeddings share one space of ``projection_dim`` (512).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from restyle.backbones.clip_rn50 import CLIP_MEAN, CLIP_STD
from restyle.backbones.precision import FP32, Precision
from restyle.backbones.weights import load_backbone_weights, load_transformers_model
from restyle.errors import InputError


class ClipViTB32(nn.Module):
    """Token ids ``[B, L]`` -> ``[B, D]`` and sRGB images ``[B, 3, H, W]`` (0..1) -> ``[B, D]``; frozen, eval."""

    name = "clip-vit-b32"
    precision: Precision = FP32  # of the image tower, per step (set by the run; see objectives.text.load_clip)

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_folder(cls, folder: Path) -> ClipViTB32:
        """Load ``CLIPModel`` from ``folder`` without the network; InputError (one line) for an unusable folder."""
        from transformers import CLIPModel

        return cls(load_transformers_model(CLIPModel, Path(folder), "CLIP ViT-B/32"))

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def context_length(self) -> int:
        return int(self.model.config.text_config.max_position_embeddings)

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    def train(self, mode: bool = True) -> ClipViTB32:
        # Frozen feature extractor: always in eval mode, whatever the caller asks.
        return super().train(False)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` ``[B, L]`` int64 -> ``[B, D]`` (not normalised)."""
        pooled = self.model.text_model(input_ids=tokens).pooler_output
        return self.model.text_projection(pooled)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` ``[B, 3, H, W]`` sRGB 0..1 -> ``[B, D]`` (not normalised); resized to the model's input size."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise InputError(f"expected images [B, 3, H, W], got shape {list(images.shape)}")
        size = (self.image_size, self.image_size)
        if tuple(images.shape[-2:]) != size:
            images = F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=True)
        pixels = ((images - self.mean) / self.std).to(self.mean.dtype)
        # the image tower runs every step (dozens of crops): the run's precision; the text tower runs once, in fp32
        return self.precision.run(self._image_embedding, pixels)

    def _image_embedding(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.visual_projection(self.model.vision_model(pixel_values=pixels).pooler_output)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encode_text(tokens)


def load_clip_vit_b32(weights_dir: Path | None = None, download: bool = False) -> ClipViTB32:
    """ViT-B/32 CLIP from the weights machinery; WeightsMissingError naming `restyle weights download clip-vit-b32`."""
    return ClipViTB32.from_folder(load_backbone_weights("clip-vit-b32", weights_dir, download=download).parent)
