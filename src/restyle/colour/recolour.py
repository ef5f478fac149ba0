"""Colour transfer of a texture to the style images' colour statistics (ARF's pre-stylisation step).

The linear map is the Monge-Kantorovich one (Pitie & Kokaram 2007, used by ARF): among the affine maps that give
the source the target's mean and covariance, it moves colours the least. Texture atlases have nearly degenerate
colour covariances (Spot's: eigenvalues 3e-8, 3e-3, 8e-2), and ``C^-1/2`` of those multiplies invisible noise
into garish colours, so the source covariance is floored at a fraction of its total variance first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from restyle.colour.statistics import mean_and_covariance, symmetric_power

# Smallest source variance per colour direction, as a fraction of the total variance (trace).
_VARIANCE_FLOOR = 1e-2
# Every eigenvalue is floored at least here before a power: a zero one would make a negative power infinite.
_MIN_EIGENVALUE = 1e-12


def colour_transfer_map(source: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """The affine map ``x -> x @ matrix.T + offset`` taking ``source [N,3]`` pixels' colour statistics to those of
    ``target [M,3]`` (float64 ``[3,3]`` and ``[3]``)."""
    source_mean, source_cov = mean_and_covariance(source)
    target_mean, target_cov = mean_and_covariance(target)
    floor = max(_VARIANCE_FLOOR * float(torch.trace(source_cov)) / 3, _MIN_EIGENVALUE)
    root, inverse_root = symmetric_power(source_cov, 0.5, floor), symmetric_power(source_cov, -0.5, floor)
    matrix = inverse_root @ symmetric_power(root @ target_cov @ root, 0.5, _MIN_EIGENVALUE) @ inverse_root
    return matrix, target_mean - source_mean @ matrix.T


@dataclass(frozen=True)
class ColourMap:
    """A fitted per-texel colour map ``x -> clamp(x @ matrix.T + offset, 0, 1)``.

    Fitted once on the optimised texture and applied again to the full-resolution original at export, so both
    get exactly the same recolouring whatever their sizes."""

    matrix: Tensor  # [3, 3] float64
    offset: Tensor  # [3] float64

    def apply(self, texture: Tensor) -> Tensor:
        """``texture [3,Ht,Wt]`` (any size, any device) mapped texel by texel, clamped to 0..1, in its dtype."""
        matrix, offset = self.matrix.to(texture.device), self.offset.to(texture.device)
        flat = texture.reshape(3, -1).T.double() @ matrix.T + offset
        return flat.T.reshape(texture.shape).to(texture.dtype).clamp(0.0, 1.0)


def fit_colour_map(texture: Tensor, covered: Tensor, styles: Sequence[Tensor]) -> ColourMap | None:
    """The map giving the ``covered [Ht,Wt]`` texels of ``texture [3,Ht,Wt]`` the colour statistics of the pooled
    pixels of ``styles`` (``[1,3,H,W]`` each); None when no texel is covered (nothing to fit: keep the texture)."""
    if not bool(covered.any()):
        return None
    source = texture[:, covered].T
    target = torch.cat([style.reshape(3, -1).T for style in styles]).to(texture)
    return ColourMap(*colour_transfer_map(source, target))


def recolour_texture(texture: Tensor, covered: Tensor, styles: Sequence[Tensor]) -> Tensor:
    """``texture [3,Ht,Wt]`` recoloured so that its ``covered [Ht,Wt]`` texels take the colour statistics of the
    pooled pixels of ``styles`` (``[1,3,H,W]`` each). Every texel goes through the same map, so texels no view
    sees (seams, mip borders) keep matching their neighbours. Clamped to 0..1."""
    colour_map = fit_colour_map(texture, covered, styles)
    return texture.clone() if colour_map is None else colour_map.apply(texture)
