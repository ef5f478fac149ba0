"""Objectives: a loss function bound to a backbone's taps and precomputed targets.

Losses (``restyle.losses``) are pure tensor functions; an objective holds what a run computes once (the style
feature sets or Gram matrices, the content targets) and turns backbone ``Features`` into a scalar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from restyle.backbones.base import Backbone, Features
from restyle.losses.content import content_loss
from restyle.losses.gram import gram_loss, gram_matrix
from restyle.losses.nnfm import flatten_maps, nnfm_loss


class StyleObjective(Protocol):
    """Scores backbone features of images ``[B,...]`` against the style; ``mask [B,1,H,W]`` weights positions."""

    def __call__(self, features: Features, mask: torch.Tensor | None = None) -> torch.Tensor: ...


def _weights_for(mask: torch.Tensor | None, feature_map: torch.Tensor) -> torch.Tensor | None:
    """A ``[B,1,H,W]`` mask as per-vector NNFM weights ``[B,N]`` at the feature map's resolution."""
    if mask is None:
        return None
    resized = F.adaptive_avg_pool2d(mask, feature_map.shape[-2:])
    return resized.flatten(1)


def _subsample(vectors: torch.Tensor, limit: int, generator: torch.Generator) -> torch.Tensor:
    if limit <= 0 or vectors.shape[0] <= limit:
        return vectors
    keep = torch.randperm(vectors.shape[0], generator=generator)[:limit]
    return vectors[keep.to(vectors.device)]


@dataclass
class NNFMObjective:
    """Nearest-neighbour feature matching against the concatenated features of every style image."""

    taps: tuple[str, ...]
    style_sets: tuple[torch.Tensor, ...]  # one [M_i, C_i] per tap, all style images concatenated
    chunk_size: int = 4096
    smoothing: float | None = None

    @classmethod
    @torch.no_grad()
    def from_styles(
        cls,
        backbone: Backbone,
        styles: Sequence[torch.Tensor],
        taps: Sequence[str],
        *,
        chunk_size: int = 4096,
        smoothing: float | None = None,
        max_style_vectors: int = 0,
        seed: int = 0,
    ) -> NNFMObjective:
        """Extract every style image's features at ``taps``; a set larger than ``max_style_vectors`` (0: no
        limit) keeps a seeded random subset, which bounds the matching cost for fine-scale layers."""
        per_image = [backbone(style, taps).maps for style in styles]
        generator = torch.Generator().manual_seed(seed)
        sets = tuple(
            _subsample(torch.cat([flatten_maps(maps[i]).flatten(0, 1) for maps in per_image]),
                       max_style_vectors, generator)
            for i in range(len(taps))
        )
        return cls(tuple(taps), sets, chunk_size, smoothing)

    def __call__(self, features: Features, mask: torch.Tensor | None = None) -> torch.Tensor:
        losses = [
            nnfm_loss(
                flatten_maps(fmap),
                style,
                weights=_weights_for(mask, fmap),
                chunk_size=self.chunk_size,
                smoothing=self.smoothing,
            )
            for fmap, style in zip(features.maps, self.style_sets, strict=True)
        ]
        return torch.stack(losses).mean()


@dataclass
class GramObjective:
    """Gatys style loss: Gram matrices of the renders against the mean Gram matrix of the style images."""

    taps: tuple[str, ...]
    targets: tuple[torch.Tensor, ...]  # one [C_i, C_i] per tap

    @classmethod
    @torch.no_grad()
    def from_styles(
        cls, backbone: Backbone, styles: Sequence[torch.Tensor], taps: Sequence[str], **_: object
    ) -> GramObjective:
        """Mean Gram matrix over the style images at each tap (NNFM-only options are ignored)."""
        per_image = [backbone(style, taps).maps for style in styles]
        targets = tuple(
            torch.stack([gram_matrix(maps[i])[0] for maps in per_image]).mean(0) for i in range(len(taps))
        )
        return cls(tuple(taps), targets)

    def __call__(self, features: Features, mask: torch.Tensor | None = None) -> torch.Tensor:
        losses = [
            gram_loss(fmap, target, mask=mask) for fmap, target in zip(features.maps, self.targets, strict=True)
        ]
        return torch.stack(losses).mean()


def content_objective(features: Features, targets: Features, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over taps of the feature L2 between ``features`` and ``targets``."""
    losses = [content_loss(f, t, mask=mask) for f, t in zip(features.maps, targets.maps, strict=True)]
    return torch.stack(losses).mean()
