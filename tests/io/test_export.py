from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from meshes_fixtures import (
    glb_bytes,
    read_glb_json,
    textured_quad,
    two_material_cube_glb,
    two_material_cube_obj,
    uv_less_obj,
    vertex_colored_ply,
)
from PIL import Image

import restyle.io.export as export_module
from restyle.errors import ConfigError
from restyle.io.export import export_glb, export_obj
from restyle.io.meshes import TexturedMesh, load_mesh
from restyle.io.texture_padding import dilate_texture

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # trimesh's nanmedian on the spider

REPO = Path(__file__).resolve().parents[2]
EXPORTERS = {"glb": export_glb, "obj": export_obj}
# glTF stores v pointing down: trimesh's flip v -> 1 - v costs at most one float32 step near 1.0 on a
# rebuilt (non-glTF source) GLB; glTF sources are patched and come back bit for bit
FLOAT32_STEP_AT_ONE = 2.0**-23


def _new_textures(mesh: TexturedMesh, size: int = 16) -> list[np.ndarray]:
    """A distinct, non-uniform texture per slot, exactly representable in 8 bits; ``size`` square, but at the
    slot's own size where it has alpha (alpha is written back as loaded, so the colour must match its size)."""
    textures = []
    for index, slot in enumerate(mesh.slots):
        height, width = slot.alpha.shape if slot.alpha is not None else (size, size)
        across = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, axis=0)
        down = np.linspace(255, 0, height, dtype=np.uint8)[:, None].repeat(width, axis=1)
        texture = np.stack([across, np.full_like(across, 40 * index), down], axis=-1) / 255.0
        textures.append(texture.astype(np.float32))
    return textures


def _assert_same_geometry(before: TexturedMesh, after: TexturedMesh, *, uv_tolerance: float = 0.0) -> None:
    np.testing.assert_array_equal(after.vertices, before.vertices)
    np.testing.assert_array_equal(after.faces, before.faces)
    np.testing.assert_array_equal(after.face_slot, before.face_slot)
    np.testing.assert_allclose(after.uv, before.uv, rtol=0, atol=uv_tolerance)
    assert [slot.name for slot in after.slots] == [slot.name for slot in before.slots]


def _round_trip(
    source: Path, tmp_path: Path, kind: str
) -> tuple[TexturedMesh, TexturedMesh, list[np.ndarray]]:
    mesh = load_mesh(source)
    textures = _new_textures(mesh)
    target = tmp_path / "out" / f"restyled.{kind}"
    EXPORTERS[kind](mesh, textures, target)
    return mesh, load_mesh(target), textures


def _assert_textures_replaced(after: TexturedMesh, textures: list[np.ndarray]) -> None:
    for slot, texture in zip(after.slots, textures, strict=True):
        np.testing.assert_allclose(slot.image, texture, atol=0.5 / 255)


# --------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", ["glb", "obj"])
@pytest.mark.parametrize(
    ("builder", "rebuilt_glb"),
    [(textured_quad, True), (two_material_cube_obj, True), (two_material_cube_glb, False)],
)
def test_round_trip_keeps_geometry_and_replaces_textures(
    tmp_path: Path, builder, rebuilt_glb: bool, kind: str
) -> None:
    before, after, textures = _round_trip(builder(tmp_path / "src"), tmp_path, kind)
    tolerance = FLOAT32_STEP_AT_ONE if kind == "glb" and rebuilt_glb else 0.0
    _assert_same_geometry(before, after, uv_tolerance=tolerance)
    _assert_textures_replaced(after, textures)


@pytest.mark.parametrize("kind", ["glb", "obj"])
def test_round_trip_of_unwrapped_and_baked_meshes(tmp_path: Path, kind: str) -> None:
    for builder in (uv_less_obj, vertex_colored_ply):
        before, after, textures = _round_trip(builder(tmp_path / builder.__name__), tmp_path, kind)
        _assert_same_geometry(before, after, uv_tolerance=FLOAT32_STEP_AT_ONE if kind == "glb" else 0.0)
        _assert_textures_replaced(after, textures)


