"""The G-buffer: per-pixel visibility of a mesh, the one type every rasteriser back end produces.

It lives apart from :mod:`restyle.render.raster` (which picks a back end) so that the back ends import it without
importing their own dispatcher: imports go ``gbuffer`` <- ``raster_*`` <- ``raster``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from restyle.render.camera import Cameras
from restyle.render.geometry import MeshGeometry


@dataclass
class GBuffer:
    """Per-pixel visibility of a mesh from ``B`` cameras.

    Attributes:
        tri_id: ``[B, H, W]`` int64 index of the visible face, -1 for background.
        bary: ``[B, H, W, 3]`` float32 barycentric weights of the face's corners (sum to 1 on hits, 0 on
            background); they are perspective-correct, i.e. weights of world-space positions.
        depth: ``[B, H, W]`` float32 view-space depth along the camera axis, 0 on background.
        mask: ``[B, 1, H, W]`` float32 coverage (1 hit, 0 background).
    """

    tri_id: Tensor
    bary: Tensor
    depth: Tensor
    mask: Tensor

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(B, H, W)``."""
        b, h, w = self.tri_id.shape
        return b, h, w

    @classmethod
    def cat(cls, parts: Sequence[GBuffer]) -> GBuffer:
        """Concatenate G-buffers of the same size along the batch."""
        return cls(
            torch.cat([p.tri_id for p in parts]),
            torch.cat([p.bary for p in parts]),
            torch.cat([p.depth for p in parts]),
            torch.cat([p.mask for p in parts]),
        )

    def select(self, index: Tensor | Sequence[int]) -> GBuffer:
        index = torch.as_tensor(index, dtype=torch.int64, device=self.tri_id.device)
        return GBuffer(self.tri_id[index], self.bary[index], self.depth[index], self.mask[index])

    def to(self, device: torch.device | str) -> GBuffer:
        return GBuffer(self.tri_id.to(device), self.bary.to(device), self.depth.to(device), self.mask.to(device))

    def hits(self) -> tuple[Tensor, Tensor, Tensor]:
        """Flattened covered pixels: ``([N] index into B*H*W, [N] face id, [N, 3] barycentrics)``."""
        flat_tri = self.tri_id.reshape(-1)
        pixel = torch.nonzero(flat_tri >= 0).squeeze(1)
        return pixel, flat_tri[pixel], self.bary.reshape(-1, 3)[pixel]

    def interpolate(self, attributes: Tensor, faces: Tensor) -> Tensor:
        """Vertex attributes ``[V, C]`` interpolated to ``[B, H, W, C]`` (zero on background)."""
        pixel, face, bary = self.hits()
        values = interpolate_at(attributes, faces, face, bary)
        out = attributes.new_zeros(self.tri_id.numel(), attributes.shape[1])
        return out.index_copy(0, pixel, values).reshape(*self.tri_id.shape, attributes.shape[1])


def interpolate_at(attributes: Tensor, faces: Tensor, face: Tensor, bary: Tensor) -> Tensor:
    """Vertex attributes ``[V, C]`` at the points ``face [N]``, ``bary [N, 3]`` -> ``[N, C]``."""
    corners = attributes[faces[face]]  # [N, 3, C]
    return (bary[:, :, None].to(attributes.dtype) * corners).sum(dim=1)


def make_gbuffer(geometry: MeshGeometry, cameras: Cameras, tri_id: Tensor, bary: Tensor) -> GBuffer:
    """Complete a backend's ``tri_id [B,H,W]``, ``bary [B,H,W,3]`` with depth and mask; zero background."""
    batch_size, height, width = tri_id.shape
    flat_tri = tri_id.reshape(-1).to(torch.int64)
    pixel = torch.nonzero(flat_tri >= 0).squeeze(1)
    face = flat_tri[pixel]
    hit_bary = bary.reshape(-1, 3)[pixel].to(torch.float32)
    view_depth = -cameras.view_points(geometry.vertices.to(cameras.device))[..., 2]  # [B, V]
    corners = geometry.faces.to(cameras.device)[face]  # [N, 3]
    corner_depth = view_depth[(pixel // (height * width))[:, None], corners]  # [N, 3]
    size = batch_size * height * width
    depth = torch.zeros(size, device=cameras.device).index_copy(0, pixel, (hit_bary * corner_depth).sum(1))
    clean_bary = torch.zeros(size, 3, device=cameras.device).index_copy(0, pixel, hit_bary)
    clean_tri = torch.full_like(flat_tri, -1).index_copy(0, pixel, face)
    shape = (batch_size, height, width)
    return GBuffer(
        clean_tri.reshape(shape),
        clean_bary.reshape(*shape, 3),
        depth.reshape(shape),
        (clean_tri >= 0).reshape(batch_size, 1, height, width).to(torch.float32),
    )
