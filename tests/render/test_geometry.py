from __future__ import annotations

import numpy as np
import pytest
import torch
from render_meshes import make_cube

from restyle.errors import InputError
from restyle.render.geometry import MeshGeometry, smooth_normals


def test_from_arrays_types_and_default_slot(quad: MeshGeometry) -> None:
    assert quad.vertices.dtype == torch.float32 and quad.vertices.shape == (4, 3)
    assert quad.faces.dtype == torch.int64 and quad.faces.shape == (2, 3)
    assert quad.uv.shape == (4, 2) and quad.normals.shape == (4, 3)
    assert quad.face_slot.tolist() == [0, 0]
    assert quad.num_slots == 1


def test_flat_quad_normals_face_plus_z(quad: MeshGeometry) -> None:
    expected = torch.tensor([0.0, 0.0, 1.0]).expand(4, 3)
    assert torch.allclose(quad.normals, expected)
    assert torch.allclose(quad.face_normals, expected[:2])


def test_normals_are_welded_across_uv_seams() -> None:
    cube = make_cube()  # every corner is split into 3 vertices with different UVs
    corner = torch.tensor([1.0, 1.0, 1.0])
    at_corner = (cube.vertices - corner).norm(dim=1) < 1e-6
    assert int(at_corner.sum()) == 3
    # all copies share one normal: the area-weighted sum over every triangle touching the corner position
    corners = cube.vertices[cube.faces]
    touching = at_corner[cube.faces].any(dim=1)
    area_normals = torch.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0], dim=1)
    expected = area_normals[touching].sum(0)
    assert torch.allclose(cube.normals[at_corner], (expected / expected.norm()).expand(3, 3), atol=1e-6)
    assert torch.all(cube.normals[at_corner] > 0.3)  # not any single face's normal: the seam is smooth


def test_area_weighting_favours_the_larger_face() -> None:
    # a big triangle in the xy plane and a small one in the xz plane sharing the edge at the origin
    vertices = torch.tensor([[0, 0, 0], [4, 0, 0], [0, 4, 0], [0, 0, 1.0]])
    faces = torch.tensor([[0, 1, 2], [0, 3, 1]])
    normals = smooth_normals(vertices, faces)
    big, small = torch.tensor([0, 0, 1.0]), torch.tensor([0, 1.0, 0])
    expected = (16 * big + 4 * small) / (16 * big + 4 * small).norm()
    assert torch.allclose(normals[0], expected, atol=1e-6)


def test_uv_jacobian_of_the_quad_is_the_scaled_identity(quad: MeshGeometry) -> None:
    # the quad spans 2 world units per UV unit
    expected = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]).expand(2, 2, 3)
    assert torch.allclose(quad.uv_jacobian, expected, atol=1e-6)


def test_degenerate_face_gets_zero_jacobian() -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]], np.float32)
    geometry = MeshGeometry.from_arrays(vertices, np.array([[0, 1, 2], [0, 1, 3]]), vertices[:, :2])
    assert torch.all(geometry.uv_jacobian[0] == 0)
    assert torch.all(torch.isfinite(geometry.normals))


def test_bounding_sphere(quad: MeshGeometry) -> None:
    assert torch.allclose(quad.center, torch.zeros(3))
    assert quad.radius == pytest.approx(2**0.5, rel=1e-6)


def test_accepts_tensors_and_read_only_arrays() -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float64)
    vertices.setflags(write=False)
    geometry = MeshGeometry.from_arrays(vertices, torch.tensor([[0, 1, 2]]), torch.zeros(3, 2), np.array([2]))
    assert geometry.face_slot.tolist() == [2] and geometry.num_slots == 3


@pytest.mark.parametrize(
    ("faces", "uv", "message"),
    [
        (np.array([[0, 1, 5]]), np.zeros((3, 2)), "face indices"),
        (np.array([[0, 1]]), np.zeros((3, 2)), "faces must have shape"),
        (np.array([[0, 1, 2]]), np.zeros((2, 2)), "uv must have shape"),
        (np.array([[0, 1, 2]]), np.full((3, 2), np.nan), "NaN"),
    ],
)
def test_bad_arrays_raise_input_error(faces: np.ndarray, uv: np.ndarray, message: str) -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    with pytest.raises(InputError, match=message):
        MeshGeometry.from_arrays(vertices, faces, uv)


def test_to_device_keeps_values(quad: MeshGeometry) -> None:
    moved = quad.to("cpu")
    assert moved is not quad
    assert torch.equal(moved.vertices, quad.vertices) and torch.equal(moved.uv_jacobian, quad.uv_jacobian)
