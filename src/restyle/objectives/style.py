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
from restyle.losses.content import content_loss, scaled_content_loss
from restyle.losses.gram import gram_loss, gram_matrix, relative_gram_loss
from restyle.losses.nnfm import flatten_maps, nnfm_loss
from restyle.sections import Reduction


class StyleObjective(Protocol):
    """Scores backbone features of images ``[B,...]`` against the style; ``mask [B,1,H,W]`` weights positions."""

    def __call__(self, features: Features, mask: torch.Tensor | None = None) -> torch.Tensor: ...


def _weights_for(mask: torch.Tensor | None, feature_map: torch.Tensor) -> torch.Tensor | None:
    """A ``[B,1,H,W]`` mask as per-vector NNFM weights ``[B,N]`` at the feature map's resolution."""
    if mask is None:
        return None
    resized = F.adaptive_avg_pool2d(mask, feature_map.shape[-2:])
    return resized.flatten(1)


def weighted_mean(losses: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """The plain mean of per-tap losses, or ``sum(w_i * l_i) / sum(w_i)`` with weights (one per loss).

    Normalising by the weights' sum keeps a loss's scale, and so its recommended loss weight, whatever the
    per-layer weights are."""
    stacked = torch.stack(list(losses))
    if weights is None:
        return stacked.mean()
    if len(weights) != stacked.shape[0]:
        raise ValueError(f"{len(weights)} weights for {stacked.shape[0]} losses")
    factors = torch.tensor(weights, dtype=stacked.dtype, device=stacked.device)
    return (stacked * factors).sum() / factors.sum()


def combine_layers(
    losses: Sequence[torch.Tensor], weights: Sequence[float] | None = None, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Per-layer losses as one: their (weighted) mean, or with ``sum`` that mean times the number of layers.

    The CLIP paper's code sums its layers' terms, and its loss weights hold for that sum. With per-layer
    weights, ``sum`` is ``sum(w_i * l_i)`` with the weights scaled to sum to the number of layers, so that equal
    weights give the plain sum and the recommended loss weight keeps its meaning whatever the ratios."""
    mean = weighted_mean(losses, weights)
    return mean * len(losses) if reduction == "sum" else mean


def normalised(weights: Sequence[float]) -> tuple[float, ...]:
    """Weights scaled to sum to one (callers have checked that they are >= 0 with a positive sum)."""
    total = sum(weights)
    return tuple(w / total for w in weights)


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
    smoothing: float | None = None  # softmax temperature over channels; None: raw features
    tap_weights: tuple[float, ...] | None = None  # one per tap; None: equal
    reduction: Reduction = "mean"  # how the taps' terms combine (``combine_layers``)

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
        tap_weights: Sequence[float] | None = None,
        reduction: Reduction = "mean",
        **_: object,
    ) -> NNFMObjective:
        """Extract every style image's features at ``taps``; a set larger than ``max_style_vectors`` (0: no
        limit) keeps a seeded random subset, which bounds the matching cost for fine-scale layers. ``smoothing``
        0 or None is off (Gram-only options are ignored)."""
        per_image = [backbone(style, taps).maps for style in styles]
        generator = torch.Generator().manual_seed(seed)
        sets = tuple(
            _subsample(torch.cat([flatten_maps(maps[i]).flatten(0, 1) for maps in per_image]),
                       max_style_vectors, generator)
            for i in range(len(taps))
        )
        return cls(tuple(taps), sets, chunk_size, smoothing or None, _tuple_or_none(tap_weights), reduction)

    @classmethod
    def from_blend(
        cls,
        backbone: Backbone,
        styles: Sequence[torch.Tensor],
        style_weights: Sequence[float],
        taps: Sequence[str],
        **options: object,
    ) -> WeightedStyleSum:
        """One objective per style image (its own feature set), summed with the normalised ``style_weights``;
        ``options`` are those of :meth:`from_styles`.

        Pooled matching cannot be weighted: each output vector just takes its nearest neighbour from whichever
        image has it. Styles of weight 0 are left out (their features would never count)."""
        weights = normalised(style_weights)
        parts = [
            (weight, cls.from_styles(backbone, [style], taps, **options))
            for style, weight in zip(styles, weights, strict=True)
            if weight > 0
        ]
        return WeightedStyleSum(tuple(part for _, part in parts), tuple(weight for weight, _ in parts))

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
        return combine_layers(losses, self.tap_weights, self.reduction)


@dataclass
class GramObjective:
    """Gatys style loss: Gram matrices of the renders against the mean Gram matrix of the style images."""

    taps: tuple[str, ...]
    targets: tuple[torch.Tensor, ...]  # one [C_i, C_i] per tap
    tap_weights: tuple[float, ...] | None = None  # one per tap; None: equal
    relative: bool = False  # each tap's loss relative to its target's energy (``relative_gram_loss``)
    reduction: Reduction = "mean"  # how the taps' terms combine (``combine_layers``)

    @classmethod
    @torch.no_grad()
    def from_styles(
        cls,
        backbone: Backbone,
        styles: Sequence[torch.Tensor],
        taps: Sequence[str],
        *,
        style_weights: Sequence[float] | None = None,
        tap_weights: Sequence[float] | None = None,
        relative: bool = False,
        reduction: Reduction = "mean",
        **_: object,
    ) -> GramObjective:
        """Mean Gram matrix over the style images at each tap, weighted by ``style_weights`` when given
        (NNFM-only options are ignored)."""
        per_image = [backbone(style, taps).maps for style in styles]
        targets = tuple(
            _mean_target(torch.stack([gram_matrix(maps[i])[0] for maps in per_image]), style_weights)
            for i in range(len(taps))
        )
        return cls(tuple(taps), targets, _tuple_or_none(tap_weights), relative, reduction)

    @classmethod
    def from_blend(
        cls,
        backbone: Backbone,
        styles: Sequence[torch.Tensor],
        style_weights: Sequence[float],
        taps: Sequence[str],
        *,
        tap_weights: Sequence[float] | None = None,
        relative: bool = False,
        reduction: Reduction = "mean",
        **_: object,
    ) -> GramObjective:
        """A blend of styles is one target: the weighted mean of their Gram matrices (Gatys et al.)."""
        return cls.from_styles(backbone, styles, taps, style_weights=style_weights, tap_weights=tap_weights,
                               relative=relative, reduction=reduction)

    def __call__(self, features: Features, mask: torch.Tensor | None = None) -> torch.Tensor:
        loss = relative_gram_loss if self.relative else gram_loss
        losses = [loss(fmap, target, mask=mask) for fmap, target in zip(features.maps, self.targets, strict=True)]
        return combine_layers(losses, self.tap_weights, self.reduction)


def _mean_target(per_image: torch.Tensor, weights: Sequence[float] | None) -> torch.Tensor:
    """Mean over the first dimension of ``[S, ...]``, weighted by ``S`` normalised weights when given."""
    if weights is None:
        return per_image.mean(0)
    factors = torch.tensor(normalised(weights), dtype=per_image.dtype, device=per_image.device)
    return (per_image * factors.reshape(-1, *[1] * (per_image.ndim - 1))).sum(0)


def _tuple_or_none(values: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if values is None else tuple(values)


@dataclass
class WeightedStyleSum:
    """Several style objectives (one per style image) summed with fixed weights."""

    parts: tuple[StyleObjective, ...]
    weights: tuple[float, ...]

    def __call__(self, features: Features, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([w * part(features, mask) for part, w in zip(self.parts, self.weights, strict=True)]).sum()


def content_objective(
    features: Features,
    targets: Features,
    mask: torch.Tensor | None = None,
    tap_weights: Sequence[float] | None = None,
    reduction: Reduction = "mean",
    gamma: torch.Tensor | None = None,
) -> torch.Tensor:
    """The feature MSE between ``features`` and ``targets`` per tap, combined over taps by ``reduction``
    (weighted by ``tap_weights`` when given, see ``combine_layers``). ``mask`` weights which positions count;
    ``gamma`` ``[B,1,H,W]`` scales each position's error instead (the depth-aware content loss)."""
    if gamma is not None:
        losses = [scaled_content_loss(f, t, gamma) for f, t in zip(features.maps, targets.maps, strict=True)]
    else:
        losses = [content_loss(f, t, mask=mask) for f, t in zip(features.maps, targets.maps, strict=True)]
    return combine_layers(losses, tap_weights, reduction)
