"""Render-ready mesh tensors.

The mesh never changes during an optimisation, so everything derived from it (smooth normals, face normals,
the per-face UV Jacobian used for mip level selection) is computed once here and reused every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from restyle.errors import InputError
from restyle.io.mesh_types import TexturedMesh

# Vertices closer than this (relative to the bounding radius) are welded when averaging normals, so that
# UV seams, which duplicate vertices, do not crease the shading.
_WELD_TOLERANCE = 1e-6
_EPS = 1e-12


# eq=False keeps identity hashing: rasteriser backends cache acceleration structures per geometry object
@dataclass(eq=False)
class MeshGeometry:
    """A triangle mesh in world space, ready to rasterise and shade.

    Attributes:
        vertices: ``[V, 3]`` float32 positions.
        faces: ``[F, 3]`` int64 vertex indices (counter-clockwise seen from the front).
        uv: ``[V, 2]`` float32 texture coordinates, origin bottom-left, v up.
        normals: ``[V, 3]`` float32 unit smooth normals.
        face_slot: ``[F]`` int64 texture slot of each face.
        face_normals: ``[F, 3]`` float32 unit geometric normals (derived).
        uv_jacobian: ``[F, 2, 3]`` float32 d(uv)/d(position) within each face's plane (derived); zero for
            faces whose positions or UVs are degenerate.
        origin: ``[3]`` float64 world position of this frame's origin: ``vertices`` are world positions minus
            ``origin`` (zero unless built with ``recentre=True``; cameras and lights live in this frame).
        face_attributes: ``[F, 33]`` per face, side by side (derived): the 3 corners' position, normal and uv
            (``[3, 8]`` flattened), the face normal (3) and the flattened UV Jacobian (6). The renderer
            fetches everything it needs about a pixel's face with this one gather.
    """

    vertices: Tensor
    faces: Tensor
    uv: Tensor
    normals: Tensor
    face_slot: Tensor
    origin: Tensor = field(default_factory=lambda: torch.zeros(3, dtype=torch.float64))
    face_normals: Tensor = field(init=False, repr=False)
    uv_jacobian: Tensor = field(init=False, repr=False)
    face_attributes: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_geometry(self.vertices, self.faces, self.uv, self.normals, self.face_slot)
        self.face_normals = _face_normals(self.vertices, self.faces)
        self.uv_jacobian = _uv_jacobian(self.vertices, self.faces, self.uv)
        corners = torch.cat((self.vertices, self.normals, self.uv), dim=1)[self.faces]  # [F, 3, 8]
        self.face_attributes = torch.cat(
            (corners.reshape(-1, 24), self.face_normals, self.uv_jacobian.reshape(-1, 6)), dim=1
        )

    @classmethod
    def from_arrays(
        cls,
        vertices: np.ndarray | Tensor,
        faces: np.ndarray | Tensor,
        uv: np.ndarray | Tensor,
        face_slot: np.ndarray | Tensor | None = None,
        *,
        recentre: bool = False,
    ) -> MeshGeometry:
        """Build from numpy arrays or tensors; computes area-weighted smooth normals welded by position.

        ``recentre=True`` moves the bounding-box centre to the origin in float64 before the float32
        conversion: float32 has a step of 0.5 at 5e6, so a model far from the world origin would
        otherwise lose its shape. The shift is kept in :attr:`origin`."""
        origin = torch.zeros(3, dtype=torch.float64)
        if recentre:
            vertices, origin = _recentred(vertices)
        vertices_t = _as_tensor(vertices, torch.float32)
        device = vertices_t.device
        faces_t = _as_tensor(faces, torch.int64, device)
        uv_t = _as_tensor(uv, torch.float32, device)
        if face_slot is None:
            slot_t = torch.zeros(faces_t.shape[0], dtype=torch.int64, device=device)
        else:
            slot_t = _as_tensor(face_slot, torch.int64, device)
        _check_geometry(vertices_t, faces_t, uv_t, None, slot_t)
        normals = smooth_normals(vertices_t, faces_t)
        return cls(vertices_t, faces_t, uv_t, normals, slot_t, origin)

    @property
    def center(self) -> Tensor:
        """``[3]`` centre of the bounding sphere (centre of the axis-aligned bounding box)."""
        return (self.vertices.amin(0) + self.vertices.amax(0)) / 2

    @property
    def radius(self) -> float:
        """Radius of the bounding sphere around :attr:`center`."""
        return float((self.vertices - self.center).norm(dim=1).max().clamp_min(_EPS))

    @property
    def num_slots(self) -> int:
        return int(self.face_slot.max()) + 1 if self.face_slot.numel() else 0

    @property
    def device(self) -> torch.device:
        return self.vertices.device

    def to(self, device: torch.device | str) -> MeshGeometry:
        return MeshGeometry(
            self.vertices.to(device),
            self.faces.to(device),
            self.uv.to(device),
            self.normals.to(device),
            self.face_slot.to(device),
            self.origin,
        )


def _recentred(vertices: np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
    """``(vertices - centre, centre)`` in float64, centre being the bounding-box centre ``[3]``."""
    exact = _as_tensor(vertices, torch.float64)
    if exact.ndim != 2 or exact.shape[0] == 0:
        return exact, torch.zeros(3, dtype=torch.float64)  # _check_geometry reports the bad shape
    centre = (exact.amin(0) + exact.amax(0)) / 2
    return exact - centre, centre.cpu()


def _as_tensor(values: np.ndarray | Tensor, dtype: torch.dtype, device: torch.device | None = None) -> Tensor:
    # np.array copies, so read-only arrays (e.g. from trimesh caches) never reach torch
    tensor = values if isinstance(values, Tensor) else torch.from_numpy(np.array(values))
    return tensor.to(dtype=dtype, device=device)


def smooth_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """``[V, 3]`` unit normals: area-weighted face normals summed over all vertices sharing a position."""
    corner = vertices[faces]  # [F, 3, 3]
    area_weighted = torch.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0], dim=1)
    welded = _weld_by_position(vertices)
    accumulated = torch.zeros(int(welded.max()) + 1 if welded.numel() else 0, 3, dtype=vertices.dtype)
    accumulated = accumulated.to(vertices.device)
    for k in range(3):
        accumulated.index_add_(0, welded[faces[:, k]], area_weighted)
    normals = accumulated[welded]
    length = normals.norm(dim=1, keepdim=True)
    # Isolated or degenerate vertices get an arbitrary but valid normal instead of NaN.
    fallback = torch.tensor([0.0, 0.0, 1.0], dtype=vertices.dtype, device=vertices.device)
    return torch.where(length > _EPS, normals / length.clamp_min(_EPS), fallback)


def _weld_by_position(vertices: Tensor) -> Tensor:
    """``[V]`` int64 id shared by vertices at (nearly) the same position."""
    if vertices.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=vertices.device)
    scale = float((vertices.amax(0) - vertices.amin(0)).max().clamp_min(_EPS))
    quantised = torch.round(vertices.double() / (scale * _WELD_TOLERANCE)).to(torch.int64)
    _, welded = torch.unique(quantised, dim=0, return_inverse=True)
    return welded


def _face_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    corner = vertices[faces]
    normal = torch.cross(corner[:, 1] - corner[:, 0], corner[:, 2] - corner[:, 0], dim=1)
    return normal / normal.norm(dim=1, keepdim=True).clamp_min(_EPS)


def _uv_jacobian(vertices: Tensor, faces: Tensor, uv: Tensor) -> Tensor:
    """``[F, 2, 3]`` J with ``uv(P) = uv(v0) + J (P - v0)`` for points P in the face's plane."""
    corner = vertices[faces].double()
    corner_uv = uv[faces].double()
    e1 = corner[:, 1] - corner[:, 0]
    e2 = corner[:, 2] - corner[:, 0]
    edges = torch.stack((e1, e2), dim=1)  # [F, 2, 3]
    gram = edges @ edges.transpose(1, 2)  # [F, 2, 2]
    det = gram[:, 0, 0] * gram[:, 1, 1] - gram[:, 0, 1] ** 2
    valid = det > _EPS * (gram[:, 0, 0] * gram[:, 1, 1]).clamp_min(_EPS)
    safe_gram = torch.where(valid[:, None, None], gram, torch.eye(2, dtype=gram.dtype, device=gram.device))
    uv_edges = torch.stack((corner_uv[:, 1] - corner_uv[:, 0], corner_uv[:, 2] - corner_uv[:, 0]), dim=2)
    # barycentric weights of an offset d are gram^-1 [e1.d, e2.d]; uv follows linearly from them
    jacobian = uv_edges @ torch.linalg.solve(safe_gram, edges)
    return torch.where(valid[:, None, None], jacobian, torch.zeros_like(jacobian)).to(torch.float32)


