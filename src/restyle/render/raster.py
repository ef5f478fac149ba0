"""Visibility: which triangle each pixel sees, and where on it.

Geometry never changes during an optimisation, so visibility needs no gradient and comes from the fastest
rasteriser available. Every backend only finds ``(tri_id, barycentrics)`` at pixel centres; depth and the
coverage mask are derived here the same way for all of them, so backends agree by construction.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from restyle.errors import ConfigError
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import MeshGeometry

RasterBackend = Callable[[MeshGeometry, Cameras], GBuffer]


def _embree(geometry: MeshGeometry, cameras: Cameras) -> GBuffer:
    from restyle.render.raster_embree import rasterize_embree

    return rasterize_embree(geometry, cameras)


def _torch(geometry: MeshGeometry, cameras: Cameras) -> GBuffer:
    from restyle.render.raster_torch import rasterize_torch

    return rasterize_torch(geometry, cameras)


def _nvdiffrast(geometry: MeshGeometry, cameras: Cameras) -> GBuffer:
    from restyle.render.raster_nvdiffrast import rasterize_nvdiffrast

    return rasterize_nvdiffrast(geometry, cameras)


# Explicit name -> backend registry (imports are deferred so optional backends cost nothing until used).
BACKENDS: dict[str, RasterBackend] = {"embree": _embree, "torch": _torch, "nvdiffrast": _nvdiffrast}


def resolve_backend(backend: str, device: torch.device) -> str:
    """The concrete backend for ``backend``: "auto" is nvdiffrast on CUDA when importable, else embree."""
    if backend == "auto":
        from restyle.render.raster_nvdiffrast import nvdiffrast_available

        return "nvdiffrast" if device.type == "cuda" and nvdiffrast_available() else "embree"
    if backend not in BACKENDS:
        valid = ", ".join(["auto", *BACKENDS])
        raise ConfigError(f"unknown rasteriser backend {backend!r}; valid: {valid}")
    return backend


def rasterize(geometry: MeshGeometry, cameras: Cameras, *, backend: str = "auto") -> GBuffer:
    """Visibility of ``geometry`` from ``cameras`` at their ``height x width``, on ``cameras.device``."""
    name = resolve_backend(backend, cameras.device)
    return BACKENDS[name](geometry, cameras)
