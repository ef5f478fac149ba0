"""Meshes without UVs, for looking at only (``restyle render``): flat per-face colours instead of an unwrap.

Unwrapping a 70k-face scan takes xatlas tens of seconds, and a contact sheet needs colours, not an atlas. Each face
gets its own texel holding the mean of its vertex colours (grey without any), and its three corners sample that
texel's centre, so the renderer's ordinary texture path draws it; smooth normals still weld by position (see
``MeshGeometry.from_arrays``), so splitting the vertices per face does not facet the shading.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import trimesh

from restyle.errors import InputError
from restyle.io.meshes import TexturedMesh, TextureSlot, zero_area

GREY = 0.6  # sRGB colour of a mesh without vertex colours: light enough for the shading to read


def untextured_mesh(path: Path) -> TexturedMesh:
    """``path`` (already checked by ``load_mesh``) as one slot of per-face colours; never unwraps."""
    mesh = trimesh.load(path, force="mesh", process=False)  # every part, transforms applied
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    faces = faces[~zero_area(vertices, faces)] if len(faces) else faces
    if not len(faces):
        raise InputError(f"{path}: has no faces with non-zero area")
    side = math.ceil(math.sqrt(len(faces)))
    image = np.full((side * side, 3), GREY, dtype=np.float32)
    image[: len(faces)] = _face_colours(mesh, faces)
    row, col = np.divmod(np.arange(len(faces)), side)
    # texel centres; row 0 is the top of the image and v points up (restyle.conventions)
    face_uv = np.stack([(col + 0.5) / side, 1.0 - (row + 0.5) / side], axis=1).astype(np.float32)
    return TexturedMesh(
        vertices=vertices[faces.reshape(-1)],
        faces=np.arange(3 * len(faces), dtype=np.int64).reshape(-1, 3),
        uv=np.repeat(face_uv, 3, axis=0),
        face_slot=np.zeros(len(faces), dtype=np.int64),
        slots=[TextureSlot("untextured", image.reshape(side, side, 3), None, "clamp")],
        source=path,
        source_files=(path.resolve(),),
    )


def _face_colours(mesh: trimesh.Trimesh, faces: np.ndarray) -> np.ndarray:
    """``[F, 3]`` sRGB 0..1: the mean of each face's vertex colours, or grey."""
    if mesh.visual.kind != "vertex":
        return np.full((len(faces), 3), GREY, dtype=np.float32)
    colours = np.asarray(mesh.visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
    return colours[faces].mean(axis=1)
