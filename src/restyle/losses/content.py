"""Content loss: mean squared error between feature maps, optionally masked.

Two masked forms: :func:`content_loss` with a mask is a weighted mean (for coverage: which pixels count at all),
and :func:`scaled_content_loss` is the depth-aware report's ``mean((γ ⊙ (F − P))²)`` (Jamgochian et al., CS231n),
where γ scales the error and nothing renormalises, so a region at γ = 0.8 keeps 64% of its pull.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from restyle.conventions import float32_sums
from restyle.losses.gram import check_feature_maps, prepare_mask


def _check_pair(features: Tensor, target: Tensor) -> None:
    check_feature_maps(features)
    check_feature_maps(target, "target")
    if target.shape[1:] != features.shape[1:] or target.shape[0] not in (1, features.shape[0]):
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match features shape {tuple(features.shape)}"
        )


@float32_sums
def content_loss(features: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error of ``[B, C, H, W]`` features against ``target`` (same shape, or batch 1 broadcast).

    With a ``[B, 1, h, w]`` mask (resized to ``H, W`` as in :func:`restyle.losses.gram.resize_mask`) the
    mean is weighted: ``sum(m * (f - t)^2) / (C * sum(m))``; a mask of ones gives the plain MSE and an
    all-zero mask gives 0.
    """
    _check_pair(features, target)
    squared = (features - target.to(features.dtype)).pow(2)
    if mask is None:
        return squared.mean()
    weights = prepare_mask(mask, features).expand(features.shape[0], 1, *features.shape[-2:])
    total = weights.sum() * features.shape[1]
    return (squared * weights).sum() / total.clamp_min(torch.finfo(features.dtype).tiny)


@float32_sums
def scaled_content_loss(features: Tensor, target: Tensor, gamma: Tensor) -> Tensor:
    """``mean((γ ⊙ (F − P))²)`` over ``[B, C, H, W]`` features, with ``gamma`` ``[B or 1, 1, h, w]`` >= 0 resized
    to ``H, W`` (see :func:`restyle.losses.gram.resize_mask`). γ = 1 everywhere gives :func:`content_loss`."""
    _check_pair(features, target)
    scale = prepare_mask(gamma, features)
    return (scale * (features - target.to(features.dtype))).pow(2).mean()


class ContentLoss(nn.Module):
    """Module form of :func:`content_loss`; stateless (the target is an argument)."""

    def forward(self, features: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return content_loss(features, target, mask)


class ScaledContentLoss(nn.Module):
    """Module form of :func:`scaled_content_loss`; stateless."""

    def forward(self, features: Tensor, target: Tensor, gamma: Tensor) -> Tensor:
        return scaled_content_loss(features, target, gamma)
