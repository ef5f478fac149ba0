"""Texel dilation ("push-pull" padding) so that texture seams do not show.

Bilinear and mip-mapped sampling read texels just outside a UV island. Texels no view ever saw keep
whatever the optimiser left there, which shows up as dark or noisy seams. Push-pull padding fills every
uncovered texel with a smooth continuation of the covered texels around it:

* push: build a pyramid, each level the mean of the *covered* texels of the 2x2 block below it;
* pull: walk back up, filling each level's uncovered texels from the (already complete) coarser level.

Covered texels are never changed.
"""

from __future__ import annotations

import numpy as np


def dilate_texture(texture: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Fill the texels of ``texture`` where ``coverage`` is false from the covered texels around them.

    texture:  ``[Ht, Wt, C]`` or ``[Ht, Wt]`` float array.
    coverage: ``[Ht, Wt]`` bool (or 0/1) array, true where a texel holds a meaningful value.
    Returns a new float array of the texture's shape and dtype. With no covered texel at all the texture
    is returned unchanged (there is nothing to spread).
    """
    texture = np.asarray(texture)
    covered = np.asarray(coverage).astype(bool)
    if covered.shape != texture.shape[:2]:
        raise ValueError(f"coverage must be [Ht, Wt] = {texture.shape[:2]}, got {covered.shape}")
    if not covered.any() or covered.all():
        return texture.copy()
    planar = texture[..., None] if texture.ndim == 2 else texture
    filled = _push_pull(planar.astype(np.float64), covered)
    filled = filled[..., 0] if texture.ndim == 2 else filled
    # covered texels are copied from the input bit for bit, whatever the pyramid arithmetic did
    result = np.where(covered[..., None] if texture.ndim == 3 else covered, texture, filled)
    return result.astype(texture.dtype, copy=False)


def _push_pull(values: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """Recursive push-pull on ``values [H, W, C]`` (float64); returns a fully filled ``[H, W, C]``."""
    # terminates: each level halves the size and keeps at least one covered texel, so 1x1 is covered
    if covered.all():
        return values
    coarse_values, coarse_covered = _downsample_covered_mean(values, covered)
    coarse_filled = _push_pull(coarse_values, coarse_covered)
    upsampled = _upsample_nearest(coarse_filled, covered.shape)
    return np.where(covered[..., None], values, upsampled)


def _downsample_covered_mean(values: np.ndarray, covered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 mean over covered texels only; an odd edge is padded with uncovered texels."""
    height, width = covered.shape
    pad = ((0, height % 2), (0, width % 2))
    weights = np.pad(covered.astype(np.float64), pad)
    weighted = np.pad(values * weights[:height, :width, None], (*pad, (0, 0)))
    h2, w2 = weights.shape[0] // 2, weights.shape[1] // 2
    weight_sum = weights.reshape(h2, 2, w2, 2).sum(axis=(1, 3))
    value_sum = weighted.reshape(h2, 2, w2, 2, -1).sum(axis=(1, 3))
    coarse_covered = weight_sum > 0
    coarse = np.zeros_like(value_sum)
    coarse[coarse_covered] = value_sum[coarse_covered] / weight_sum[coarse_covered, None]
    return coarse, coarse_covered


def _upsample_nearest(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return values.repeat(2, axis=0).repeat(2, axis=1)[: shape[0], : shape[1]]