def test_glb_export_keeps_material_properties_and_alpha(tmp_path: Path) -> None:
    source = two_material_cube_glb(tmp_path / "src")
    mesh = load_mesh(source)
    target = tmp_path / "out.glb"
    export_glb(mesh, _new_textures(mesh, size=8), target)  # the source texture's size: alpha comes back as is
    before, after = read_glb_json(source), read_glb_json(target)
    textured, plain = after["materials"]
    assert textured["pbrMetallicRoughness"]["metallicFactor"] == pytest.approx(0.25)
    assert textured["pbrMetallicRoughness"]["roughnessFactor"] == pytest.approx(0.75)
    assert textured["alphaMode"] == "BLEND" and textured["doubleSided"] is True
    assert plain["pbrMetallicRoughness"]["baseColorFactor"] == [1.0, 1.0, 1.0, 1.0]  # colour baked in
    assert "baseColorTexture" in plain["pbrMetallicRoughness"]
    # geometry, nodes and accessors are the source's, untouched
    assert after["nodes"] == before["nodes"] and after["meshes"] == before["meshes"]
    # accessors are untouched but for bufferView numbers (the replaced image's view is gone)
    strip = [
        {key: value for key, value in accessor.items() if key != "bufferView"}
        for accessor in before["accessors"]
    ]
    assert [
        {key: value for key, value in accessor.items() if key != "bufferView"}
        for accessor in after["accessors"]
    ] == strip
    # the textured slot keeps its alpha channel
    reloaded = load_mesh(target)
    np.testing.assert_allclose(reloaded.slots[0].alpha, mesh.slots[0].alpha, atol=0.5 / 255)


def test_glb_export_embeds_external_resources(assets: Path, tmp_path: Path) -> None:
    mesh = load_mesh(assets / "meshes/box_textured/gltf_separate/BoxTextured.gltf")
    export_glb(mesh, _new_textures(mesh), tmp_path / "box.glb")
    document = read_glb_json(tmp_path / "box.glb")
    assert all("uri" not in entry for entry in document["buffers"] + document["images"])
    assert len(document["images"]) == 1  # the replaced image is not carried along as dead weight
    assert document["samplers"][0]["wrapS"] == 33648  # sampler untouched (MIRRORED_REPEAT here)


def test_obj_export_keeps_other_mtl_statements(tmp_path: Path) -> None:
    mesh = load_mesh(two_material_cube_obj(tmp_path / "src"))
    export_obj(mesh, _new_textures(mesh), tmp_path / "out" / "cube.obj")
    mtl = (tmp_path / "out" / "cube.mtl").read_text()
    assert "Ns 42" in mtl and "Ks 0.5 0.5 0.5" in mtl and "illum 2" in mtl
    assert "map_Kd cube_painted.png" in mtl and "map_Kd cube_plain.png" in mtl
    # the bump map is copied beside the export, with its options
    assert "map_Bump -bm 0.5 cube_bumps.png" in mtl
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "cube.mtl", "cube.obj", "cube_bumps.png", "cube_painted.png", "cube_plain.png",
    ]  # fmt: skip
    # the zero-area face is written back: export keeps the original geometry
    assert (tmp_path / "out" / "cube.obj").read_text().count("\nf ") == 13


def test_png_keeps_texture_values(tmp_path: Path) -> None:
    mesh = load_mesh(textured_quad(tmp_path / "src"))
    texture = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.float32) / 255.0
    export_obj(mesh, [texture], tmp_path / "out.obj")
    pixels = np.asarray(Image.open(tmp_path / "out_quad.png"), dtype=np.float32) / 255.0
    np.testing.assert_array_equal(pixels, texture)  # row 0 of the array is row 0 of the file


# ----------------------------------------------------------------------------------- safety and errors


def test_refuses_to_overwrite_the_source(tmp_path: Path) -> None:
    source = two_material_cube_glb(tmp_path)
    mesh = load_mesh(source)
    data = source.read_bytes()
    with pytest.raises(ConfigError, match=r"cube\.glb: would overwrite a file of the input asset"):
        export_glb(mesh, _new_textures(mesh), source)
    assert source.read_bytes() == data


def test_obj_refuses_to_overwrite_source_files(tmp_path: Path) -> None:
    source = textured_quad(tmp_path)
    mesh = load_mesh(source)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    with pytest.raises(ConfigError, match="would overwrite"):
        export_obj(mesh, _new_textures(mesh), tmp_path / "quad.obj")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


