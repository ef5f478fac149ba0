"""A model far from the world origin (5e6 away, where float32's step is 0.5) renders like the same model at
the origin, and export writes its positions back with every digit the format can hold: OBJ text exactly, GLB
with each rebuilt part re-centred in float32 and its offset in the node's translation."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "io"))
from meshes_fixtures import read_glb_json, two_material_cube_glb, two_material_cube_obj  # noqa: E402

from restyle.io.export import export_glb, export_obj  # noqa: E402
from restyle.io.meshes import load_mesh  # noqa: E402
from restyle.render.geometry import geometry_and_textures  # noqa: E402
from restyle.run.previews import contact_sheet  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
OFFSET = np.array([5e6, -5e6, 5e6])


def _offset_obj(folder: Path, jitter: float = 0.0) -> Path:
    """The two-material cube OBJ with every position moved by OFFSET (and by up to ``jitter`` at random, so that
    float32 cannot hold even the re-centred positions exactly), written with all its digits."""
    source = two_material_cube_obj(folder)
    rng = np.random.default_rng(0)
    lines = []
    for line in source.read_text().splitlines():
        if line.startswith("v "):
            position = np.array([float(value) for value in line.split()[1:4]]) + OFFSET + 0.123456789
            position += rng.uniform(-jitter, jitter, 3)
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


def test_rebuilt_glb_keeps_far_positions_to_float32_precision_of_the_model_size(tmp_path: Path) -> None:
    """An OBJ source is rebuilt: float32 positions 5e6 away would be 0.25 off, so each part is re-centred and its
    node's translation (JSON doubles) carries the offset."""
    source = _offset_obj(tmp_path / "src", jitter=0.3)
    mesh = load_mesh(source)
    assert mesh.gltf_patch is None
    export_glb(mesh, [slot.image for slot in mesh.slots], tmp_path / "far.glb")
    reloaded = load_mesh(tmp_path / "far.glb").vertices  # world space: trimesh applies the node transforms
    size = float(np.ptp(mesh.vertices, axis=0).max())
    error = np.abs(reloaded - mesh.vertices).max()
    assert 0 < error < 1e-6 * size  # not zero: the jitter makes float32 round even the re-centred positions
    translations = [node["translation"] for node in read_glb_json(tmp_path / "far.glb")["nodes"]]
    assert translations and all(np.abs(np.asarray(t) - OFFSET).max() < 1 for t in translations)


def test_rebuilt_glb_of_a_model_near_the_origin_has_no_node_offsets(tmp_path: Path) -> None:
    mesh = load_mesh(two_material_cube_obj(tmp_path / "src"))
    export_glb(mesh, [slot.image for slot in mesh.slots], tmp_path / "near.glb")
    nodes = read_glb_json(tmp_path / "near.glb")["nodes"]
    assert all("translation" not in node and "matrix" not in node for node in nodes)
    np.testing.assert_array_equal(load_mesh(tmp_path / "near.glb").vertices, mesh.vertices)


def test_patched_glb_keeps_far_positions_exactly(tmp_path: Path) -> None:
    """A glTF source is patched: its accessors and node transforms are kept, so its positions reload exactly."""
    mesh = load_mesh(two_material_cube_glb(tmp_path / "src", translation=tuple(OFFSET + 0.25)))
    assert mesh.gltf_patch is not None
    export_glb(mesh, [slot.image for slot in mesh.slots], tmp_path / "far.glb")
    np.testing.assert_array_equal(load_mesh(tmp_path / "far.glb").vertices, mesh.vertices)
