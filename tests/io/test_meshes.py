from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from meshes_fixtures import (
    QUAD_FACES,
    QUAD_UV,
    QUAD_VERTICES,
    draco_triangle_glb,
    glb_bytes,
    obj_without_mtllib,
    textured_quad,
    two_material_cube_glb,
    two_material_cube_obj,
    uv_less_obj,
    vertex_colored_ply,
)

from restyle.conventions import linear_to_srgb
from restyle.errors import InputError
from restyle.io.materials import CONSTANT_TEXTURE_SIZE
from restyle.io.meshes import load_mesh
from restyle.io.mtl import split_map_statement
from restyle.io.uv_raster import rasterize_vertex_attribute

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # trimesh's nanmedian on the spider


def _texel(image: np.ndarray, u: float, v: float) -> np.ndarray:
    """Nearest texel at a UV (origin bottom-left), row 0 = top of the image."""
    height, width = image.shape[:2]
    row = min(int((1.0 - v) * height), height - 1)
    column = min(int(u * width), width - 1)
    return image[row, column]


# ------------------------------------------------------------------------------------ bundled assets


def test_spot_obj(assets: Path) -> None:
    mesh = load_mesh(assets / "meshes/spot/spot.obj")
    assert mesh.vertices.shape == (3225, 3) and mesh.vertices.dtype == np.float64
    assert mesh.faces.shape == (5856, 3) and mesh.faces.dtype == np.int64
    assert mesh.uv.shape == (3225, 2) and mesh.uv.dtype == np.float32
    assert [slot.name for slot in mesh.slots] == ["spot"]
    assert mesh.slots[0].image.shape == (1024, 1024, 3) and mesh.slots[0].image.dtype == np.float32
    assert np.all(mesh.face_slot == 0)
    assert 0.9 < mesh.radius < 1.2


@pytest.mark.parametrize(
    "relative", ["box_textured/BoxTextured.glb", "box_textured/gltf_separate/BoxTextured.gltf"]
)
def test_box_textured(assets: Path, relative: str) -> None:
    mesh = load_mesh(assets / "meshes" / relative)
    assert mesh.vertices.shape == (24, 3) and mesh.faces.shape == (12, 3)
    slot = mesh.slots[0]
    assert slot.image.shape == (211, 211, 3) and slot.wrap == "repeat"
    assert mesh.uv.max() == pytest.approx(6.0)  # UVs beyond [0, 1]: the texture repeats
    # the node matrix turns the mesh: a y-up cube becomes z-up, so extents stay 1 but positions move
    np.testing.assert_allclose(np.abs(mesh.vertices).max(axis=0), [0.5, 0.5, 0.5])
    assert mesh.gltf_patch is not None


def test_box_variants_agree(assets: Path) -> None:
    glb = load_mesh(assets / "meshes/box_textured/BoxTextured.glb")
    gltf = load_mesh(assets / "meshes/box_textured/gltf_separate/BoxTextured.gltf")
    for name in ("vertices", "faces", "uv", "face_slot"):
        np.testing.assert_array_equal(getattr(glb, name), getattr(gltf, name))
    np.testing.assert_array_equal(glb.slots[0].image, gltf.slots[0].image)


def test_spider_backslash_paths_and_degenerate_faces(assets: Path) -> None:
    mesh = load_mesh(assets / "meshes/spider/spider.obj")
    # the .mtl declares 5 materials; the faces use 4 of them, in this file order
    assert [slot.name for slot in mesh.slots] == ["HLeibTex", "Skin", "BeinTex", "Augentex"]
    # every texture was found despite the ".\file.jpg" paths: none fell back to a constant colour
    assert all(slot.image.shape[0] > CONSTANT_TEXTURE_SIZE for slot in mesh.slots)
    assert sum(len(part.faces) for part in mesh.source_parts) == 1368  # export keeps every face
    assert mesh.faces.shape == (1368 - 56, 3)  # 56 zero-area faces dropped from the render arrays
    assert np.bincount(mesh.face_slot).tolist() == [80, 260, 896, 76]


# --------------------------------------------------------------------------------- synthetic assets


def test_quad_uv_convention_and_texture_orientation(tmp_path: Path) -> None:
    mesh = load_mesh(textured_quad(tmp_path))
    np.testing.assert_array_equal(mesh.vertices, QUAD_VERTICES)
    np.testing.assert_array_equal(mesh.faces, QUAD_FACES)
    np.testing.assert_array_equal(mesh.uv, QUAD_UV)
    image = mesh.slots[0].image
    # UV (0, 1) is the top-left of the image (red); (0, 0) the bottom-left (blue)
    np.testing.assert_array_equal(_texel(image, 0.1, 0.9), [1, 0, 0])
    np.testing.assert_array_equal(_texel(image, 0.9, 0.9), [0, 1, 0])
    np.testing.assert_array_equal(_texel(image, 0.1, 0.1), [0, 0, 1])
    assert mesh.slots[0].alpha is None and mesh.slots[0].wrap == "repeat"
    np.testing.assert_allclose(mesh.center, [0.5, 0.5, 0.0])
    assert mesh.radius == pytest.approx(np.sqrt(0.5))