def test_failed_obj_export_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mesh = load_mesh(two_material_cube_obj(tmp_path / "src"))
    calls = []

    def failing_png(texture, slot):  # the second texture fails, after the first was written
        calls.append(slot.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return b"png"

    monkeypatch.setattr(export_module, "texture_png", failing_png)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OSError, match="disk full"):
        export_obj(mesh, _new_textures(mesh), out / "cube.obj")
    assert list(out.iterdir()) == []


def test_wrong_number_of_textures(tmp_path: Path) -> None:
    mesh = load_mesh(two_material_cube_obj(tmp_path))
    with pytest.raises(ValueError, match="one texture per slot"):
        export_glb(mesh, _new_textures(mesh)[:1], tmp_path / "out.glb")


@pytest.mark.parametrize("kind", ["glb", "obj"])
def test_a_texture_of_another_size_than_its_alpha_is_refused_not_resampled(tmp_path: Path, kind: str) -> None:
    mesh = load_mesh(two_material_cube_glb(tmp_path / "src"))  # slot 0: 8x8 RGBA
    textures = _new_textures(mesh)
    textures[0] = np.zeros((16, 16, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"slot 'textured' must have its alpha's size \(8, 8\), got \(16, 16\)"):
        EXPORTERS[kind](mesh, textures, tmp_path / "out" / f"cube.{kind}")
    assert not (tmp_path / "out").exists()


# -------------------------------------------------------------------------------------- glTF validator


@pytest.mark.parametrize(
    "relative",
    [
        "spot/spot.obj",
        "box_textured/BoxTextured.glb",
        "box_textured/gltf_separate/BoxTextured.gltf",
        "spider/spider.obj",
    ],
)
def test_exported_glb_passes_the_khronos_validator(
    assets: Path, tmp_path: Path, relative: str, gltf_validator
) -> None:
    mesh = load_mesh(assets / "meshes" / relative)
    export_glb(mesh, _new_textures(mesh), tmp_path / "out.glb")
    report = gltf_validator(tmp_path / "out.glb")
    errors = [message for message in report["issues"]["messages"] if message["severity"] == 0]
    assert report["issues"]["numErrors"] == 0, errors


# ------------------------------------------------------------------------------------------ dilation


def test_dilation_fills_uncovered_and_keeps_covered() -> None:
    rng = np.random.default_rng(0)
    texture = rng.random((9, 13, 3)).astype(np.float32)
    covered = np.zeros((9, 13), dtype=bool)
    covered[2:5, 3:7] = True
    texture[~covered] = np.nan  # whatever was there must not leak into the result
    padded = dilate_texture(np.nan_to_num(texture, nan=-1.0), covered)
    assert padded.shape == texture.shape and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[covered], texture[covered])
    # every uncovered texel is filled with a value within the covered range
    low, high = texture[covered].min(axis=0), texture[covered].max(axis=0)
    assert np.all(padded[~covered] >= low) and np.all(padded[~covered] <= high)


def test_dilation_of_a_constant_island_is_constant() -> None:
    texture = np.zeros((16, 16, 3), dtype=np.float32)
    covered = np.zeros((16, 16), dtype=bool)
    covered[5:9, 10:12] = True
    texture[covered] = [0.2, 0.4, 0.6]
    np.testing.assert_allclose(
        dilate_texture(texture, covered), np.broadcast_to([0.2, 0.4, 0.6], texture.shape)
    )


def test_dilation_prefers_the_nearer_island() -> None:
    texture = np.zeros((32, 32), dtype=np.float64)
    covered = np.zeros((32, 32), dtype=bool)
    covered[:, :4], covered[:, -4:] = True, True
    texture[:, :4], texture[:, -4:] = 0.0, 1.0
    padded = dilate_texture(texture, covered)
    assert padded.ndim == 2
    assert padded[:, 5].mean() < 0.5 < padded[:, 26].mean()


def test_dilation_edge_cases() -> None:
    texture = np.ones((4, 4, 3), dtype=np.float32)
    np.testing.assert_array_equal(dilate_texture(texture, np.zeros((4, 4), bool)), texture)
    np.testing.assert_array_equal(dilate_texture(texture, np.ones((4, 4), bool)), texture)
    with pytest.raises(ValueError, match="coverage must be"):
        dilate_texture(texture, np.ones((3, 4), bool))


