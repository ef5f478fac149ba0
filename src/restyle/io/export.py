"""Textured asset export: GLB (glTF 2.0) and OBJ+MTL+PNG, with only the base-colour textures replaced.

GLB from a glTF/GLB source is written by *editing the source document*: the JSON keeps every node,
material property, extension and animation, the geometry bytes are copied unchanged, and only each
slot's ``baseColorTexture`` points at the new PNG. Other sources (OBJ, PLY, or meshes that were unwrapped
on load) are rebuilt from :class:`~restyle.io.meshes.TexturedMesh`'s source parts with trimesh.

OBJ export writes the source parts (degenerate faces included) and, for an OBJ source, the original
``.mtl`` statements with ``map_Kd`` replaced; other maps the materials name are copied beside the export.
The OBJ/MTL text itself comes from :mod:`restyle.io.obj_text`; this module only stages and moves files.
Every write is atomic: a failure leaves neither a partial file nor a partial set of files.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from restyle.errors import ConfigError
from restyle.io import obj_text
from restyle.io.atomic import atomic_path
from restyle.io.gltf import (
    GL_CLAMP_TO_EDGE,
    GL_REPEAT,
    GltfDocument,
    clamp_base_color_samplers,
    read_gltf_document,
    read_uri,
    split_glb,
)
from restyle.io.meshes import SourceMaterial, SourcePart, TexturedMesh, TextureSlot
from restyle.io.mtl import mtl_opacity

_ALIGNMENT = 4  # glTF: every bufferView and the BIN chunk start on a 4-byte boundary


# ------------------------------------------------------------------------------------------- common


def _check_textures(mesh: TexturedMesh, textures: Sequence[np.ndarray]) -> None:
    if len(textures) != len(mesh.slots):
        raise ValueError(f"expected one texture per slot ({len(mesh.slots)}), got {len(textures)}")
    for slot, texture in zip(mesh.slots, textures, strict=True):
        if texture.ndim != 3 or texture.shape[2] != 3:
            raise ValueError(f"texture of slot '{slot.name}' must be [Ht, Wt, 3], got {tuple(texture.shape)}")
        if slot.alpha is not None and texture.shape[:2] != slot.alpha.shape:
            # alpha is never optimised: it is written back as loaded, never resampled to another size
            raise ValueError(f"texture of slot '{slot.name}' must have its alpha's size {slot.alpha.shape}, "
                             f"got {tuple(texture.shape[:2])}")


def _refuse_overwriting_source(mesh: TexturedMesh, outputs: Sequence[Path]) -> None:
    sources = {Path(file).resolve() for file in (mesh.source, *mesh.source_files)}
    for output in outputs:
        if output.resolve() in sources:
            raise ConfigError(
                f"{output}: would overwrite a file of the input asset {mesh.source}; choose another output"
            )


def texture_png(texture: np.ndarray, slot: TextureSlot) -> bytes:
    """``[Ht, Wt, 3]`` float 0..1 to PNG bytes; the slot's alpha (of the same size) comes back as loaded, as RGBA."""
    rgb = np.clip(np.nan_to_num(np.asarray(texture, dtype=np.float32)), 0.0, 1.0)
    pixels = (rgb * 255.0 + 0.5).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if slot.alpha is not None:
        image.putalpha(Image.fromarray((np.clip(slot.alpha, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "L"))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- GLB


def export_glb(mesh: TexturedMesh, textures: Sequence[np.ndarray], path: str | os.PathLike[str]) -> None:
    """Write ``mesh`` as a binary glTF with ``textures`` (one ``[Ht, Wt, 3]`` float 0..1 per slot) as the
    base colours. Geometry, UVs and the other material properties are those of the source."""
    path = Path(path)
    _check_textures(mesh, textures)
    _refuse_overwriting_source(mesh, [path])
    pngs = [texture_png(texture, slot) for texture, slot in zip(textures, mesh.slots, strict=True)]
    data = _patched_source_glb(mesh, pngs) if mesh.gltf_patch is not None else _rebuilt_glb(mesh, pngs)
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
        _make_readable(temporary)


def _make_readable(path: Path) -> None:
    # temporary files are created owner-only; an exported asset should get the usual permissions
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def _patched_source_glb(mesh: TexturedMesh, pngs: list[bytes]) -> bytes:
    source = read_gltf_document(mesh.source)
    document = copy.deepcopy(source.json)
    views = _buffer_view_bytes(source)
    _embed_external_images(mesh.source, source, document, views)
    for slot_index, png in enumerate(pngs):
        material = mesh.source_materials[slot_index].gltf_material
        _replace_base_color(document, views, material, png, mesh.slots[slot_index])
    _drop_unreferenced_views(document, views)
    return _glb_bytes(document, _pack_views(document, views))


def _buffer_view_bytes(source: GltfDocument) -> list[bytes]:
    views = []
    for view in source.json.get("bufferViews", []):
        start = view.get("byteOffset", 0)
        views.append(source.buffers[view["buffer"]][start : start + view["byteLength"]])
    return views


def _add_view(document: dict, views: list[bytes], data: bytes) -> int:
    document.setdefault("bufferViews", []).append({"buffer": 0, "byteLength": len(data)})
    views.append(data)
    return len(views) - 1


def _embed_external_images(path: Path, source: GltfDocument, document: dict, views: list[bytes]) -> None:
    """A GLB is self-contained: images stored as files or data URIs move into the binary chunk."""
    for image in document.get("images", []):
        uri = image.pop("uri", None)
        if uri is None:
            continue
        data = read_uri(path, source.folder, uri)
        image["bufferView"] = _add_view(document, views, data)
        image.setdefault("mimeType", _image_mime_type(data))


def _image_mime_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/ktx2"


def _replace_base_color(
    document: dict, views: list[bytes], material: int, png: bytes, slot: TextureSlot
) -> None:
    """Point the material's baseColorTexture at ``png``; sampler, texCoord and extensions are kept."""
    pbr = document["materials"][material].setdefault("pbrMetallicRoughness", {})
    old_info = pbr.get("baseColorTexture")
    image = {"bufferView": _add_view(document, views, png), "mimeType": "image/png", "name": slot.name}
    if old_info is not None and _texture_used_once(document, old_info["index"]):
        # nothing else shows this texture: swap its image in place instead of leaving a dead copy
        texture = document["textures"][old_info["index"]]
        texture.pop("extensions", None)  # e.g. a WebP/KTX2 variant that viewers would prefer to our PNG
        document["images"][texture["source"]] = image
    else:
        document.setdefault("images", []).append(image)
        sampler = _sampler_for(document, old_info, slot)
        document.setdefault("textures", []).append(
            {"source": len(document["images"]) - 1, "sampler": sampler}
        )
        pbr["baseColorTexture"] = {**(old_info or {}), "index": len(document["textures"]) - 1}
    if "baseColorFactor" in pbr:
        # the factor's colour is baked into the new texture; its alpha still scales the texture's alpha
        pbr["baseColorFactor"] = [1.0, 1.0, 1.0, pbr["baseColorFactor"][3]]


def _texture_used_once(document: dict, texture: int) -> bool:
    texture_uses = sum(1 for info in _texture_infos(document) if info["index"] == texture)
    image = document["textures"][texture].get("source")
    image_uses = sum(1 for entry in document["textures"] if entry.get("source") == image)
    return image is not None and texture_uses == 1 and image_uses == 1


def _texture_infos(node: object) -> Iterator[dict]:
    """Every textureInfo object (``{"index": ...}`` under a key ending in ``Texture``), core or extension."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("Texture") and isinstance(value, dict) and "index" in value:
                yield value
            yield from _texture_infos(value)
    elif isinstance(node, list):
        for value in node:
            yield from _texture_infos(value)


def _sampler_for(document: dict, old_info: dict | None, slot: TextureSlot) -> int:
    if old_info is not None and "sampler" in document["textures"][old_info["index"]]:
        return document["textures"][old_info["index"]]["sampler"]
    wrap = GL_REPEAT if slot.wrap == "repeat" else GL_CLAMP_TO_EDGE
    document.setdefault("samplers", []).append({"wrapS": wrap, "wrapT": wrap})
    return len(document["samplers"]) - 1


def _drop_unreferenced_views(document: dict, views: list[bytes]) -> None:
    """Remove bufferViews nothing points at any more (replaced images) and renumber the references."""
    used = sorted(set(_values_of_key(document, "bufferView")))
    renumber = {old: new for new, old in enumerate(used)}
    document["bufferViews"] = [document["bufferViews"][old] for old in used]
    views[:] = [views[old] for old in used]
    _renumber_key(document, "bufferView", renumber)


def _values_of_key(node: object, key: str) -> Iterator[int]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, int):
                yield value
            else:
                yield from _values_of_key(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from _values_of_key(value, key)


def _renumber_key(node: object, key: str, renumber: dict[int, int]) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, int):
                node[name] = renumber[value]
            else:
                _renumber_key(value, key, renumber)
    elif isinstance(node, list):
        for value in node:
            _renumber_key(value, key, renumber)


def _pack_views(document: dict, views: list[bytes]) -> bytes:
    """Concatenate the views into the single GLB buffer, each on a 4-byte boundary."""
    binary = bytearray()
    for view, data in zip(document.get("bufferViews", []), views, strict=True):
        binary += b"\0" * (-len(binary) % _ALIGNMENT)
        view["buffer"], view["byteOffset"] = 0, len(binary)
        binary += data
    binary += b"\0" * (-len(binary) % _ALIGNMENT)
    document["buffers"] = [{"byteLength": len(binary)}] if binary else []
    return bytes(binary)


def _glb_bytes(document: dict, binary: bytes) -> bytes:
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % _ALIGNMENT)  # the spec pads the JSON chunk with spaces
    chunks = struct.pack("<I4s", len(text), b"JSON") + text
    if binary:
        chunks += struct.pack("<I4s", len(binary), b"BIN\0") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def _rebuilt_glb(mesh: TexturedMesh, pngs: list[bytes]) -> bytes:
    """GLB for OBJ/PLY sources (or unwrapped meshes): one node per source part, one material per slot."""
    materials = [
        _pbr_material(source, slot, png)
        for source, slot, png in zip(mesh.source_materials, mesh.slots, pngs, strict=True)
    ]
    scene = trimesh.Scene()
    for part in mesh.source_parts:
        origin = _float32_origin(part.vertices)
        geometry = _part_trimesh(part, origin, materials[part.slot])
        scene.add_geometry(geometry, node_name=part.name, geom_name=part.name,
                           transform=trimesh.transformations.translation_matrix(origin))
    document, binary = split_glb(scene.export(file_type="glb"))
    _translations_for_matrices(document)
    clamp_base_color_samplers(document, {slot.name for slot in mesh.slots if slot.wrap == "clamp"})
    return _glb_bytes(document, binary or b"")


def _float32_origin(vertices: np.ndarray) -> np.ndarray:
    """``[3]`` float64 origin for a part's positions: glTF stores them as float32, whose steps grow with the distance
    from the origin (0.5 at 5e6). Where that loses more than float32's precision at the part's own size, the part is
    re-centred on its bounding-box centre, which its node's translation (JSON doubles) adds back exactly."""
    extent = float(np.ptp(vertices, axis=0).max()) if len(vertices) else 0.0
    error = np.abs(vertices.astype(np.float32).astype(np.float64) - vertices).max(initial=0.0)
    if error <= np.finfo(np.float32).eps * extent:
        return np.zeros(3)  # float32 holds them as well as it can: no node offset for a model near the origin
    return (vertices.min(axis=0) + vertices.max(axis=0)) / 2


def _translations_for_matrices(document: dict) -> None:
    """trimesh writes a node's transform as a matrix: a pure translation reads better as ``translation``."""
    for node in document.get("nodes", []):
        if "matrix" not in node:
            continue
        matrix = np.asarray(node["matrix"], dtype=np.float64).reshape(4, 4).T  # glTF stores it column by column
        if np.array_equal(matrix[:3, :3], np.eye(3)) and np.array_equal(matrix[3], [0.0, 0.0, 0.0, 1.0]):
            node["translation"] = matrix[:3, 3].tolist()
            del node["matrix"]


def _part_trimesh(
    part: SourcePart, origin: np.ndarray, material: trimesh.visual.material.PBRMaterial
) -> trimesh.Trimesh:
    geometry = trimesh.Trimesh(
        vertices=part.vertices - origin,
        faces=part.faces,
        visual=trimesh.visual.TextureVisuals(uv=part.uv, material=material),
        process=False,
    )
    if part.normals is not None:
        geometry.vertex_normals = _unit_normals(part.normals, geometry)
    return geometry


def _unit_normals(normals: np.ndarray, geometry: trimesh.Trimesh) -> np.ndarray:
    """glTF requires unit normals: zero or broken ones (common in OBJ files) get the computed normal."""
    length = np.linalg.norm(normals, axis=1)
    broken = ~np.isfinite(length) | (np.abs(length - 1.0) > 1e-3)
    if not broken.any():
        return normals
    computed = np.asarray(trimesh.Trimesh(geometry.vertices, geometry.faces, process=False).vertex_normals)
    computed_length = np.linalg.norm(computed, axis=1, keepdims=True)
    computed = np.where(computed_length > 0.5, computed / np.maximum(computed_length, 1e-12), [0.0, 0.0, 1.0])
    return np.where(broken[:, None], computed, normals / np.maximum(length, 1e-12)[:, None]).astype(
        np.float32
    )


def _pbr_material(
    source: SourceMaterial, slot: TextureSlot, png: bytes
) -> trimesh.visual.material.PBRMaterial:
    if isinstance(source.material, trimesh.visual.material.PBRMaterial):
        material = copy.deepcopy(source.material)
    elif source.material is not None:
        material = source.material.to_pbr()
    else:
        material = trimesh.visual.material.PBRMaterial()
    material.name = slot.name
    material.baseColorTexture = Image.open(io.BytesIO(png))
    alpha = material.baseColorFactor[3] if material.baseColorFactor is not None else 255
    if source.mtl is not None:  # trimesh ignores an .mtl's dissolve
        alpha = round(mtl_opacity(source.mtl) * 255)
    material.baseColorFactor = [255, 255, 255, alpha]  # the colour lives in the texture now
    if alpha < 255 and material.alphaMode in (None, "OPAQUE"):
        material.alphaMode = "BLEND"  # glTF ignores the factor's alpha in OPAQUE mode
    return material


# ---------------------------------------------------------------------------------------------- OBJ


def export_obj(mesh: TexturedMesh, textures: Sequence[np.ndarray], path: str | os.PathLike[str]) -> None:
    """Write ``path`` (.obj), a .mtl beside it and one PNG per slot; all appear together or not at all."""
    path = Path(path)
    _check_textures(mesh, textures)
    png_names = obj_text.png_names(path.stem, mesh.slots)
    planned = [path, path.with_suffix(".mtl"), *(path.parent / name for name in png_names)]
    _refuse_overwriting_source(mesh, planned)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.stem}.", dir=path.parent))
    try:
        for name, texture, slot in zip(png_names, textures, mesh.slots, strict=True):
            (staging / name).write_bytes(texture_png(texture, slot))
        mtl, extra_maps = obj_text.mtl_text(mesh, png_names, path.stem)
        _refuse_overwriting_source(mesh, [path.parent / name for name in extra_maps])
        for name, source_file in extra_maps.items():
            shutil.copyfile(source_file, staging / name)
        (staging / path.with_suffix(".mtl").name).write_text(mtl, encoding="utf-8")
        obj = obj_text.obj_text(mesh, path.with_suffix(".mtl").name)
        (staging / path.name).write_text(obj, encoding="utf-8")
        # the .obj goes last: until it exists nothing points at the files that moved before it
        for name in [*png_names, *extra_maps, path.with_suffix(".mtl").name, path.name]:
            os.replace(staging / name, path.parent / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