def test_multi_material_obj(tmp_path: Path) -> None:
    mesh = load_mesh(two_material_cube_obj(tmp_path))
    assert [slot.name for slot in mesh.slots] == ["painted", "plain"]
    # the texture named ".\cube texture.png" (backslash, space) was found; Kd is ignored beside a map_Kd
    np.testing.assert_allclose(mesh.slots[0].image[0, 0], np.array([200, 100, 50]) / 255, atol=1e-6)
    # the constant material became a small texture of Kd (linear) encoded as sRGB
    expected = linear_to_srgb(torch.tensor([0.2, 0.4, 0.6])).numpy()
    assert mesh.slots[1].image.shape == (CONSTANT_TEXTURE_SIZE, CONSTANT_TEXTURE_SIZE, 3)
    np.testing.assert_allclose(
        mesh.slots[1].image, np.broadcast_to(expected, mesh.slots[1].image.shape), atol=1e-6
    )
    assert np.bincount(mesh.face_slot).tolist() == [6, 6]  # the zero-area face is dropped
    assert [len(part.faces) for part in mesh.source_parts] == [6, 7]  # but kept for export


def test_multi_material_glb_with_node_transform(tmp_path: Path) -> None:
    mesh = load_mesh(two_material_cube_glb(tmp_path, translation=(0.0, 0.0, 5.0)))
    assert [slot.name for slot in mesh.slots] == ["textured", "plain"]
    np.testing.assert_allclose(mesh.center, [0.0, 0.0, 5.0], atol=1e-6)
    textured, plain = mesh.slots
    assert textured.alpha is not None and textured.alpha.shape == (8, 8)
    np.testing.assert_allclose(textured.alpha[0], np.linspace(0, 255, 8).astype(np.uint8) / 255, atol=1e-6)
    # no texture: the slot is the baseColorFactor (linear) as an sRGB constant
    expected = linear_to_srgb(torch.tensor([0.5, 0.25, 1.0])).numpy()
    np.testing.assert_allclose(plain.image[0, 0], expected, atol=3e-3)  # trimesh stores factors as uint8
    # UVs came back from glTF's v-down storage to v-up
    cube_uv = np.array([[0.25, 0.25], [0.75, 0.25], [0.75, 0.75]], dtype=np.float32)
    assert {tuple(row) for row in mesh.uv} == {tuple(row) for row in cube_uv}


def test_obj_without_mtllib_gets_constant_colour_not_placeholder(tmp_path: Path) -> None:
    mesh = load_mesh(obj_without_mtllib(tmp_path))
    image = mesh.slots[0].image
    assert image.shape == (CONSTANT_TEXTURE_SIZE, CONSTANT_TEXTURE_SIZE, 3)
    assert np.ptp(image) == 0.0


def test_mesh_without_uvs_is_unwrapped(tmp_path: Path) -> None:
    mesh = load_mesh(uv_less_obj(tmp_path))
    assert mesh.faces.shape == (4, 3)
    assert mesh.uv.shape == (len(mesh.vertices), 2)
    assert mesh.uv.min() >= 0.0 and mesh.uv.max() <= 1.0
    # unwrapping splits vertices at seams but never moves them
    original = {(0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)}
    assert {tuple(row) for row in mesh.vertices.tolist()} == original
    # every face keeps a non-degenerate UV triangle, so each texel belongs to one face only
    corners = mesh.uv[mesh.faces]
    edges_a, edges_b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    areas = edges_a[:, 0] * edges_b[:, 1] - edges_a[:, 1] * edges_b[:, 0]
    assert np.all(np.abs(areas) > 1e-4)


def test_mesh_without_uvs_refused_without_unwrap(tmp_path: Path) -> None:
    path = uv_less_obj(tmp_path)
    with pytest.raises(InputError, match=r"tetra\.obj: has no UVs; pass --unwrap"):
        load_mesh(path, unwrap=False)


def test_vertex_colours_are_baked(tmp_path: Path) -> None:
    mesh = load_mesh(vertex_colored_ply(tmp_path))
    assert [slot.name for slot in mesh.slots] == ["vertex_colors"]
    image = mesh.slots[0].image
    colours = {(0.0, 0.0): [1, 0, 0], (1.0, 0.0): [0, 1, 0], (1.0, 1.0): [0, 0, 1], (0.0, 1.0): [1, 1, 1]}
    for vertex, uv in zip(mesh.vertices, mesh.uv, strict=True):
        # near each vertex's UV the baked texture shows that vertex's colour
        np.testing.assert_allclose(_texel(image, *uv), colours[tuple(vertex[:2].tolist())], atol=0.05)
    # the quad's centre, halfway along the shared diagonal: the mean of the diagonal's two colours
    centre = mesh.uv[[0, 2]].mean(axis=0)
    np.testing.assert_allclose(_texel(image, *centre), [0.5, 0.0, 0.5], atol=0.05)


def test_draco_glb_is_decoded(tmp_path: Path) -> None:
    path, positions = draco_triangle_glb(tmp_path)
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.vertices, positions)
    np.testing.assert_array_equal(mesh.faces, [[0, 1, 2]])


