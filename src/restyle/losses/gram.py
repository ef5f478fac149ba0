"""Gram-matrix style loss (Gatys et al. 2016), with the depth-aware report's masked normalisation.

Normalisation: the Gram matrix is divided by the number of positions ``H * W``. With a mask ``m`` the
features are weighted by ``m`` and the Gram is divided by ``H * W * mean(m^2) = sum(m^2)`` (Jamgochian
et al., CS231n), so the masked Gram of a uniform mask equals the unmasked Gram.

Masks whose spatial size differs from the features are resized here (:func:`resize_mask`): by area
averaging when both sides shrink (a coverage fraction per feature cell, as the backbone's pooling
sees it), bilinearly (``align_corners=False``) otherwise.

:func:`relative_gram_loss` divides by the target's own mean square, so that layers whose activations differ by
orders of magnitude weigh alike (on the Caffe VGG19 the plain loss spans five orders from relu1_1 to relu4_1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restyle.conventions import float32_sums


def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a ``[B, 1, h, w]`` mask to ``size = (H, W)``; area when shrinking both sides, else bilinear."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    if mask.shape[-2] >= size[0] and mask.shape[-1] >= size[1]:
        return F.interpolate(mask, size=size, mode="area")
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False)


def check_feature_maps(features: Tensor, name: str = "features") -> None:
    """Raise ValueError unless ``features`` is a floating ``[B, C, H, W]`` tensor."""
    if features.ndim != 4 or not features.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor [B, C, H, W], got {tuple(features.shape)} {features.dtype}"
        )


def prepare_mask(mask: Tensor, features: Tensor) -> Tensor:
    """Validate a ``[B or 1, 1, h, w]`` mask against ``[B, C, H, W]`` features and resize it to ``H, W``."""
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be [B, 1, H, W], got shape {tuple(mask.shape)}")
    if mask.shape[0] not in (1, features.shape[0]):
        raise ValueError(f"mask batch {mask.shape[0]} does not match features batch {features.shape[0]}")
    if bool((mask < 0).any()):
        raise ValueError("mask values must be >= 0")
    return resize_mask(mask.to(features.dtype), tuple(features.shape[-2:]))


@float32_sums
def gram_matrix(features: Tensor, mask: Tensor | None = None) -> Tensor:
    """Gram matrix ``[B, C, C]`` of ``[B, C, H, W]`` features, optionally masked by ``[B, 1, h, w]``.

    ``G = F F^T / (H W)``, or with a mask ``(m F)(m F)^T / sum(m^2)``; an all-zero mask gives zeros.
    """
    check_feature_maps(features)
    flat = features.flatten(2)  # [B, C, H*W]
    if mask is None:
        return flat @ flat.transpose(1, 2) / flat.shape[-1]
    weights = prepare_mask(mask, features).flatten(2)  # [B, 1, H*W]
    weighted = flat * weights
    norm = (weights**2).sum(dim=-1, keepdim=True).expand(features.shape[0], 1, 1)
    return weighted @ weighted.transpose(1, 2) / norm.clamp_min(torch.finfo(features.dtype).tiny)


@float32_sums
def gram_loss(features: Tensor, target_gram: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared difference between the Gram of ``features`` and ``target_gram``.

    ``target_gram`` is ``[C, C]`` (one style for all views) or ``[B, C, C]``; ``mask`` as in ``gram_matrix``.
    """
    gram = gram_matrix(features, mask)
    _checked_target(target_gram, features)
    return (gram - target_gram.to(gram.dtype)).pow(2).mean()


@float32_sums
def relative_gram_loss(features: Tensor, target_gram: Tensor, mask: Tensor | None = None) -> Tensor:
    """:func:`gram_loss` relative to the target: ``||G - T||_F^2 / ||T||_F^2``, averaged over the batch.

    Scale-free: scaling the features by ``s`` scales both Gram matrices by ``s^2`` and leaves this unchanged,
    so each layer of a network weighs by how far its statistics are from the style's, not by its activation
    scale. An image with all-zero features is at exactly 1 on every layer. Arguments as in :func:`gram_loss`;
    a ``[B, C, C]`` target normalises each view by its own target.
    """
    gram = gram_matrix(features, mask)
    target = _checked_target(target_gram, features).to(gram.dtype).expand_as(gram)
    error = (gram - target).pow(2).flatten(1).sum(1)
    energy = target.pow(2).flatten(1).sum(1).clamp_min(torch.finfo(gram.dtype).tiny)
    return (error / energy).mean()


def _checked_target(target_gram: Tensor, features: Tensor) -> Tensor:
    """``target_gram`` as ``[1 or B, C, C]`` after checking it against ``[B, C, H, W]`` features."""
    channels = features.shape[1]
    if target_gram.ndim not in (2, 3) or tuple(target_gram.shape[-2:]) != (channels, channels):
        raise ValueError(
            f"target_gram must be [C, C] or [B, C, C] with C={channels}, got {tuple(target_gram.shape)}"
        )
    if target_gram.ndim == 3 and target_gram.shape[0] not in (1, features.shape[0]):
        raise ValueError(
            f"target_gram batch {target_gram.shape[0]} does not match features batch {features.shape[0]}"
        )
    return target_gram.reshape(-1, channels, channels)


class GramLoss(nn.Module):
    """Module form of :func:`gram_loss`; stateless, like every loss module here (targets are arguments)."""

    def forward(self, features: Tensor, target_gram: Tensor, mask: Tensor | None = None) -> Tensor:
        return gram_loss(features, target_gram, mask)


class RelativeGramLoss(nn.Module):
    """Module form of :func:`relative_gram_loss`; stateless."""

    def forward(self, features: Tensor, target_gram: Tensor, mask: Tensor | None = None) -> Tensor:
        return relative_gram_loss(features, target_gram, mask)
