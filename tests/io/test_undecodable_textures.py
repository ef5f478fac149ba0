"""A glTF base-colour texture that cannot be decoded (KTX2 / Basis Universal, a corrupt image) is refused in one line
naming the file, the material and the remedy, instead of being stylised from plain white without a word."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch
from meshes_fixtures import glb_bytes, read_glb_json, two_material_cube_glb

from restyle.api import stylize_mesh
from restyle.errors import InputError
from restyle.io.images import save_image
from restyle.io.meshes import load_mesh

KTX2_BYTES = b"\xabKTX 20\xbb\r\n\x1a\n" + bytes(68)  # the KTX2 identifier and an empty header: enough to recognise
KTX2_MESSAGE = (
    r"cube\.glb: the base-colour texture of material 'textured' is KTX2 \(Basis Universal\), which restyle cannot "
    r"decode; convert it to PNG or JPEG first"
)


def _with_base_color_image(folder: Path, kind: str) -> Path:
    """The two-material cube GLB with the textured material's base-colour texture re-pointed per ``kind``."""
    source = two_material_cube_glb(folder)
    data = source.read_bytes()
    document = read_glb_json(source)
    binary = bytearray(data[20 + struct.unpack_from("<I", data, 12)[0] + 8 :])
    texture = document["textures"][document["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]["index"]]
    image: dict = {}
    if kind in ("basisu extension", "ktx2 mime type"):  # the image in the binary chunk, declared as KTX2
        binary += b"\0" * (-len(binary) % 4)
        document["bufferViews"].append({"buffer": 0, "byteOffset": len(binary), "byteLength": len(KTX2_BYTES)})
        binary += KTX2_BYTES
        image = {"bufferView": len(document["bufferViews"]) - 1, "mimeType": "image/ktx2"}
    elif kind == "ktx2 file":
        (folder / "base colour.ktx2").write_bytes(KTX2_BYTES)
        image = {"uri": "base%20colour.ktx2"}
    elif kind == "ktx2 named png":  # only the content says what it is
        (folder / "base.png").write_bytes(KTX2_BYTES)
        image = {"uri": "base.png"}
    elif kind == "corrupt png":
        (folder / "base.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
        image = {"uri": "base.png"}
    document["images"].append(image)
    if kind == "basisu extension":  # the KTX2 image is the texture's only source
        texture.pop("source")
        texture["extensions"] = {"KHR_texture_basisu": {"source": len(document["images"]) - 1}}
        document["extensionsUsed"] = ["KHR_texture_basisu"]
    else:
        texture["source"] = len(document["images"]) - 1
    document["buffers"][0]["byteLength"] = len(binary)
    source.write_bytes(glb_bytes(document, bytes(binary)))
    return source


@pytest.mark.parametrize("kind", ["basisu extension", "ktx2 mime type", "ktx2 file", "ktx2 named png"])
def test_a_ktx2_base_color_texture_is_refused_naming_file_material_and_remedy(tmp_path: Path, kind: str) -> None:
    with pytest.raises(InputError, match=KTX2_MESSAGE) as caught:
        load_mesh(_with_base_color_image(tmp_path, kind))
    assert "\n" not in str(caught.value)


def test_a_basisu_texture_with_a_png_fallback_loads_from_the_png(tmp_path: Path) -> None:
    source = two_material_cube_glb(tmp_path / "plain")
    expected = load_mesh(source).slots[0].image
    data = source.read_bytes()
    document = read_glb_json(source)
    binary = data[20 + struct.unpack_from("<I", data, 12)[0] + 8 :]
    document["textures"][0]["extensions"] = {"KHR_texture_basisu": {"source": 0}}  # a KTX2 variant, never read
    fallback = tmp_path / "fallback.glb"
    fallback.write_bytes(glb_bytes(document, binary))
    assert (load_mesh(fallback).slots[0].image == expected).all()


def test_an_undecodable_base_color_image_is_refused_instead_of_turning_white(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cube\.glb: the base-colour texture of material 'textured' could not be "
                                         r"decoded; convert it to PNG or JPEG"):
        load_mesh(_with_base_color_image(tmp_path, "corrupt png"))


def test_a_mesh_run_on_a_ktx2_asset_fails_before_writing_anything(tmp_path: Path) -> None:
    style = tmp_path / "style.png"
    save_image(torch.rand(3, 16, 16), style)
    with pytest.raises(InputError, match=KTX2_MESSAGE):
        stylize_mesh(_with_base_color_image(tmp_path / "asset", "ktx2 mime type"), [style], tmp_path / "out")
    assert not (tmp_path / "out").exists()
