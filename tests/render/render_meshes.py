"""Tiny synthetic meshes and cameras shared by the renderer tests (imported as a plain module)."""

from __future__ import annotations

import math

import numpy as np
import trimesh

from restyle.render.camera import Cameras
from restyle.render.geometry import MeshGeometry

# Cube atlas: 3 x 2 cells, one per face, so a 48 x 32 texture gives each face 16 x 16 whole texels.
CUBE_TEXTURE_SHAPE = (32, 48)
_CUBE_FACES = (  # (normal, tangent u): bitangent v = normal x u, so u x v = normal (counter-clockwise outside)
    ((1, 0, 0), (0, 0, -1)),
    ((-1, 0, 0), (0, 0, 1)),
    ((0, 1, 0), (1, 0, 0)),
    ((0, -1, 0), (1, 0, 0)),
    ((0, 0, 1), (1, 0, 0)),
    ((0, 0, -1), (-1, 0, 0)),
)


def make_quad(half_size: float = 1.0) -> MeshGeometry:
    """Square [-s, s]^2 in the z = 0 plane facing +z, UV (0,0) at the bottom-left corner."""
    vertices = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float32) * half_size
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uv = (vertices[:, :2] / half_size + 1) / 2
    return MeshGeometry.from_arrays(vertices, faces, uv)


def make_cube() -> MeshGeometry:
    """Cube [-1, 1]^3 with 24 vertices (split at every edge) and a 3 x 2 UV atlas."""
    vertices, faces, uv = [], [], []
    for index, (normal, tangent) in enumerate(_CUBE_FACES):
        n, u = np.array(normal, float), np.array(tangent, float)
        v = np.cross(n, u)
        cell = np.array([index % 3 / 3, index // 3 / 2])
        base = len(vertices)
        for s, t in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            vertices.append(n + s * u + t * v)
            uv.append(cell + np.array([(s + 1) / 2 / 3, (t + 1) / 2 / 2]))
        faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return MeshGeometry.from_arrays(np.array(vertices), np.array(faces), np.array(uv))


def make_sphere(subdivisions: int = 2) -> MeshGeometry:
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = mesh.vertices
    uv = np.stack((np.arctan2(v[:, 0], v[:, 2]) / (2 * np.pi) + 0.5, v[:, 1] * 0.5 + 0.5), axis=1)
    return MeshGeometry.from_arrays(v, mesh.faces, uv)


def front_camera(distance: float = 2.0, size: int = 16, half_size: float = 1.0) -> Cameras:
    """Camera on +z looking at the origin whose frame exactly covers the quad of ``half_size``."""
    fov = 2 * math.atan(half_size / distance)
    return Cameras.look_at([0.0, 0.0, distance], [0.0, 0.0, 0.0], fov_y=fov, width=size, height=size)