def _check_geometry(vertices: Tensor, faces: Tensor, uv: Tensor, normals: Tensor | None, face_slot: Tensor) -> None:
    num_vertices = vertices.shape[0] if vertices.ndim == 2 else -1
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise InputError(f"mesh: vertices must have shape [V, 3], got {tuple(vertices.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] == 0:
        raise InputError(f"mesh: faces must have shape [F, 3] with F > 0, got {tuple(faces.shape)}")
    if uv.shape != (num_vertices, 2):
        raise InputError(f"mesh: uv must have shape [V, 2] = [{num_vertices}, 2], got {tuple(uv.shape)}")
    if normals is not None and normals.shape != (num_vertices, 3):
        raise InputError(f"mesh: normals must have shape [{num_vertices}, 3], got {tuple(normals.shape)}")
    if face_slot.shape != (faces.shape[0],):
        raise InputError(f"mesh: face_slot must have shape [F] = [{faces.shape[0]}], got {tuple(face_slot.shape)}")
    if int(faces.min()) < 0 or int(faces.max()) >= num_vertices:
        low, high = int(faces.min()), int(faces.max())
        raise InputError(f"mesh: face indices must lie in 0..{num_vertices - 1}, got {low}..{high}")
    if int(face_slot.min()) < 0:
        raise InputError("mesh: face_slot holds a negative texture slot")
    if not torch.isfinite(vertices).all() or not torch.isfinite(uv).all():
        raise InputError("mesh: vertices or uv contain NaN or infinite values")


def geometry_and_textures(mesh: TexturedMesh) -> tuple[MeshGeometry, list[torch.Tensor], list[str]]:
    """A loaded asset as render-ready tensors: geometry, per-slot textures ``[3,Ht,Wt]`` and wrap modes."""
    # re-centred: float32 cannot hold the shape of a model far from the world origin (see MeshGeometry)
    geometry = MeshGeometry.from_arrays(mesh.vertices, mesh.faces, mesh.uv, mesh.face_slot, recentre=True)
    textures = [torch.from_numpy(np.ascontiguousarray(s.image)).permute(2, 0, 1).float() for s in mesh.slots]
    return geometry, textures, [s.wrap for s in mesh.slots]
