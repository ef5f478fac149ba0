"""A model far from the world origin (5e6 away, where float32's step is 0.5) renders like the same model at
the origin, and export writes its positions back with every digit the format can hold."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from meshes_fixtures import two_material_cube_glb, two_material_cube_obj  # noqa: E402

from restyle.io.export import export_glb, export_obj  # noqa: E402
from restyle.io.meshes import load_mesh  # noqa: E402
from restyle.pipelines.preview import contact_sheet  # noqa: E402
from restyle.pipelines.render_asset import geometry_and_textures  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
OFFSET = np.array([5e6, -5e6, 5e6])


def _offset_obj(folder: Path) -> Path:
    """The two-material cube OBJ with every position moved by OFFSET, written with all its digits."""
    source = two_material_cube_obj(folder)
    lines = []
    for line in source.read_text().splitlines():
        if line.startswith("v "):
            position = np.array([float(value) for value in line.split()[1:4]]) + OFFSET + 0.123456789
            line = "v " + " ".join(repr(value) for value in position.tolist())
        lines.append(line)
    source.write_text("\n".join(lines) + "\n")
    return source


def _sheet(path: Path) -> torch.Tensor:
    geometry, textures, wraps = geometry_and_textures(load_mesh(path))
    return contact_sheet(geometry, textures, wraps, n_views=4, size=48)


@pytest.mark.parametrize("kind", ["obj", "glb"])
def test_far_model_renders_like_the_model_at_the_origin(tmp_path: Path, kind: str) -> None:
    if kind == "obj":
        near, far = two_material_cube_obj(tmp_path / "near"), _offset_obj(tmp_path / "far")
    else:
        near = two_material_cube_glb(tmp_path / "near", translation=(0.0, 0.0, 0.0))
        far = two_material_cube_glb(tmp_path / "far", translation=tuple(OFFSET + 0.25))
    near_sheet, far_sheet = _sheet(near), _sheet(far)
    assert (near_sheet < 0.99).float().mean() > 0.1  # the cube is in view, not just background
    torch.testing.assert_close(far_sheet, near_sheet, rtol=0, atol=2e-3)


def test_obj_export_writes_far_positions_back_exactly(tmp_path: Path) -> None:
    source = _offset_obj(tmp_path / "src")
    mesh = load_mesh(source)
    parsed = trimesh.load_scene(source, process=False).to_mesh().vertices  # positions as the file holds them
    export_obj(mesh, [slot.image for slot in mesh.slots], tmp_path / "out" / "far.obj")
    exported = trimesh.load_scene(tmp_path / "out" / "far.obj", process=False).to_mesh().vertices
    np.testing.assert_array_equal(np.unique(exported, axis=0), np.unique(parsed, axis=0))


@pytest.mark.parametrize("source_kind", ["obj", "glb"])
def test_glb_export_writes_far_positions_as_their_float32_values(tmp_path: Path, source_kind: str) -> None:
    if source_kind == "obj":
        source = _offset_obj(tmp_path / "src")
    else:
        source = two_material_cube_glb(tmp_path / "src", translation=tuple(OFFSET + 0.25))
    mesh = load_mesh(source)
    export_glb(mesh, [slot.image for slot in mesh.slots], tmp_path / "far.glb")
    expected = trimesh.load_scene(source, process=False).to_mesh().vertices.astype(np.float32)
    exported = trimesh.load_scene(tmp_path / "far.glb", process=False).to_mesh().vertices.astype(np.float32)
    np.testing.assert_array_equal(np.unique(exported, axis=0), np.unique(expected, axis=0))
    # a glTF source is patched (its accessors and node transforms kept), so its positions reload exactly
    stored = mesh.vertices if source_kind == "glb" else mesh.vertices.astype(np.float32)
    np.testing.assert_array_equal(load_mesh(tmp_path / "far.glb").vertices, stored)
