"""`restyle mesh` exports at the original textures' resolution: the residual is optimised at ``texture_size`` and
upsampled onto the untouched original (recoloured with the same map when asked), and texels outside every UV
island come back bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from mesh_job_fixtures import PATCH, merge, tiny
from PIL import Image

from restyle.api import stylize_mesh
from restyle.colour.recolour import ColourMap
from restyle.io.meshes import load_mesh
from restyle.io.uv_islands import mesh_island_masks
from restyle.jobs.mesh.outputs import final_texture

TINY = tiny(style=PATCH, render={"texture_size": 16}, optim={"lr": 0.05},
            outputs={"preview_size": 32, "checkpoint_every": 0})
TEXTURE_SHAPE = (40, 56)  # larger than texture_size, not square


@pytest.fixture
def atlas_cube(tmp_path: Path) -> Path:
    """A cube whose six sides sit on six separate rectangles of a noisy 40x56 atlas, with gaps between them."""
    folder = tmp_path / "cube"
    folder.mkdir()
    pixels = np.random.default_rng(1).integers(0, 256, (*TEXTURE_SHAPE, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / "atlas.png")
    (folder / "cube.mtl").write_text("newmtl atlas\nKd 1 1 1\nmap_Kd atlas.png\n")
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    lines = ["mtllib cube.mtl"] + [f"v {x:g} {y:g} {z:g}" for x, y, z in box.vertices[box.faces].reshape(-1, 3)]
    for side in range(6):
        u0, v0 = 0.05 + 0.32 * (side % 3), 0.08 + 0.5 * (side // 3)
        corners = [(u0, v0), (u0 + 0.25, v0), (u0 + 0.25, v0 + 0.35), (u0, v0 + 0.35)]
        for face in (0, 1):
            picks = [(0, 1, 2), (0, 2, 3)][face]
            lines += [f"vt {corners[k][0]:g} {corners[k][1]:g}" for k in picks]
    lines.append("usemtl atlas")
    lines += [f"f {3 * f + 1}/{3 * f + 1} {3 * f + 2}/{3 * f + 2} {3 * f + 3}/{3 * f + 3}" for f in range(12)]
    (folder / "cube.obj").write_text("\n".join(lines) + "\n")
    return folder / "cube.obj"


@pytest.mark.parametrize("recolour", ["none", "style"])
def test_export_keeps_the_original_resolution_and_every_texel_outside_the_islands(
    atlas_cube, style, tmp_path, recolour
) -> None:
    result = stylize_mesh(atlas_cube, [style], tmp_path / "out", **merge(TINY, {"texture": {"recolour": recolour}}))
    source = load_mesh(atlas_cube)
    original = source.slots[0].image
    islands = mesh_island_masks(source, [TEXTURE_SHAPE])[0]
    assert 0.2 < islands.mean() < 0.9  # the atlas has gaps, so the check below means something
    assert tuple(result.textures[0].shape) == (3, *TEXTURE_SHAPE)
    obj_png = next((result.obj.parent).glob("*.png"))
    for exported in (load_mesh(result.glb).slots[0].image, load_mesh(result.obj).slots[0].image):
        assert exported.shape == original.shape
        np.testing.assert_array_equal(exported[~islands], original[~islands])  # bit for bit after the PNG
        assert np.abs(exported[islands] - original[islands]).max() > 4 / 255  # stylised inside
    assert Image.open(obj_png).size == (TEXTURE_SHAPE[1], TEXTURE_SHAPE[0])
    assert Image.open(tmp_path / "out" / "coverage_0.png").size == (16, 11)  # at the optimised size


def test_final_texture_upsamples_the_residual_inside_the_islands_only() -> None:
    base = torch.rand(3, 20, 30)
    island = torch.zeros(20, 30, dtype=torch.bool)
    island[5:15, 10:25] = True
    residual = torch.full((3, 5, 6), 0.1)
    out = final_texture(base, None, residual, island)
    assert out.shape == base.shape
    assert torch.equal(out[:, ~island], base[:, ~island])
    torch.testing.assert_close(out[:, island], (base[:, island] + 0.1).clamp(0, 1))


def test_final_texture_recolours_the_full_size_base_with_the_fitted_map() -> None:
    base = torch.rand(3, 12, 12)
    island = torch.ones(12, 12, dtype=torch.bool)
    island[0] = False
    halve = ColourMap(torch.eye(3, dtype=torch.float64) * 0.5, torch.zeros(3, dtype=torch.float64))
    out = final_texture(base, halve, torch.zeros(3, 4, 4), island)
    torch.testing.assert_close(out[:, 1:], base[:, 1:] * 0.5)
    assert torch.equal(out[:, 0], base[:, 0])


def _bare_quad(folder: Path) -> Path:
    """A cube with UVs and no material library: an 8x8 constant-colour texture on load."""
    folder.mkdir(parents=True, exist_ok=True)
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    lines = [f"v {x:g} {y:g} {z:g}" for x, y, z in box.vertices]
    lines += [f"vt {0.1 + 0.8 * (x > 0):g} {0.1 + 0.8 * (y > 0):g}" for x, y, _ in box.vertices]
    lines += [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in box.faces]
    (folder / "bare.obj").write_text("\n".join(lines) + "\n")
    return folder / "bare.obj"


def _vertex_coloured(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    colours = np.random.default_rng(2).integers(0, 256, (len(box.vertices), 4), dtype=np.uint8)
    colours[:, 3] = 255
    mesh = trimesh.Trimesh(box.vertices, box.faces, vertex_colors=colours, process=False)
    (folder / "coloured.ply").write_bytes(mesh.export(file_type="ply"))
    return folder / "coloured.ply"


@pytest.mark.parametrize(("builder", "expected"), [(_bare_quad, (16, 16)), (_vertex_coloured, (1024, 1024))])
def test_texture_less_meshes_export_at_a_size_that_keeps_the_style(style, tmp_path, builder, expected) -> None:
    # a constant-colour material's 8x8 texture would lose the style: it comes back at the optimised size;
    # baked vertex colours come back at the bake size
    path = builder(tmp_path / "asset")
    result = stylize_mesh(path, [style], tmp_path / "out", **TINY)
    assert tuple(result.textures[0].shape[-2:]) == expected
    assert load_mesh(result.glb).slots[0].image.shape[:2] == expected