def test_draco_without_dracopy_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = draco_triangle_glb(tmp_path)
    monkeypatch.setitem(sys.modules, "DracoPy", None)  # makes `import DracoPy` fail
    with pytest.raises(InputError, match=r"draco\.glb: Draco-compressed glTF needs the DracoPy package"):
        load_mesh(path)


def test_undecodable_draco_never_gives_zero_vertices(tmp_path: Path) -> None:
    path, _ = draco_triangle_glb(tmp_path)
    data = bytearray(path.read_bytes())
    data[-16:] = b"\xff" * 16  # corrupt the compressed blob
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"draco\.glb: "):
        load_mesh(path)


# --------------------------------------------------------------------------------------------- errors


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found") as error:
        load_mesh(tmp_path / "nope.obj")
    assert _one_line(error).startswith(str(tmp_path / "nope.obj"))


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.glb").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.glb: file is empty"):
        load_mesh(tmp_path / "empty.glb")


def test_unsupported_suffix(tmp_path: Path) -> None:
    (tmp_path / "mesh.fbx").write_bytes(b"Kaydara FBX Binary")
    with pytest.raises(InputError, match=r"mesh\.fbx: unsupported mesh format"):
        load_mesh(tmp_path / "mesh.fbx")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("garbage.glb", b"this is not a mesh at all"),
        ("image.ply", b"\x89PNG\r\n\x1a\n" + bytes(64)),
        ("broken.glb", glb_bytes({"asset": {"version": "2.0"}, "meshes": [{"primitives": "nope"}]}, b"")),
    ],
)
def test_non_mesh_files(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError) as error:
        load_mesh(tmp_path / name)
    assert _one_line(error).startswith(f"{tmp_path / name}: ")


def test_missing_texture(tmp_path: Path) -> None:
    path = textured_quad(tmp_path)
    (tmp_path / "quad.png").unlink()
    with pytest.raises(
        InputError, match=r"quad\.obj: texture of material 'quad' 'quad\.png' not found"
    ) as error:
        load_mesh(path)
    _one_line(error)


def test_missing_gltf_image(assets: Path, tmp_path: Path) -> None:
    source = assets / "meshes/box_textured/gltf_separate"
    for name in ("BoxTextured.gltf", "BoxTextured0.bin"):
        shutil.copy(source / name, tmp_path / name)
    with pytest.raises(InputError, match=r"gltf: referenced file 'CesiumLogoFlat\.png' not found"):
        load_mesh(tmp_path / "BoxTextured.gltf")


def test_nan_vertices(tmp_path: Path) -> None:
    (tmp_path / "nan.obj").write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(InputError, match=r"nan\.obj: vertex positions contain NaN or infinite values"):
        load_mesh(tmp_path / "nan.obj")


def test_mesh_without_faces(tmp_path: Path) -> None:
    (tmp_path / "points.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(InputError, match=r"points\.obj: contains no triangle mesh"):
        load_mesh(tmp_path / "points.obj")


def test_mesh_of_only_degenerate_faces(tmp_path: Path) -> None:
    (tmp_path / "flat.obj").write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nvt 0 0\nvt 1 0\nvt 1 1\nf 1/1 2/2 3/3\n")
    with pytest.raises(InputError, match=r"flat\.obj: has no faces with non-zero area"):
        load_mesh(tmp_path / "flat.obj")


def test_missing_material_library(tmp_path: Path) -> None:
    path = textured_quad(tmp_path)
    (tmp_path / "quad.mtl").unlink()
    with pytest.raises(InputError, match=r"quad\.obj: material library 'quad\.mtl' not found"):
        load_mesh(path)


# ---------------------------------------------------------------------------------------- internals


def test_split_map_statement_options_and_spaces() -> None:
    options, name = split_map_statement("-o 0.5 0.5 -clamp on -bm 0.3 my texture file.png")
    assert options == {"-o": ["0.5", "0.5"], "-clamp": ["on"], "-bm": ["0.3"]}
    assert name == "my texture file.png"
    assert split_map_statement(".\\x.jpg") == ({}, ".\\x.jpg")


def test_rasterize_vertex_attribute_interpolates_linearly() -> None:
    # one triangle covering the lower-left half of a 4x4 texture; the value is u (a linear function)
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    values = uv[:, :1]
    image, covered = rasterize_vertex_attribute(uv, np.array([[0, 1, 2]]), values, 4)
    assert image.shape == (4, 4, 1) and covered.shape == (4, 4)
    rows, columns = np.nonzero(covered)
    centres_u = (columns + 0.5) / 4
    centres_v = 1.0 - (rows + 0.5) / 4
    assert np.all(centres_u + centres_v <= 1.0 + 1e-9)  # only texel centres inside the triangle
    assert covered.sum() == 10  # 4 + 3 + 2 + 1 texel centres lie on or under the diagonal
    np.testing.assert_allclose(image[rows, columns, 0], centres_u, atol=1e-6)
    assert np.all(image[~covered] == 0)
