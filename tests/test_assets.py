"""The bundled vase (assets/meshes/vase/vase.glb, made by examples/make_vase.py) is what the benchmarks and issue 21
count on: a valid glTF of 20k+ triangles that restyle loads as it is, with UVs and a painted texture that wraps
cleanly at the body's seam."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restyle.io.meshes import TexturedMesh, load_mesh

VASE = Path(__file__).resolve().parents[1] / "assets/meshes/vase/vase.glb"
BODY_ROWS = slice(4, 880)  # the body's strip in the texture (examples/make_vase.py BODY_ROWS)


@pytest.fixture(scope="module")
def vase() -> TexturedMesh:
    return load_mesh(VASE, unwrap=False)


def test_the_vase_loads_with_its_own_uvs_and_one_painted_texture(vase: TexturedMesh) -> None:
    assert len(vase.faces) >= 20_000
    assert np.isfinite(vase.uv).all() and vase.uv.min() >= 0.0 and vase.uv.max() <= 1.0
    assert len(vase.slots) == 1 and vase.slots[0].wrap == "repeat"
    texture = vase.slots[0].image
    assert texture.shape == (1024, 1024, 3)
    assert texture.std(axis=(0, 1)).min() > 0.1  # painted, not a flat colour
    extent = vase.vertices.max(axis=0) - vase.vertices.min(axis=0)
    assert vase.vertices[:, 1].min() == pytest.approx(0.0, abs=1e-6)  # +Y up, standing on the ground
    assert extent[1] == pytest.approx(0.43, abs=0.01) and extent[1] > extent[[0, 2]].max()


def test_the_texture_wraps_cleanly_at_the_seam(vase: TexturedMesh) -> None:
    body = vase.slots[0].image[BODY_ROWS]
    across_the_seam = np.abs(body[:, 0] - body[:, -1]).mean()
    next_to_it = np.abs(body[:, 0] - body[:, 1]).mean()
    assert across_the_seam < 1.5 * next_to_it


def test_the_vase_is_valid_gltf(gltf_validator) -> None:
    report = gltf_validator(VASE)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0
