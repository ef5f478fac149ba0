"""UV island masks: which texels of each texture slot the mesh can ever show.

A texel outside every island is never read by a level-0 bilinear lookup of a point on the surface, so a
stylised texture can keep the original's value there bit for bit (other uses of the atlas, baked lighting,
packed masks, stay intact). The mask is conservative, never missing a texel that a lookup reads:

* a texel whose centre lies inside a UV triangle;
* the four bilinear taps of points every half texel along each edge (vertices included), which catches
  triangles thinner or smaller than a texel, where no centre lies inside;
* all of it dilated by one texel: a point between two edge samples reads at most one texel further out.

Wrap modes are honoured as the sampler does: REPEAT wraps texture coordinates outside 0..1 (and the taps and
dilation across the border), CLAMP clamps them onto the border texels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from restyle.io.meshes import TexturedMesh
from restyle.io.uv_raster import Wrap, rasterize_triangles, uv_to_pixels

_EDGE_STEP = 0.5  # texels between samples along an edge; the proof of conservativeness needs at most 0.5
_SAMPLE_BUDGET = 1 << 22  # edge samples per vectorised chunk: bounds memory on long edges
# REPEAT triangles are rasterised once per texture tile they overlap; past this many whole textures' worth of
# texels tested per slot (a plane tiled hundreds of times) the whole texture counts as island: conservative.
_TILED_TEXEL_BUDGET = 16


def island_masks(
    uv: np.ndarray,
    faces: np.ndarray,
    face_slot: np.ndarray,
    shapes: Sequence[tuple[int, int]],
    wraps: Sequence[Wrap],
) -> list[np.ndarray]:
    """Per texture slot, a bool ``[Ht, Wt]`` mask of the texels a level-0 bilinear lookup at some point inside a
    UV triangle of that slot reads. ``uv [V, 2]`` (origin bottom-left), ``faces [F, 3]``, ``face_slot [F]``;
    ``shapes`` and ``wraps`` give each slot's texture size and wrap mode."""
    if len(shapes) != len(wraps):
        raise ValueError(f"got {len(shapes)} texture shapes but {len(wraps)} wrap modes")
    uv = np.asarray(uv, dtype=np.float64)
    triangles = uv[np.asarray(faces)]  # [F, 3, 2]
    return [
        slot_island_mask(triangles[np.asarray(face_slot) == slot], (int(shape[0]), int(shape[1])), wrap)
        for slot, (shape, wrap) in enumerate(zip(shapes, wraps, strict=True))
    ]


def slot_island_mask(triangles: np.ndarray, shape: tuple[int, int], wrap: Wrap) -> np.ndarray:
    """The island mask ``[Ht, Wt]`` of one slot's UV triangles ``[n, 3, 2]``."""
    if wrap not in ("repeat", "clamp"):
        raise ValueError(f"unknown wrap mode {wrap!r}; valid: repeat, clamp")
    mask = np.zeros(shape, dtype=bool)
    if len(triangles) == 0:
        return mask
    if wrap == "repeat":
        if not _mark_repeated_interiors(triangles, mask):
            mask[:] = True
            return mask
    else:
        rasterize_triangles(uv_to_pixels(triangles, shape), mask)
    _mark_edge_taps(uv_to_pixels(triangles, shape), mask, wrap)
    return _dilated(mask, wrap)


def _mark_repeated_interiors(triangles: np.ndarray, mask: np.ndarray) -> bool:
    """Rasterise each triangle once per UV tile it overlaps, shifted into the 0..1 tile. False, marking nothing,
    when that would test more texels than the budget allows (the caller then takes the whole texture)."""
    height, width = mask.shape
    tiles_low = np.floor(triangles.min(axis=1)).astype(np.int64)  # [n, 2]
    tiles_high = np.floor(triangles.max(axis=1)).astype(np.int64)
    copies = np.prod(tiles_high - tiles_low + 1, axis=1)
    extent = (triangles.max(axis=1) - triangles.min(axis=1)) * (width, height)
    texels_per_copy = np.minimum(np.prod(extent + 1, axis=1), height * width)
    if float((copies * texels_per_copy).sum()) > _TILED_TEXEL_BUDGET * height * width:
        return False
    ranges = np.unique(np.concatenate((tiles_low, tiles_high), axis=1), axis=0)  # few: most lie in one tile
    tiles = np.unique(np.concatenate([_tiles_of(r[:2], r[2:]) for r in ranges]), axis=0)
    for tile in tiles:
        overlaps = np.all((tiles_low <= tile) & (tile <= tiles_high), axis=1)
        rasterize_triangles(uv_to_pixels(triangles[overlaps] - tile, mask.shape), mask)
    return True


