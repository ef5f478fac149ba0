"""Optional GPU visibility with nvdiffrast's CUDA rasteriser (never its OpenGL context).

nvdiffrast is not on PyPI and must never be required: everything here imports it lazily.
"""

from __future__ import annotations

import functools
import importlib.util

import torch

from restyle.errors import ConfigError
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer, make_gbuffer
from restyle.render.geometry import MeshGeometry

# Near/far planes bracket the bounding sphere with this much slack (in bounding radii).
_DEPTH_SLACK = 0.05


@functools.lru_cache(maxsize=1)
def nvdiffrast_available() -> bool:
    """True when ``nvdiffrast.torch`` can be imported (its CUDA context additionally needs a GPU)."""
    if importlib.util.find_spec("nvdiffrast") is None:
        return False
    try:
        import nvdiffrast.torch  # noqa: F401
    except Exception:  # a broken build (missing CUDA toolkit, ABI mismatch) counts as unavailable
        return False
    return True


@functools.lru_cache(maxsize=8)
def _cuda_context(device: torch.device):  # -> nvdiffrast.torch.RasterizeCudaContext
    import nvdiffrast.torch as dr

    return dr.RasterizeCudaContext(device=device)


def rasterize_nvdiffrast(geometry: MeshGeometry, cameras: Cameras) -> GBuffer:
    if cameras.device.type != "cuda" or not nvdiffrast_available():
        raise ConfigError(
            "rasteriser backend 'nvdiffrast' needs a CUDA device and nvdiffrast installed; use backend 'embree'"
        )
    import nvdiffrast.torch as dr

    device = cameras.device
    vertices = geometry.vertices.to(device)
    homogeneous = torch.cat((vertices, torch.ones_like(vertices[:, :1])), dim=1)  # [V, 4]
    near, far = _depth_range(geometry, cameras)
    world_to_clip = cameras.projection(near, far) @ cameras.world_to_view
    clip = torch.einsum("vi,bji->bvj", homogeneous, world_to_clip).contiguous()  # [B, V, 4]
    faces = geometry.faces.to(device=device, dtype=torch.int32).contiguous()
    with torch.no_grad():
        rast, _ = dr.rasterize(_cuda_context(device), clip, faces, resolution=[cameras.height, cameras.width])
    # nvdiffrast's row 0 is clip-space y = -1 (the bottom); restyle images have row 0 at the top
    rast = rast.flip(1)
    tri_id = rast[..., 3].round().to(torch.int64) - 1
    # (u, v) weight corners 0 and 1: P = u v0 + v v1 + (1 - u - v) v2, already perspective-correct
    bary = torch.stack((rast[..., 0], rast[..., 1], 1 - rast[..., 0] - rast[..., 1]), dim=-1)
    return make_gbuffer(geometry, cameras, tri_id, bary)


def _depth_range(geometry: MeshGeometry, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-camera ``[B]`` near and far planes that enclose the mesh's bounding sphere."""
    center = geometry.center.to(cameras.device)
    radius = geometry.radius * (1 + _DEPTH_SLACK)
    center_depth = -cameras.view_points(center[None])[:, 0, 2]
    far = center_depth + radius
    near = (center_depth - radius).clamp_min(far * 1e-4)
    return near, far
