"""glTF/GLB documents: the JSON and buffers read directly (trimesh parses the geometry), Draco and KTX2 checks, and
the bookkeeping that ties trimesh's geometries back to the document's meshes, materials and samplers.

Export relies on this to rewrite a glTF source by editing its JSON, with the geometry bytes untouched.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import trimesh

from restyle.errors import InputError
from restyle.io.uv_raster import Wrap

DRACO_EXTENSION = "KHR_draco_mesh_compression"
BASISU_EXTENSION = "KHR_texture_basisu"  # a texture whose image is KTX2 (Basis Universal)
WEBP_EXTENSION = "EXT_texture_webp"
_KTX_MAGIC = b"\xabKTX "  # KTX 1 and 2 files start with 0xAB "KTX 11" / "KTX 20" 0xBB
GL_REPEAT = 10497  # glTF sampler wrap codes (the OpenGL enums)
GL_CLAMP_TO_EDGE = 33071
_GLB_MAGIC = b"glTF"
_GLTF_ARRAYS = (
    "meshes", "materials", "textures", "images", "samplers", "accessors", "bufferViews", "buffers",
)  # fmt: skip


@dataclass(frozen=True)
class GltfDocument:
    """A glTF asset's JSON and its buffers' bytes (GLB BIN chunk, external .bin files, data URIs)."""

    json: dict
    buffers: list[bytes]
    folder: Path  # where relative URIs resolve


@dataclass(frozen=True)
class GltfPatch:
    """Set when the glTF/GLB source can be re-exported by editing its JSON (geometry bytes untouched)."""

    slot_primitives: tuple[tuple[tuple[int, int], ...], ...]  # per slot: (mesh, primitive) index pairs


# --------------------------------------------------------------------------------------------- reading


def read_gltf_document(path: Path) -> GltfDocument:
    """Parse a ``.glb`` container or a ``.gltf`` file with its external buffers."""
    data = path.read_bytes()
    try:
        if data[:4] == _GLB_MAGIC:
            document, binary = _split_glb(data)
        else:
            document, binary = json.loads(data.decode("utf-8")), None
    except (ValueError, UnicodeDecodeError, struct.error) as error:
        raise InputError(f"{path}: not a valid glTF file ({error})") from error
    _check_gltf_structure(path, document)
    buffers = [_buffer_bytes(path, buffer, binary) for buffer in document.get("buffers", [])]
    for image in document.get("images", []):
        if "uri" in image:  # trimesh would silently drop a missing image and leave the asset untextured
            read_uri(path, path.parent, image["uri"])
    return GltfDocument(json=document, buffers=buffers, folder=path.parent)


def _check_gltf_structure(path: Path, document: object) -> None:
    """The shape this module relies on: top-level arrays of objects, primitives as a list of objects."""
    if not isinstance(document, dict):
        raise InputError(f"{path}: not a valid glTF file (the JSON is not an object)")
    for name in _GLTF_ARRAYS:
        entries = document.get(name, [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise InputError(f"{path}: not a valid glTF file ('{name}' is not a list of objects)")
    for mesh in document.get("meshes", []):
        primitives = mesh.get("primitives")
        if not isinstance(primitives, list) or not all(isinstance(entry, dict) for entry in primitives):
            raise InputError(f"{path}: not a valid glTF file (a mesh's primitives are not a list of objects)")


def _split_glb(data: bytes) -> tuple[dict, bytes | None]:
    _magic, _version, length = struct.unpack_from("<4sII", data, 0)
    offset, document, binary = 12, None, None
    while offset < min(length, len(data)):
        chunk_length, chunk_type = struct.unpack_from("<II", data, offset)
        chunk = data[offset + 8 : offset + 8 + chunk_length]
        if chunk_type == 0x4E4F534A:  # "JSON"
            document = json.loads(chunk.decode("utf-8"))
        elif chunk_type == 0x004E4942:  # "BIN\0"
            binary = chunk
        offset += 8 + chunk_length
    if document is None:
        raise ValueError("GLB has no JSON chunk")
    return document, binary


def _buffer_bytes(path: Path, buffer: dict, binary: bytes | None) -> bytes:
    uri = buffer.get("uri")
    if uri is None:
        return binary or b""
    return read_uri(path, path.parent, uri)


def read_uri(path: Path, folder: Path, uri: str) -> bytes:
    """Bytes of a glTF ``uri``: a base64 data URI or a file relative to the asset (InputError if missing)."""
    if uri.startswith("data:"):
        return base64.b64decode(uri.split(",", 1)[1])
    resource = folder / unquote(uri)
    if not resource.is_file():
        raise InputError(f"{path}: referenced file '{unquote(uri)}' not found")
    return resource.read_bytes()


def referenced_files(document: GltfDocument) -> set[Path]:
    """The external buffer and image files the document names (data URIs excluded), resolved."""
    files = set()
    for entry in document.json.get("buffers", []) + document.json.get("images", []):
        uri = entry.get("uri")
        if uri and not uri.startswith("data:"):
            files.add((document.folder / unquote(uri)).resolve())
    return files


# ----------------------------------------------------------------------------------------------- Draco


def _uses_draco(document: dict) -> bool:
    declared = DRACO_EXTENSION in document.get("extensionsUsed", []) + document.get("extensionsRequired", [])
    return declared or any(
        DRACO_EXTENSION in primitive.get("extensions", {})
        for mesh in document.get("meshes", [])
        for primitive in mesh.get("primitives", [])
    )


def check_draco_support(path: Path, document: dict) -> None:
    if not _uses_draco(document):
        return
    try:
        import DracoPy  # noqa: F401  (trimesh decodes through it)
    except ImportError as error:
        raise InputError(
            f"{path}: Draco-compressed glTF needs the DracoPy package (pip install DracoPy)"
        ) from error


def check_draco_decoded(path: Path, document: dict, vertex_arrays: Iterable[np.ndarray]) -> None:
    """``vertex_arrays``: the ``[Vg, 3]`` positions trimesh decoded, one array per placed geometry."""
    # trimesh fills undecodable Draco accessors with zeros instead of failing: never let that through
    if _uses_draco(document) and any(not np.any(vertices) for vertices in vertex_arrays):
        raise InputError(f"{path}: Draco-compressed geometry could not be decoded")


# ------------------------------------------------------------------------------------- KTX2 textures


def check_base_color_images(path: Path, document: GltfDocument) -> None:
    """Refuse KTX2 (Basis Universal) base-colour textures: no dependency decodes them, and trimesh skips them
    without a word, so the material would be stylised from plain white and re-pointed at that result."""
    for index, material in enumerate(document.json.get("materials", [])):
        info = material.get("pbrMetallicRoughness", {}).get("baseColorTexture")
        if isinstance(info, dict) and _is_ktx2(path, document, document.json["textures"][info["index"]]):
            raise InputError(
                f"{path}: the base-colour texture of material '{gltf_material_name(document, index)}' is KTX2 "
                "(Basis Universal), which restyle cannot decode; convert it to PNG or JPEG first"
            )


def _is_ktx2(path: Path, document: GltfDocument, texture: dict) -> bool:
    extensions = texture.get("extensions", {})
    # the image trimesh would decode: a WebP variant first, then the core source
    source = extensions.get(WEBP_EXTENSION, {}).get("source", texture.get("source"))
    if source is None:  # nothing but the KHR_texture_basisu source
        return BASISU_EXTENSION in extensions
    image = document.json["images"][source]
    if image.get("mimeType") == "image/ktx2" or unquote(image.get("uri", "")).lower().endswith(".ktx2"):
        return True
    return _image_bytes(path, document, image).startswith(_KTX_MAGIC)


def _image_bytes(path: Path, document: GltfDocument, image: dict) -> bytes:
    if "uri" in image:
        return read_uri(path, document.folder, image["uri"])
    view = document.json["bufferViews"][image["bufferView"]]
    start = view.get("byteOffset", 0)
    return document.buffers[view["buffer"]][start : start + view["byteLength"]]


def gltf_material_name(document: GltfDocument, material: int) -> str:
    return document.json["materials"][material].get("name") or f"#{material}"


def gltf_has_base_color_texture(document: GltfDocument, material: int) -> bool:
    return "baseColorTexture" in document.json["materials"][material].get("pbrMetallicRoughness", {})


# ---------------------------------------------------------------------------------------- bookkeeping


def gltf_primitive_map(document: dict, scene: trimesh.Scene) -> dict[str, tuple[int, int]] | None:
    """trimesh geometry name -> (mesh, primitive) of the glTF JSON, or None when they do not line up.

    trimesh creates one geometry per primitive in document order; the face counts confirm the match.
    Without a confident match export falls back to rebuilding the file (still correct, less faithful).
    """
    primitives = [
        (mesh_index, primitive_index, primitive)
        for mesh_index, mesh in enumerate(document.get("meshes", []))
        for primitive_index, primitive in enumerate(mesh.get("primitives", []))
    ]
    names = list(scene.geometry.keys())
    if len(names) != len(primitives):
        return None
    mapping = {}
    for name, (mesh_index, primitive_index, primitive) in zip(names, primitives, strict=True):
        if _primitive_face_count(document, primitive) != len(getattr(scene.geometry[name], "faces", ())):
            return None
        mapping[name] = (mesh_index, primitive_index)
    return mapping


def _primitive_face_count(document: dict, primitive: dict) -> int | None:
    if primitive.get("mode", 4) != 4:
        return None
    accessor = primitive.get("indices", primitive.get("attributes", {}).get("POSITION"))
    return None if accessor is None else document["accessors"][accessor]["count"] // 3


def gltf_material_index(
    document: GltfDocument | None, primitive_map: dict[str, tuple[int, int]] | None, geometry_name: str
) -> int | None:
    if document is None or primitive_map is None:
        return None
    mesh, primitive = primitive_map[geometry_name]
    return document.json["meshes"][mesh]["primitives"][primitive].get("material")


def gltf_base_color_factor(document: GltfDocument | None, material: int | None) -> np.ndarray | None:
    if document is None or material is None:
        return None
    pbr = document.json["materials"][material].get("pbrMetallicRoughness", {})
    return np.asarray(pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0]), dtype=np.float64)


def gltf_wrap(document: GltfDocument | None, material: int | None) -> Wrap:
    if document is None or material is None:
        return "repeat"
    info = document.json["materials"][material].get("pbrMetallicRoughness", {}).get("baseColorTexture")
    if info is None:
        return "repeat"
    sampler_index = document.json["textures"][info["index"]].get("sampler")
    sampler = document.json.get("samplers", [])[sampler_index] if sampler_index is not None else {}
    # MIRRORED_REPEAT tiles too: of the two modes the renderer knows, "repeat" is the faithful one
    return "clamp" if sampler.get("wrapS", GL_REPEAT) == GL_CLAMP_TO_EDGE else "repeat"


def build_gltf_patch(
    slot_geometry_names: list[list[str]], primitive_map: dict[str, tuple[int, int]]
) -> GltfPatch:
    """``slot_geometry_names``: per slot, the trimesh geometry names of its instances."""
    per_slot = tuple(
        tuple(dict.fromkeys(primitive_map[name] for name in geometry_names))
        for geometry_names in slot_geometry_names
    )
    return GltfPatch(slot_primitives=per_slot)


def clamp_base_color_samplers(document: dict, material_names: set[str]) -> None:
    """Give the base-colour texture of each named material its own CLAMP_TO_EDGE sampler (trimesh's GLB
    export writes no samplers, so without this every rebuilt texture would tile)."""
    for material in document.get("materials", []):
        info = material.get("pbrMetallicRoughness", {}).get("baseColorTexture")
        if material.get("name") in material_names and info is not None:
            samplers = document.setdefault("samplers", [])
            samplers.append({"wrapS": GL_CLAMP_TO_EDGE, "wrapT": GL_CLAMP_TO_EDGE})
            document["textures"][info["index"]]["sampler"] = len(samplers) - 1


def split_glb(data: bytes) -> tuple[dict, bytes | None]:
    """A GLB's JSON document and BIN chunk."""
    return _split_glb(data)