def _tiles_of(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Every integer tile ``[k, 2]`` from ``low`` to ``high`` inclusive."""
    us, vs = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1), indexing="ij")
    return np.stack((us.ravel(), vs.ravel()), axis=1)


def _mark_edge_taps(corners: np.ndarray, mask: np.ndarray, wrap: Wrap) -> None:
    """Mark the bilinear taps of points every ``_EDGE_STEP`` texels along each triangle edge (pixel space)."""
    starts = corners.reshape(-1, 2)
    ends = np.roll(corners, -1, axis=1).reshape(-1, 2)
    if wrap == "clamp":
        starts, ends = _clamped_pieces(starts, ends, mask.shape)
    counts = np.ceil(np.abs(ends - starts).max(axis=1) / _EDGE_STEP).astype(np.int64) + 1
    first = 0
    while first < len(counts):
        last = first + 1
        total = int(counts[first])
        while last < len(counts) and total + int(counts[last]) <= _SAMPLE_BUDGET:
            total += int(counts[last])
            last += 1
        points = _edge_points(starts[first:last], ends[first:last], counts[first:last])
        _mark_taps(points, mask, wrap)
        first = last


def _clamped_pieces(starts: np.ndarray, ends: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The CLAMP image of pixel-space segments ``[E, 2]`` as ``[5E, 2]`` straight pieces.

    Clamping onto the texel-centre box is affine between the points where a segment crosses one of the box's
    four lines, so cutting there gives pieces whose clamped image is the segment between clamped endpoints;
    sampling those keeps the half-texel spacing however far outside 0..1 the UVs go."""
    height, width = shape
    delta = ends - starts
    crossings = []
    for axis, line in ((0, 0.0), (0, width - 1.0), (1, 0.0), (1, height - 1.0)):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (line - starts[:, axis]) / delta[:, axis]
        crossings.append(np.clip(np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0))
    cuts = np.sort(np.stack([np.zeros(len(starts)), *crossings, np.ones(len(starts))], axis=1), axis=1)  # [E, 6]
    points = starts[:, None] + cuts[..., None] * delta[:, None]
    points = np.clip(points, 0.0, (width - 1.0, height - 1.0))
    return points[:, :-1].reshape(-1, 2), points[:, 1:].reshape(-1, 2)


def _edge_points(starts: np.ndarray, ends: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``counts[e]`` evenly spaced points from ``starts[e]`` to ``ends[e]`` (both included), ``[sum, 2]``."""
    edge = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(len(edge)) - np.repeat(np.cumsum(counts) - counts, counts)
    fraction = offsets / np.maximum(counts[edge] - 1, 1)
    return starts[edge] + fraction[:, None] * (ends[edge] - starts[edge])


def _mark_taps(points: np.ndarray, mask: np.ndarray, wrap: Wrap) -> None:
    """Mark the 2x2 texels a bilinear lookup at each pixel-space point ``[k, 2]`` reads."""
    height, width = mask.shape
    base = np.floor(points).astype(np.int64)
    for dx in (0, 1):
        for dy in (0, 1):
            columns, rows = base[:, 0] + dx, base[:, 1] + dy
            if wrap == "repeat":
                columns, rows = columns % width, rows % height
            else:
                columns, rows = np.clip(columns, 0, width - 1), np.clip(rows, 0, height - 1)
            mask[rows, columns] = True


def _dilated(mask: np.ndarray, wrap: Wrap) -> np.ndarray:
    """``mask`` grown by one texel in all eight directions, across the border for REPEAT."""
    grown = mask.copy()
    for axis in (0, 1):
        source = grown.copy()
        for shift in (-1, 1):
            if wrap == "repeat":
                grown |= np.roll(source, shift, axis=axis)
            else:
                grown |= _shifted(source, shift, axis)
    return grown


def _shifted(mask: np.ndarray, shift: int, axis: int) -> np.ndarray:
    """``mask`` moved by ``shift`` (+1 or -1) texels along ``axis``, with False coming in at the border."""
    out = np.zeros_like(mask)
    target = [slice(None), slice(None)]
    source = [slice(None), slice(None)]
    target[axis], source[axis] = (slice(1, None), slice(None, -1)) if shift > 0 else (slice(None, -1), slice(1, None))
    out[tuple(target)] = mask[tuple(source)]
    return out


def mesh_island_masks(mesh: TexturedMesh, shapes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """:func:`island_masks` of a loaded mesh's slots, at the texture sizes ``shapes`` (one ``[Ht, Wt]`` each)."""
    return island_masks(mesh.uv, mesh.faces, mesh.face_slot, shapes, [slot.wrap for slot in mesh.slots])