@pytest.mark.parametrize("kind", ["glb", "obj"])
def test_textures_at_each_slots_own_size_come_back_bit_for_bit(assets: Path, tmp_path: Path, kind: str) -> None:
    # restyle mesh exports at the original resolution: slots of different, non-square sizes, values unchanged
    mesh = load_mesh(assets / "meshes/spider/spider.obj")
    textures = [slot.image for slot in mesh.slots]
    assert len({texture.shape for texture in textures}) > 1
    target = tmp_path / f"spider.{kind}"
    EXPORTERS[kind](mesh, textures, target)
    for slot, texture in zip(load_mesh(target).slots, textures, strict=True):
        np.testing.assert_array_equal(slot.image, texture)


# ------------------------------------------------------------------------- base-colour alpha and wrap


def _translucent_clamped_glb(folder: Path) -> Path:
    """The two-material cube GLB edited so material 0 has baseColorFactor alpha 0.5 and a CLAMP sampler."""
    source = two_material_cube_glb(folder)
    data = source.read_bytes()
    document = read_glb_json(source)
    binary_start = 20 + struct.unpack_from("<I", data, 12)[0] + 8
    pbr = document["materials"][0]["pbrMetallicRoughness"]
    pbr["baseColorFactor"] = [1.0, 1.0, 1.0, 0.5]
    document["samplers"] = [{"wrapS": 33071, "wrapT": 33071}]
    document["textures"][pbr["baseColorTexture"]["index"]]["sampler"] = 0
    source.write_bytes(glb_bytes(document, data[binary_start:]))
    return source


def _base_color(document: dict, material: int) -> tuple[float, str, list[int]]:
    """(factor alpha, alphaMode, [wrapS, wrapT]) of one material of an exported GLB's JSON."""
    entry = document["materials"][material]
    pbr = entry["pbrMetallicRoughness"]
    texture = document["textures"][pbr["baseColorTexture"]["index"]]
    sampler = document.get("samplers", [])[texture["sampler"]] if "sampler" in texture else {}
    wrap = [sampler.get("wrapS", 10497), sampler.get("wrapT", 10497)]  # glTF's default is REPEAT
    return pbr.get("baseColorFactor", [1.0] * 4)[3], entry.get("alphaMode", "OPAQUE"), wrap


def test_patched_glb_keeps_base_color_alpha_and_clamp_wrap(tmp_path: Path) -> None:
    mesh = load_mesh(_translucent_clamped_glb(tmp_path / "src"))
    assert mesh.gltf_patch is not None and mesh.slots[0].wrap == "clamp"
    export_glb(mesh, _new_textures(mesh), tmp_path / "out.glb")
    alpha, mode, wrap = _base_color(read_glb_json(tmp_path / "out.glb"), 0)
    assert alpha == 0.5 and mode == "BLEND" and wrap == [33071, 33071]


def test_rebuilt_glb_writes_mtl_dissolve_and_clamp_wrap(tmp_path: Path) -> None:
    source = textured_quad(tmp_path / "src")
    (source.parent / "quad.mtl").write_text("newmtl quad\nKd 1 1 1\nd 0.5\nmap_Kd -clamp on quad.png\n")
    mesh = load_mesh(source)
    export_glb(mesh, _new_textures(mesh), tmp_path / "out.glb")
    alpha, mode, wrap = _base_color(read_glb_json(tmp_path / "out.glb"), 0)
    assert alpha == pytest.approx(0.5, abs=0.5 / 255) and mode == "BLEND"  # trimesh stores the factor in 8 bits
    assert wrap == [33071, 33071]
    assert load_mesh(tmp_path / "out.glb").slots[0].wrap == "clamp"


def test_rebuilt_glb_of_an_opaque_repeating_material_stays_so(tmp_path: Path) -> None:
    mesh = load_mesh(textured_quad(tmp_path / "src"))
    export_glb(mesh, _new_textures(mesh), tmp_path / "out.glb")
    assert _base_color(read_glb_json(tmp_path / "out.glb"), 0) == (1.0, "OPAQUE", [10497, 10497])
