"""UV-space textures: wrap modes, and rasterising per-vertex attributes into a texture (vertex-colour baking).

Pixel convention as everywhere in ``restyle.io``: UV origin bottom-left, row 0 of the texture = v 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np

from restyle.io.texture_padding import dilate_texture

Wrap = Literal["repeat", "clamp"]  # how texture coordinates outside 0..1 address a texture

_RASTER_BUDGET = 1 << 22  # texels tested per vectorised chunk: bounds memory on big triangles


def bake_vertex_colors(islands: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], size: int) -> np.ndarray:
    """Rasterise ``(uv [V, 2], faces [F, 3], colours [V, 3])`` islands that share one atlas into a
    ``[size, size, 3]`` float32 texture, padded around the islands so that filtering never reads black."""
    image = np.zeros((size, size, 3), dtype=np.float32)
    covered = np.zeros((size, size), dtype=bool)
    for uv, faces, colours in islands:
        texels, mask = rasterize_vertex_attribute(uv, faces, colours, size)
        image[mask] = texels[mask]
        covered |= mask
    return dilate_texture(image, covered)


def rasterize_vertex_attribute(
    uv: np.ndarray, faces: np.ndarray, values: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate per-vertex ``values [V, C]`` over the triangles ``faces [F, 3]`` laid out by
    ``uv [V, 2]`` into a ``size x size`` texture. Returns ``([Ht, Wt, C] float32, [Ht, Wt] bool covered)``;
    a texel is covered when its centre lies in a triangle (row 0 = top, i.e. v = 1)."""
    image = np.zeros((size, size, values.shape[1]), dtype=np.float32)
    covered = np.zeros((size, size), dtype=bool)
    rasterize_triangles(uv_to_pixels(uv[faces], (size, size)), covered, values[faces], image)
    return image, covered


def uv_to_pixels(uv: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """UVs ``[..., 2]`` to the pixel space of an ``[Ht, Wt]`` texture, where texel (row i, column j) has its
    centre at ``(x, y) = (j, i)``."""
    height, width = shape
    return np.stack((uv[..., 0] * width - 0.5, (1.0 - uv[..., 1]) * height - 0.5), axis=-1)


def rasterize_triangles(
    corners: np.ndarray, covered: np.ndarray, values: np.ndarray | None = None, image: np.ndarray | None = None
) -> None:
    """Mark in ``covered [Ht, Wt]`` every texel whose centre lies in one of the triangles ``corners [n, 3, 2]``
    (pixel space, see :func:`uv_to_pixels`; parts outside the texture are ignored). With ``values [n, 3, C]``
    the barycentric interpolation is written into ``image [Ht, Wt, C]`` too. Writes in place."""
    height, width = covered.shape
    limit = np.array([width - 1, height - 1])
    low = np.clip(np.ceil(corners.min(axis=1)), 0, limit).astype(np.int64)
    high = np.clip(np.floor(corners.max(axis=1)), 0, limit).astype(np.int64)
    extent = np.maximum(high - low + 1, 0).max(axis=1)
    order = np.argsort(extent, kind="stable")
    start = 0
    while start < len(order):
        count = max(1, _RASTER_BUDGET // max(int(extent[order[start]]) ** 2, 1))
        chunk = order[start : start + count]
        while len(chunk) > 1 and int(extent[chunk[-1]]) ** 2 * len(chunk) > _RASTER_BUDGET:
            chunk = chunk[: len(chunk) // 2]
        chunk_values = None if values is None else values[chunk]
        _rasterize_chunk(corners[chunk], low[chunk], int(extent[chunk[-1]]), chunk_values, image, covered)
        start += len(chunk)


def _rasterize_chunk(
    corners: np.ndarray,
    low: np.ndarray,
    side: int,
    values: np.ndarray | None,
    image: np.ndarray | None,
    covered: np.ndarray,
) -> None:
    """corners ``[n, 3, 2]``, low ``[n, 2]`` bounding-box corner, values ``[n, 3, C]``; writes in place."""
    if side <= 0:
        return
    steps = np.arange(side)
    x = low[:, None, None, 0] + steps[None, None, :]  # [n, 1, side]
    y = low[:, None, None, 1] + steps[None, :, None]  # [n, side, 1]
    x, y = np.broadcast_arrays(x, y)
    p0, e1, e2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    denominator = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    valid = np.abs(denominator) > 1e-12
    safe = np.where(valid, denominator, 1.0)[:, None, None]
    dx, dy = x - p0[:, None, None, 0], y - p0[:, None, None, 1]
    b1 = (dx * e2[:, None, None, 1] - dy * e2[:, None, None, 0]) / safe
    b2 = (e1[:, None, None, 0] * dy - e1[:, None, None, 1] * dx) / safe
    b0 = 1.0 - b1 - b2
    height, width = covered.shape
    inside = (b0 >= -1e-7) & (b1 >= -1e-7) & (b2 >= -1e-7) & valid[:, None, None] & (x < width) & (y < height)
    covered[y[inside], x[inside]] = True
    if values is not None and image is not None:
        weights = np.stack((b0, b1, b2), axis=-1)[inside]  # [k, 3]
        face = np.nonzero(inside)[0]
        image[y[inside], x[inside]] = np.einsum("kv,kvc->kc", weights, values[face])
