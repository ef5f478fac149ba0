"""A small pure-PyTorch reference rasteriser, for tiny meshes and for checking the fast backends.

It works the way a GPU does (project the corners, test pixel centres against the screen-space edge functions,
perspective-correct the barycentrics, keep the nearest fragment), independently of the ray-casting backend,
so agreement between the two is a meaningful test. Cost is O(pixels x faces): keep to a few hundred faces.
Faces with a corner at or behind the near plane are skipped (no clipping).
"""

from __future__ import annotations

import torch
from torch import Tensor

from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer, make_gbuffer
from restyle.render.geometry import MeshGeometry

_NEAR = 1e-4
# pixels x faces evaluated at once; bounds the memory of the [P, F] edge-function tensors
_CHUNK_ELEMENTS = 4_000_000


def rasterize_torch(geometry: MeshGeometry, cameras: Cameras) -> GBuffer:
    pixels, depth = cameras.project_to_pixels(geometry.vertices.to(cameras.device))  # [B, V, 2], [B, V]
    faces = geometry.faces.to(cameras.device)
    tri_ids, barys = [], []
    for b in range(cameras.batch_size):
        tri_id, bary = _rasterize_one(pixels[b][faces].double(), depth[b][faces].double(), cameras)
        tri_ids.append(tri_id)
        barys.append(bary)
    return make_gbuffer(geometry, cameras, torch.stack(tri_ids), torch.stack(barys).float())


def _rasterize_one(corner_xy: Tensor, corner_depth: Tensor, cameras: Cameras) -> tuple[Tensor, Tensor]:
    """One view: ``corner_xy [F, 3, 2]`` pixels, ``corner_depth [F, 3]`` -> ``([H, W], [H, W, 3])``."""
    height, width = cameras.height, cameras.width
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64, device=corner_xy.device) + 0.5,
        torch.arange(width, dtype=torch.float64, device=corner_xy.device) + 0.5,
        indexing="ij",
    )
    centres = torch.stack((xs.reshape(-1), ys.reshape(-1)), dim=1)  # [P, 2]
    in_front = (corner_depth > _NEAR).all(dim=1)  # [F]
    chunk = max(1, _CHUNK_ELEMENTS // max(1, corner_xy.shape[0]))
    tri_id = torch.full((centres.shape[0],), -1, dtype=torch.int64, device=corner_xy.device)
    bary = torch.zeros(centres.shape[0], 3, dtype=torch.float64, device=corner_xy.device)
    for start in range(0, centres.shape[0], chunk):
        stop = start + chunk
        tri_id[start:stop], bary[start:stop] = _nearest_fragments(
            centres[start:stop], corner_xy, corner_depth, in_front
        )
    return tri_id.reshape(height, width), bary.reshape(height, width, 3)


def _nearest_fragments(
    centres: Tensor, corner_xy: Tensor, corner_depth: Tensor, in_front: Tensor
) -> tuple[Tensor, Tensor]:
    """For pixel centres ``[P, 2]``: nearest covering face ``[P]`` (-1: none), its barycentrics ``[P, 3]``."""
    screen = _screen_barycentrics(centres, corner_xy)  # [P, F, 3]
    inside = (screen >= 0).all(dim=2) & in_front[None, :]
    # perspective correction: screen-space weights over view depth, renormalised
    weighted = screen / corner_depth[None, :, :]
    inverse_depth = weighted.sum(dim=2)  # [P, F], 1 / depth of the fragment
    fragment_depth = torch.where(
        inside, 1.0 / inverse_depth.clamp_min(1e-30), torch.full_like(inverse_depth, torch.inf)
    )
    nearest_depth, nearest = fragment_depth.min(dim=1)
    covered = torch.isfinite(nearest_depth)
    chosen = weighted.gather(1, nearest[:, None, None].expand(-1, 1, 3)).squeeze(1)
    bary = chosen / chosen.sum(dim=1, keepdim=True).clamp_min(1e-30)
    return torch.where(covered, nearest, torch.full_like(nearest, -1)), bary


def _screen_barycentrics(centres: Tensor, corner_xy: Tensor) -> Tensor:
    """Screen-space barycentrics ``[P, F, 3]`` of points ``[P, 2]`` in faces ``[F, 3, 2]`` (any winding)."""
    a, b, c = corner_xy[:, 0], corner_xy[:, 1], corner_xy[:, 2]  # [F, 2]
    area = _edge(a, b, c)  # [F]
    p = centres[:, None, :]  # [P, 1, 2]
    weights = torch.stack((_edge(b, c, p), _edge(c, a, p), _edge(a, b, p)), dim=2)  # [P, F, 3]
    # NaN weights make every inside test false, so degenerate (zero-area) triangles are never drawn
    safe_area = torch.where(area.abs() > 1e-12, area, torch.full_like(area, torch.nan))
    return weights / safe_area[None, :, None]


def _edge(a: Tensor, b: Tensor, p: Tensor) -> Tensor:
    """Twice the signed area of triangle (a, b, p)."""
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])
