"""CPU visibility by casting one primary ray per pixel centre with Embree (via ``embreex``)."""

from __future__ import annotations

import weakref

import numpy as np
import torch
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from restyle.render.camera import Cameras
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import GBuffer, make_gbuffer


class _EmbreeScene:
    """An Embree BVH over one geometry, built in coordinates centred on the mesh.

    Embree works in float32; centring keeps precision for meshes placed far from the origin.
    """

    def __init__(self, geometry: MeshGeometry) -> None:
        self.origin = geometry.center.detach().cpu().double().numpy()
        vertices = geometry.vertices.detach().cpu().double().numpy() - self.origin
        self.scene = rtcore_scene.EmbreeScene()
        TriangleMesh(self.scene, vertices.astype(np.float32), geometry.faces.detach().cpu().numpy().astype(np.int32))

    def intersect(self, eyes: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest hits of rays from ``eyes [B, 3]`` along unit ``directions [B, P, 3]``:
        ``([B*P] face id or -1, [B*P, 3] barycentrics)``."""
        local_eyes = (eyes - self.origin).astype(np.float32)
        origins = np.repeat(local_eyes, directions.shape[1], axis=0)
        result = self.scene.run(origins, directions.reshape(-1, 3).astype(np.float32), output=1)
        u, v = result["u"], result["v"]
        # Embree's (u, v) weight corners 1 and 2: P = (1 - u - v) v0 + u v1 + v v2
        bary = np.stack((1.0 - u - v, u, v), axis=1)
        return result["primID"].astype(np.int64), bary


# Built once per geometry object and reused by every step; dropped when the geometry is garbage collected.
_SCENES: weakref.WeakKeyDictionary[MeshGeometry, _EmbreeScene] = weakref.WeakKeyDictionary()


def embree_scene(geometry: MeshGeometry) -> _EmbreeScene:
    scene = _SCENES.get(geometry)
    if scene is None:
        scene = _EmbreeScene(geometry)
        _SCENES[geometry] = scene
    return scene


def rasterize_embree(geometry: MeshGeometry, cameras: Cameras) -> GBuffer:
    """G-buffer of ``geometry`` seen by ``cameras``; rays through pixel centres, on ``cameras.device``."""
    cpu_cameras = cameras.to("cpu")
    directions = cpu_cameras.pixel_directions()  # [B, H, W, 3]
    directions = directions / directions.norm(dim=-1, keepdim=True)
    face, bary = embree_scene(geometry).intersect(
        cpu_cameras.eye.double().numpy(), directions.reshape(cameras.batch_size, -1, 3).numpy()
    )
    shape = (cameras.batch_size, cameras.height, cameras.width)
    tri_id = torch.from_numpy(face).reshape(shape)
    bary_t = torch.from_numpy(bary).reshape(*shape, 3)
    return make_gbuffer(geometry, cpu_cameras, tri_id, bary_t).to(cameras.device)
