"""Content loss: mean squared error between feature maps, optionally masked (depth-aware variant)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from restyle.losses.gram import check_feature_maps, prepare_mask


def content_loss(features: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error of ``[B, C, H, W]`` features against ``target`` (same shape, or batch 1 broadcast).

    With a ``[B, 1, h, w]`` mask (resized to ``H, W`` as in :func:`restyle.losses.gram.resize_mask`) the
    mean is weighted: ``sum(m * (f - t)^2) / (C * sum(m))``; a mask of ones gives the plain MSE and an
    all-zero mask gives 0.
    """
    check_feature_maps(features)
    check_feature_maps(target, "target")
    if target.shape[1:] != features.shape[1:] or target.shape[0] not in (1, features.shape[0]):
        raise ValueError(
            f"target shape {tuple(target.shape)} does not match features shape {tuple(features.shape)}"
        )
    squared = (features - target.to(features.dtype)).pow(2)
    if mask is None:
        return squared.mean()
    weights = prepare_mask(mask, features).expand(features.shape[0], 1, *features.shape[-2:])
    total = weights.sum() * features.shape[1]
    return (squared * weights).sum() / total.clamp_min(torch.finfo(features.dtype).tiny)


class ContentLoss(nn.Module):
    """Module form of :func:`content_loss`; stateless (the target is an argument)."""

    def forward(self, features: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return content_loss(features, target, mask)
