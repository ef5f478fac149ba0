"""CPU visibility by casting one primary ray per pixel centre with Embree (via ``embreex``)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import torch
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import MeshGeometry


class _EmbreeScene:
    """An Embree BVH over one geometry, built in coordinates centred on the mesh.

    Embree works in float32; centring keeps precision for meshes placed far from the origin.
    """

    def __init__(self, geometry: MeshGeometry) -> None:
        self.origin = geometry.center.detach().cpu().double().numpy()
        vertices = geometry.vertices.detach().cpu().double().numpy() - self.origin
        self.scene = rtcore_scene.EmbreeScene()
        TriangleMesh(self.scene, vertices.astype(np.float32), geometry.faces.detach().cpu().numpy().astype(np.int32))

    def intersect(self, eyes: np.ndarray, directions: np.ndarray) -> _Hits:
        """Closest hits of the rays from ``eyes [B, 3]`` along ``directions [B, P, 3]`` (any length)."""
        local_eyes = (eyes - self.origin).astype(np.float32)
        origins = np.repeat(local_eyes, directions.shape[1], axis=0)
        result = self.scene.run(origins, directions.reshape(-1, 3).astype(np.float32), output=1)
        return _Hits(result["primID"].astype(np.int64), result["u"], result["v"], result["tfar"])


@dataclass
class _Hits:
    """Embree's answer for ``N`` rays: ``face [N]`` (-1 miss), ``(u, v) [N]`` weights of corners 1 and 2
    (``P = (1 - u - v) v0 + u v1 + v v2``), ``t [N]`` ray parameter of the hit (in direction lengths)."""

    face: np.ndarray
    u: np.ndarray
    v: np.ndarray
    t: np.ndarray


# Built once per geometry object and reused by every step; dropped when the geometry is garbage collected.
_SCENES: weakref.WeakKeyDictionary[MeshGeometry, _EmbreeScene] = weakref.WeakKeyDictionary()


def embree_scene(geometry: MeshGeometry) -> _EmbreeScene:
    scene = _SCENES.get(geometry)
    if scene is None:
        scene = _EmbreeScene(geometry)
        _SCENES[geometry] = scene
    return scene


def rasterize_embree(geometry: MeshGeometry, cameras: Cameras) -> GBuffer:
    """G-buffer of ``geometry`` seen by ``cameras``; rays through pixel centres, on ``cameras.device``.

    Done in NumPy straight from Embree's output: the ray directions have a view-space z of -1, so the
    hit's ray parameter is already the view depth, and no per-pixel gather is needed.
    """
    cpu_cameras = cameras.to("cpu")
    directions = cpu_cameras.pixel_directions().reshape(cameras.batch_size, -1, 3).numpy()
    hits = embree_scene(geometry).intersect(cpu_cameras.eye.double().numpy(), directions)
    hit = hits.face >= 0
    bary = np.stack((1.0 - hits.u - hits.v, hits.u, hits.v), axis=1) * hit[:, None]
    shape = (cameras.batch_size, cameras.height, cameras.width)
    gbuffer = GBuffer(
        torch.from_numpy(hits.face).reshape(shape),
        torch.from_numpy(bary.astype(np.float32)).reshape(*shape, 3),
        torch.from_numpy(np.where(hit, hits.t, 0.0).astype(np.float32)).reshape(shape),
        torch.from_numpy(hit.astype(np.float32)).reshape(shape[0], 1, *shape[1:]),
    )
    return gbuffer.to(cameras.device)
