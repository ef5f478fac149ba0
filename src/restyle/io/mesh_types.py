"""The loaded-mesh types of :mod:`restyle.io`: what :func:`restyle.io.meshes.load_mesh` returns and export reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from restyle.errors import InputError
from restyle.io.gltf import GltfPatch
from restyle.io.mtl import MtlMaterial
from restyle.io.uv_raster import Wrap


class MissingUVsError(InputError):
    """``load_mesh(..., unwrap=False)`` met a part without UVs (or with vertex colours, which need an atlas)."""


@dataclass
class TextureSlot:
    """One material's base colour, as the renderer samples it."""

    name: str
    image: np.ndarray  # [Ht, Wt, 3] float32 sRGB 0..1, row 0 = top of the image file
    alpha: np.ndarray | None  # [Ht, Wt] float32 when the base-colour texture had alpha (kept on export)
    wrap: Wrap


@dataclass(frozen=True)
class SourcePart:
    """One geometry instance of the source asset, as export writes it back (internal to ``restyle.io``).

    Degenerate faces are kept here (they are only dropped from the render arrays).
    """

    name: str
    vertices: np.ndarray  # [Vp, 3] float64 world space, as parsed (export writes them back unchanged)
    faces: np.ndarray  # [Fp, 3] int64, indices into this part's vertices
    uv: np.ndarray  # [Vp, 2] float32, OpenGL convention
    normals: np.ndarray | None  # [Vp, 3] float32 world space, only when the source stored normals
    slot: int


@dataclass(frozen=True)
class SourceMaterial:
    """What export needs to rewrite one slot's material with only its base colour replaced."""

    material: trimesh.visual.material.Material | None  # trimesh's material (None: the part had none)
    mtl: MtlMaterial | None  # OBJ source: the original .mtl block
    gltf_material: int | None  # glTF source: index into the document's ``materials``
    textured: bool  # the source material had a base-colour texture


@dataclass
class TexturedMesh:
    """A textured triangle mesh ready for rendering: world-space geometry, UVs, one texture per slot."""

    vertices: np.ndarray  # [V, 3] float64 world space, all geometries concatenated (float64: far from the
    # origin float32 loses the shape; renderers re-centre before converting, see MeshGeometry.from_arrays)
    faces: np.ndarray  # [F, 3] int64, zero-area faces dropped
    uv: np.ndarray  # [V, 2] float32, origin bottom-left, v up
    face_slot: np.ndarray  # [F] int64 index into ``slots``
    slots: list[TextureSlot]
    source: Path
    source_parts: list[SourcePart] = field(default_factory=list, repr=False)
    source_materials: list[SourceMaterial] = field(default_factory=list, repr=False)
    source_files: tuple[Path, ...] = field(default=(), repr=False)  # every file the asset was read from
    gltf_patch: GltfPatch | None = field(default=None, repr=False)

    @property
    def center(self) -> np.ndarray:
        """``[3]`` centre of the bounding box (the bounding sphere's centre)."""
        return (self.vertices.min(axis=0) + self.vertices.max(axis=0)) / 2

    @property
    def radius(self) -> float:
        """Radius of the bounding sphere around :attr:`center` that holds every vertex."""
        return float(np.linalg.norm(self.vertices - self.center, axis=1).max())
