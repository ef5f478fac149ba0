"""Colour statistics shared by colour transfer (``transfer``) and texture recolouring (``recolour``): the mean and
covariance of a set of pixels, and powers of a covariance.

Both work in float64: the covariance of a megapixel image in float32 loses digits that an inverse square root then
magnifies.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mean_and_covariance(pixels: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean ``[3]`` and population covariance ``[3, 3]`` of ``[N, 3]`` pixels (N >= 1), in float64."""
    if pixels.shape[0] == 0:
        raise ValueError("colour statistics need at least one pixel; got none")
    pixels = pixels.double()
    mean = pixels.mean(dim=0)
    centred = pixels - mean
    return mean, centred.T @ centred / pixels.shape[0]


def symmetric_power(matrix: Tensor, power: float, floor: float) -> Tensor:
    """``matrix ** power`` of a symmetric positive semi-definite matrix, by its eigendecomposition, with the
    eigenvalues floored at ``floor`` first (a flat colour direction would otherwise make a negative power
    infinite)."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(floor) ** power) @ vectors.T
