"""Colour-palette loss (Mishra & Granskog): Euclidean distance of each pixel/texel to its nearest palette colour.

Applied to a texture ``[3, Ht, Wt]`` (with a coverage mask so that unused UV space is ignored, which
the seed code did not do) or to an image batch ``[B, 3, H, W]``. The nearest colour is chosen without
gradient; gradients flow to the colours (and to the palette, if it requires grad) through the chosen
pair only.

The distance is the L2 norm, as the paper's ``cdist``, not its square: the pull towards the palette has the
same strength (the weight) at any distance, where a squared distance's pull fades to nothing near the palette.
The norm's gradient is undefined at exactly 0; there it is taken as 0 (a colour on the palette stays put).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _check_inputs(colors: Tensor, palette: Tensor, mask: Tensor | None) -> None:
    if colors.ndim < 3 or colors.shape[-3] != 3 or not colors.is_floating_point():
        raise ValueError(
            f"colors must be a float tensor [..., 3, H, W], got {tuple(colors.shape)} {colors.dtype}"
        )
    if palette.ndim != 2 or palette.shape[1] != 3 or palette.shape[0] == 0:
        raise ValueError(f"palette must be [K, 3] with K >= 1, got shape {tuple(palette.shape)}")
    if mask is None:
        return
    expected = (*colors.shape[:-3], 1, *colors.shape[-2:])
    if mask.ndim != colors.ndim or mask.shape[-3] != 1 or mask.shape[-2:] != colors.shape[-2:]:
        raise ValueError(f"mask must be {expected} (like colors, one channel), got {tuple(mask.shape)}")
    try:
        torch.broadcast_shapes(mask.shape, expected)
    except RuntimeError:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not broadcast to {expected}") from None
    if bool((mask < 0).any()):
        raise ValueError("mask values must be >= 0")


@torch.no_grad()
def nearest_palette_indices(pixels: Tensor, palette: Tensor) -> Tensor:
    """Index of the nearest palette colour ``[K, 3]`` for each of ``pixels`` ``[P, 3]`` -> ``[P]``."""
    # |c|^2 - 2 c.p + |p|^2 without the [P, K, 3] difference tensor; |c|^2 does not change the argmin.
    scores = palette.pow(2).sum(dim=1) - 2.0 * pixels @ palette.T  # [P, K]
    return scores.argmin(dim=1)


def _safe_norm(vectors: Tensor) -> Tensor:
    """L2 norm over the last axis with a zero (not NaN) gradient at the zero vector."""
    squared = vectors.pow(2).sum(dim=-1)
    nonzero = squared > 0
    # sqrt is only differentiated where it is finite: the other branch's sqrt(1) has a zero gradient.
    return torch.where(nonzero, torch.where(nonzero, squared, 1.0).sqrt(), 0.0)


def palette_distances(colors: Tensor, palette: Tensor) -> Tensor:
    """Euclidean distance of each colour ``[..., 3, H, W]`` to its nearest palette entry: ``[..., 1, H, W]``."""
    pixels = colors.movedim(-3, -1)  # [..., H, W, 3]
    palette = palette.to(colors.dtype)
    nearest = palette[nearest_palette_indices(pixels.reshape(-1, 3), palette)].reshape(pixels.shape)
    return _safe_norm(pixels - nearest).unsqueeze(-3)


def palette_loss(colors: Tensor, palette: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean over pixels/texels of the Euclidean distance to the nearest palette colour.

    Args:
        colors: ``[..., 3, H, W]``: an image batch ``[B, 3, H, W]`` or a texture ``[3, Ht, Wt]``, 0..1.
        palette: ``[K, 3]`` palette colours in 0..1.
        mask: optional ``[..., 1, H, W]`` coverage (broadcast over leading dims); the loss becomes
            ``sum(m * d) / sum(m)`` and an all-zero mask gives 0.
    """
    _check_inputs(colors, palette, mask)
    distances = palette_distances(colors, palette)
    if mask is None:
        return distances.mean()
    weights = mask.to(distances.dtype).expand_as(distances)
    return (weights * distances).sum() / weights.sum().clamp_min(torch.finfo(distances.dtype).tiny)


class PaletteLoss(nn.Module):
    """Module form of :func:`palette_loss`; stateless (the palette is an argument)."""

    def forward(self, colors: Tensor, palette: Tensor, mask: Tensor | None = None) -> Tensor:
        return palette_loss(colors, palette, mask)
