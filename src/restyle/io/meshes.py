"""Mesh loading: any OBJ/MTL, glTF, GLB or PLY asset in, one :class:`TexturedMesh` out.

trimesh does the parsing; this module normalises its ``Scene``/``Trimesh`` results at the I/O boundary:
scene-graph transforms applied, all geometries concatenated, one texture slot per material, glTF's
v-down UVs already flipped by trimesh to the OpenGL convention (see ``restyle.conventions``).

Colour semantics (chosen to match Blender and game engines, so that what is optimised is what users see):

* PBR materials (glTF): the slot image is ``baseColorTexture x baseColorFactor`` (the factor multiplies in
  linear light); export then writes the new texture with the factor's RGB set to 1.
* Simple materials (OBJ/MTL, PLY): with a ``map_Kd`` the texture is the colour and ``Kd`` is ignored;
  without one, ``Kd`` is the colour.
* Texture-less materials get a small constant texture; vertex colours are baked into a new texture.

The loaded mesh keeps the state :mod:`restyle.io.export` needs to write the asset back with geometry,
UVs and every other material property untouched (``source_parts``, ``source_materials``, ``gltf_patch``).
"""

from __future__ import annotations

import base64
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import numpy as np
import torch
import trimesh
from PIL import Image

from restyle.conventions import linear_to_srgb, srgb_to_linear
from restyle.errors import InputError
from restyle.io.texture_padding import dilate_texture

SUPPORTED_SUFFIXES = (".obj", ".gltf", ".glb", ".ply")
CONSTANT_TEXTURE_SIZE = 8  # a texture-less material gets a small texture of its colour
BAKED_TEXTURE_SIZE = 1024  # vertex colours are baked at the paper's texture size
DRACO_EXTENSION = "KHR_draco_mesh_compression"
_GL_REPEAT = 10497
_GL_CLAMP_TO_EDGE = 33071
_GLB_MAGIC = b"glTF"

Wrap = Literal["repeat", "clamp"]


@dataclass
class TextureSlot:
    """One material's base colour, as the renderer samples it."""

    name: str
    image: np.ndarray  # [Ht, Wt, 3] float32 sRGB 0..1, row 0 = top of the image file
    alpha: np.ndarray | None  # [Ht, Wt] float32 when the base-colour texture had alpha (kept on export)
    wrap: Wrap


@dataclass(frozen=True)
class SourcePart:
    """One geometry instance of the source asset, as export writes it back (internal to ``restyle.io``).

    Degenerate faces are kept here (they are only dropped from the render arrays).
    """

    name: str
    vertices: np.ndarray  # [Vp, 3] float32, world space
    faces: np.ndarray  # [Fp, 3] int64, indices into this part's vertices
    uv: np.ndarray  # [Vp, 2] float32, OpenGL convention
    normals: np.ndarray | None  # [Vp, 3] float32 world space, only when the source stored normals
    slot: int


@dataclass(frozen=True)
class SourceMaterial:
    """What export needs to rewrite one slot's material with only its base colour replaced."""

    material: trimesh.visual.material.Material | None  # trimesh's material (None: the part had none)
    mtl: MtlMaterial | None  # OBJ source: the original .mtl block
    gltf_material: int | None  # glTF source: index into the document's ``materials``
    textured: bool  # the source material had a base-colour texture


@dataclass(frozen=True)
class GltfPatch:
    """Set when the glTF/GLB source can be re-exported by editing its JSON (geometry bytes untouched)."""

    slot_primitives: tuple[tuple[tuple[int, int], ...], ...]  # per slot: (mesh, primitive) index pairs


@dataclass
class TexturedMesh:
    """A textured triangle mesh ready for rendering: world-space geometry, UVs, one texture per slot."""

    vertices: np.ndarray  # [V, 3] float32 world space, all geometries concatenated
    faces: np.ndarray  # [F, 3] int64, zero-area faces dropped
    uv: np.ndarray  # [V, 2] float32, origin bottom-left, v up
    face_slot: np.ndarray  # [F] int64 index into ``slots``
    slots: list[TextureSlot]
    source: Path
    source_parts: list[SourcePart] = field(default_factory=list, repr=False)
    source_materials: list[SourceMaterial] = field(default_factory=list, repr=False)
    source_files: tuple[Path, ...] = field(default=(), repr=False)  # every file the asset was read from
    gltf_patch: GltfPatch | None = field(default=None, repr=False)

    @property
    def center(self) -> np.ndarray:
        """``[3]`` centre of the bounding box (the bounding sphere's centre)."""
        return ((self.vertices.min(axis=0) + self.vertices.max(axis=0)) / 2).astype(np.float32)

    @property
    def radius(self) -> float:
        """Radius of the bounding sphere around :attr:`center` that holds every vertex."""
        return float(np.linalg.norm(self.vertices - self.center, axis=1).max())


# --------------------------------------------------------------------------------------------- loading


def load_mesh(path: str | Path, *, unwrap: bool = True) -> TexturedMesh:
    """Load an OBJ(+MTL), glTF, GLB or PLY asset. Meshes without UVs are unwrapped with xatlas unless
    ``unwrap=False``. Every problem with the file raises :class:`InputError` ``"<path>: <problem>"``."""
    path = Path(path)
    _check_file(path)
    document = read_gltf_document(path) if path.suffix.lower() in (".gltf", ".glb") else None
    if document is not None:
        _check_draco_support(path, document.json)
    library = read_obj_library(path) if path.suffix.lower() == ".obj" else ObjLibrary({}, ())
    mtl_materials = library.materials
    scene = _load_trimesh_scene(path)
    instances = _in_stable_order(_scene_instances(path, scene), scene, library.usage_order)
    if document is not None:
        _check_draco_decoded(path, document.json, instances)
    grouped = _group_by_slot(instances)
    if any(group.needs_unwrap for group in grouped) and not unwrap:
        raise InputError(f"{path}: has no UVs; pass --unwrap")
    primitive_map = _gltf_primitive_map(document.json, scene) if document is not None else None
    parts, slots, materials = _build_slots(path, grouped, mtl_materials, document, primitive_map)
    vertices, faces, uv, face_slot = _render_arrays(path, parts)
    patchable = primitive_map is not None and not any(group.needs_unwrap for group in grouped)
    return TexturedMesh(
        vertices=vertices,
        faces=faces,
        uv=uv,
        face_slot=face_slot,
        slots=slots,
        source=path,
        source_parts=parts,
        source_materials=materials,
        source_files=_source_files(path, mtl_materials, document),
        gltf_patch=_gltf_patch(grouped, primitive_map) if patchable else None,
    )


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path}: unsupported mesh format (use one of {', '.join(SUPPORTED_SUFFIXES)})")


def _load_trimesh_scene(path: Path) -> trimesh.Scene:
    # process=False keeps vertex order and count exactly as stored, so export -> reload is identical
    try:
        return trimesh.load_scene(path, process=False)
    except Exception as error:  # trimesh raises anything from KeyError to struct.error on bad files
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: could not be read as a mesh ({reason})") from error


# --------------------------------------------------------------------------------------- glTF document


@dataclass(frozen=True)
class GltfDocument:
    """A glTF asset's JSON and its buffers' bytes (GLB BIN chunk, external .bin files, data URIs)."""

    json: dict
    buffers: list[bytes]
    folder: Path  # where relative URIs resolve


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


_GLTF_ARRAYS = (
    "meshes", "materials", "textures", "images", "samplers", "accessors", "bufferViews", "buffers",
)  # fmt: skip


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


def _uses_draco(document: dict) -> bool:
    declared = DRACO_EXTENSION in document.get("extensionsUsed", []) + document.get("extensionsRequired", [])
    return declared or any(
        DRACO_EXTENSION in primitive.get("extensions", {})
        for mesh in document.get("meshes", [])
        for primitive in mesh.get("primitives", [])
    )


def _check_draco_support(path: Path, document: dict) -> None:
    if not _uses_draco(document):
        return
    try:
        import DracoPy  # noqa: F401  (trimesh decodes through it)
    except ImportError as error:
        raise InputError(
            f"{path}: Draco-compressed glTF needs the DracoPy package (pip install DracoPy)"
        ) from error


def _check_draco_decoded(path: Path, document: dict, instances: list[_Instance]) -> None:
    # trimesh fills undecodable Draco accessors with zeros instead of failing: never let that through
    if _uses_draco(document) and any(not np.any(inst.geometry.vertices) for inst in instances):
        raise InputError(f"{path}: Draco-compressed geometry could not be decoded")


# ----------------------------------------------------------------------------------- scene instances


@dataclass(frozen=True)
class _Instance:
    """One node of the scene graph that places a triangle geometry."""

    name: str
    geometry_name: str
    geometry: trimesh.Trimesh
    transform: np.ndarray  # [4, 4]


def _scene_instances(path: Path, scene: trimesh.Scene) -> list[_Instance]:
    instances = []
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry[geometry_name]
        # point clouds and line sets (glTF POINTS/LINES, PLY without faces) have nothing to texture
        if isinstance(geometry, trimesh.Trimesh) and len(geometry.faces) > 0:
            instances.append(_Instance(str(node), geometry_name, geometry, np.asarray(transform)))
    if not instances:
        raise InputError(f"{path}: contains no triangle mesh")
    for instance in instances:
        if not np.all(np.isfinite(instance.geometry.vertices)):
            raise InputError(f"{path}: vertex positions contain NaN or infinite values")
    return instances


def _in_stable_order(
    instances: list[_Instance], scene: trimesh.Scene, usage_order: tuple[str, ...]
) -> list[_Instance]:
    """Instances in an order that survives export -> reload: the file's order of first ``usemtl`` for OBJ
    (trimesh returns OBJ groups reversed), otherwise the document's geometry order, then node name."""
    geometry_rank = {name: rank for rank, name in enumerate(scene.geometry)}
    material_rank = {name: rank for rank, name in enumerate(usage_order)}

    def rank(instance: _Instance) -> tuple[int, int, str]:
        material = getattr(getattr(instance.geometry.visual, "material", None), "name", None)
        first_use = material_rank.get(material, len(material_rank))
        return first_use, geometry_rank[instance.geometry_name], instance.name

    return sorted(instances, key=rank)


@dataclass
class _SlotGroup:
    """Instances that share one texture: same material, and the same need for an unwrap / bake."""

    material: trimesh.visual.material.Material | None
    vertex_colors: bool
    needs_unwrap: bool
    instances: list[_Instance] = field(default_factory=list)


def _group_by_slot(instances: list[_Instance]) -> list[_SlotGroup]:
    groups: dict[tuple, _SlotGroup] = {}
    for instance in instances:
        visual = instance.geometry.visual
        material = getattr(visual, "material", None)
        vertex_colors = visual.kind == "vertex" and material is None
        has_uv = getattr(visual, "uv", None) is not None and len(visual.uv) == len(instance.geometry.vertices)
        # vertex colours are baked into a fresh atlas, so those parts are unwrapped even if they had UVs
        needs_unwrap = vertex_colors or not has_uv
        key = (id(material), vertex_colors, needs_unwrap)
        group = groups.setdefault(key, _SlotGroup(material, vertex_colors, needs_unwrap))
        group.instances.append(instance)
    return list(groups.values())


# ---------------------------------------------------------------------------------------------- slots


# ---------------------------------------------------------------------------------------------- slots


@dataclass(frozen=True)
class _PartOf:
    """A built part plus, per part vertex, the index of the instance vertex it came from."""

    part: SourcePart
    source_vertex: np.ndarray  # [Vp] int64


def _build_slots(
    path: Path,
    groups: list[_SlotGroup],
    mtl_materials: dict[str, MtlMaterial],
    document: GltfDocument | None,
    primitive_map: dict[str, tuple[int, int]] | None,
) -> tuple[list[SourcePart], list[TextureSlot], list[SourceMaterial]]:
    parts: list[SourcePart] = []
    slots: list[TextureSlot] = []
    materials: list[SourceMaterial] = []
    names: set[str] = set()
    for index, group in enumerate(groups):
        built = _unwrapped_parts(group, index) if group.needs_unwrap else _parts_as_stored(group, index)
        mtl = mtl_materials.get(getattr(group.material, "name", None) or "")
        gltf_material = _gltf_material_index(document, primitive_map, group)
        if group.vertex_colors:
            slot, textured = _baked_vertex_color_slot(group, built), False
        else:
            slot, textured = _material_slot(path, group.material, mtl, document, gltf_material)
        slot.name = _unique_name(_slot_name(group, mtl, index), names)
        parts.extend(item.part for item in built)
        slots.append(slot)
        materials.append(SourceMaterial(group.material, mtl, gltf_material, textured))
    return parts, slots, materials


def _slot_name(group: _SlotGroup, mtl: MtlMaterial | None, index: int) -> str:
    if group.vertex_colors:
        return "vertex_colors"
    name = mtl.name if mtl is not None else getattr(group.material, "name", None)
    return name or f"material_{index}"


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, counter = name, 1
    while candidate in taken:
        candidate, counter = f"{name}_{counter}", counter + 1
    taken.add(candidate)
    return candidate


def _parts_as_stored(group: _SlotGroup, slot: int) -> list[_PartOf]:
    return [
        _PartOf(
            _part(instance, np.asarray(instance.geometry.visual.uv), slot),
            np.arange(len(instance.geometry.vertices)),
        )
        for instance in group.instances
    ]


def _part(instance: _Instance, uv: np.ndarray, slot: int) -> SourcePart:
    geometry, transform = instance.geometry, instance.transform
    vertices = trimesh.transformations.transform_points(geometry.vertices, transform)
    normals = None
    if "vertex_normals" in geometry._cache:  # stored in the file, not computed by trimesh on demand
        normals = _transform_normals(np.asarray(geometry.vertex_normals), transform)
    return SourcePart(
        name=instance.name,
        vertices=vertices.astype(np.float32),
        faces=np.asarray(geometry.faces, dtype=np.int64),
        uv=np.asarray(uv, dtype=np.float32),
        normals=normals,
        slot=slot,
    )


def _transform_normals(normals: np.ndarray, transform: np.ndarray) -> np.ndarray:
    # normals transform with the inverse transpose, so non-uniform scale keeps them perpendicular
    linear = np.linalg.inv(transform[:3, :3]).T
    turned = normals @ linear.T
    length = np.linalg.norm(turned, axis=1, keepdims=True)
    return (turned / np.maximum(length, 1e-12)).astype(np.float32)


def _unwrapped_parts(group: _SlotGroup, slot: int) -> list[_PartOf]:
    """Unwrap all instances of one slot into one shared atlas (separate atlases would overlap)."""
    import xatlas

    world = [_part(inst, np.zeros((len(inst.geometry.vertices), 2)), slot) for inst in group.instances]
    vertex_offsets = np.cumsum([0] + [len(part.vertices) for part in world])
    face_offsets = np.cumsum([0] + [len(part.faces) for part in world])
    vertices = np.concatenate([part.vertices for part in world])
    faces = np.concatenate([part.faces + offset for part, offset in zip(world, vertex_offsets, strict=False)])
    vmapping, atlas_faces, atlas_uv = xatlas.parametrize(vertices, faces.astype(np.uint32))
    built = []
    for index, part in enumerate(world):
        part_faces = atlas_faces[face_offsets[index] : face_offsets[index + 1]].astype(np.int64)
        used, local_faces = np.unique(part_faces, return_inverse=True)
        source_vertex = vmapping[used].astype(np.int64) - vertex_offsets[index]
        unwrapped = SourcePart(
            name=part.name,
            vertices=part.vertices[source_vertex],
            faces=local_faces.reshape(-1, 3),
            uv=atlas_uv[used].astype(np.float32),
            normals=None if part.normals is None else part.normals[source_vertex],
            slot=slot,
        )
        built.append(_PartOf(unwrapped, source_vertex))
    return built


def _material_slot(
    path: Path,
    material: trimesh.visual.material.Material | None,
    mtl: MtlMaterial | None,
    document: GltfDocument | None,
    gltf_material: int | None,
) -> tuple[TextureSlot, bool]:
    """The slot of an ordinary material and whether it had a base-colour texture."""
    if mtl is not None:  # OBJ: our own .mtl reading resolves paths that trimesh silently drops
        texture = _open_image(path, mtl.texture) if mtl.texture is not None else None
        return _slot_from(
            texture, _linear_rgba(mtl.diffuse), multiply=False, wrap=mtl.wrap
        ), texture is not None
    pbr = isinstance(material, trimesh.visual.material.PBRMaterial)
    texture = _material_texture(material)
    factor = _gltf_base_color_factor(document, gltf_material)
    if factor is None:
        factor = _trimesh_base_color(material)
    return _slot_from(
        texture, factor, multiply=pbr, wrap=_gltf_wrap(document, gltf_material)
    ), texture is not None


def _slot_from(texture: Image.Image | None, factor: np.ndarray, *, multiply: bool, wrap: Wrap) -> TextureSlot:
    """``factor``: ``[4]`` linear RGBA base-colour factor; it multiplies the texture only for PBR."""
    if texture is None:
        colour = _srgb(factor[:3])
        image = np.broadcast_to(colour, (CONSTANT_TEXTURE_SIZE, CONSTANT_TEXTURE_SIZE, 3)).astype(np.float32)
        return TextureSlot(name="", image=image, alpha=None, wrap=wrap)
    rgb, alpha = image_to_float(texture)
    if multiply and not np.allclose(factor[:3], 1.0):
        linear = srgb_to_linear(torch.from_numpy(rgb)) * torch.from_numpy(factor[:3].astype(np.float32))
        rgb = linear_to_srgb(linear).numpy()
    return TextureSlot(name="", image=rgb.astype(np.float32), alpha=alpha, wrap=wrap)


def image_to_float(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image to ``([Ht, Wt, 3] float32 0..1, [Ht, Wt] float32 alpha or None)``."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(grey[..., None], 3, axis=2), None
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    array = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    if has_alpha:
        return np.ascontiguousarray(array[..., :3]), np.ascontiguousarray(array[..., 3])
    return array, None


def _open_image(path: Path, texture: Path) -> Image.Image:
    try:
        with Image.open(texture) as image:
            image.load()
            return image
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: texture '{texture.name}' could not be read ({error})") from error


def _material_texture(material: trimesh.visual.material.Material | None) -> Image.Image | None:
    if material is None:
        return None
    texture = getattr(material, "baseColorTexture", None)
    if texture is None:
        texture = getattr(material, "image", None)
    # an OBJ without mtllib gets a 2x2 placeholder image from trimesh: that is no texture at all
    if texture is None or texture.size == (2, 2) and getattr(material, "name", "") == "material_0":
        return None
    return texture


def _trimesh_base_color(material: trimesh.visual.material.Material | None) -> np.ndarray:
    """``[4]`` linear RGBA from trimesh's (uint8-quantised) factor or diffuse colour; white if none."""
    colour = getattr(material, "baseColorFactor", None)
    if colour is None:
        colour = getattr(material, "diffuse", None)
    if colour is None:
        return np.ones(4)
    colour = np.asarray(colour)
    return colour / 255.0 if colour.dtype.kind in "ui" else colour.astype(np.float64)


def _linear_rgba(diffuse: tuple[float, float, float] | None) -> np.ndarray:
    # 0.8 grey is the colour Blender and most OBJ readers give a material without Kd
    return np.array([*(diffuse if diffuse is not None else (0.8, 0.8, 0.8)), 1.0])


def _srgb(linear_rgb: np.ndarray) -> np.ndarray:
    return linear_to_srgb(torch.as_tensor(np.asarray(linear_rgb, dtype=np.float32))).numpy()


def _baked_vertex_color_slot(group: _SlotGroup, built: list[_PartOf]) -> TextureSlot:
    """Rasterise per-vertex colours into the freshly unwrapped atlas, then pad around the islands."""
    size = BAKED_TEXTURE_SIZE
    image = np.zeros((size, size, 3), dtype=np.float32)
    covered = np.zeros((size, size), dtype=bool)
    for instance, item in zip(group.instances, built, strict=True):
        colours = np.asarray(instance.geometry.visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
        texels, mask = rasterize_vertex_attribute(
            item.part.uv, item.part.faces, colours[item.source_vertex], size
        )
        image[mask] = texels[mask]
        covered |= mask
    return TextureSlot(name="", image=dilate_texture(image, covered), alpha=None, wrap="clamp")


# ------------------------------------------------------------------------------- UV-space rasteriser

_RASTER_BUDGET = 1 << 22  # texels tested per vectorised chunk: bounds memory on big triangles


def rasterize_vertex_attribute(
    uv: np.ndarray, faces: np.ndarray, values: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate per-vertex ``values [V, C]`` over the triangles ``faces [F, 3]`` laid out by
    ``uv [V, 2]`` into a ``size x size`` texture. Returns ``([Ht, Wt, C] float32, [Ht, Wt] bool covered)``;
    a texel is covered when its centre lies in a triangle (row 0 = top, i.e. v = 1)."""
    image = np.zeros((size, size, values.shape[1]), dtype=np.float32)
    covered = np.zeros((size, size), dtype=bool)
    # texel (row i, column j) has its centre at (x, y) = (j, i) in this pixel space
    corners = np.stack((uv[faces][..., 0] * size - 0.5, (1.0 - uv[faces][..., 1]) * size - 0.5), axis=-1)
    low = np.clip(np.ceil(corners.min(axis=1)), 0, size - 1).astype(np.int64)
    high = np.clip(np.floor(corners.max(axis=1)), 0, size - 1).astype(np.int64)
    extent = np.maximum(high - low + 1, 0).max(axis=1)
    order = np.argsort(extent, kind="stable")
    start = 0
    while start < len(order):
        count = max(1, _RASTER_BUDGET // max(int(extent[order[start]]) ** 2, 1))
        chunk = order[start : start + count]
        while len(chunk) > 1 and int(extent[chunk[-1]]) ** 2 * len(chunk) > _RASTER_BUDGET:
            chunk = chunk[: len(chunk) // 2]
        _rasterize_chunk(
            corners[chunk], low[chunk], int(extent[chunk[-1]]), values[faces[chunk]], image, covered
        )
        start += len(chunk)
    return image, covered


def _rasterize_chunk(
    corners: np.ndarray,
    low: np.ndarray,
    side: int,
    values: np.ndarray,
    image: np.ndarray,
    covered: np.ndarray,
) -> None:
    """corners ``[n, 3, 2]``, low ``[n, 2]`` bounding-box corner, values ``[n, 3, C]``; writes in place."""
    if side <= 0:
        return
    steps = np.arange(side)
    x = low[:, None, None, 0] + steps[None, None, :]  # [n, 1, side]
    y = low[:, None, None, 1] + steps[None, :, None]  # [n, side, 1]
    x, y = np.broadcast_arrays(x, y)
    p0, e1, e2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    denominator = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    valid = np.abs(denominator) > 1e-12
    safe = np.where(valid, denominator, 1.0)[:, None, None]
    dx, dy = x - p0[:, None, None, 0], y - p0[:, None, None, 1]
    b1 = (dx * e2[:, None, None, 1] - dy * e2[:, None, None, 0]) / safe
    b2 = (e1[:, None, None, 0] * dy - e1[:, None, None, 1] * dx) / safe
    b0 = 1.0 - b1 - b2
    size = covered.shape[0]
    inside = (b0 >= -1e-7) & (b1 >= -1e-7) & (b2 >= -1e-7) & valid[:, None, None] & (x < size) & (y < size)
    weights = np.stack((b0, b1, b2), axis=-1)[inside]  # [k, 3]
    face = np.nonzero(inside)[0]
    image[y[inside], x[inside]] = np.einsum("kv,kvc->kc", weights, values[face])
    covered[y[inside], x[inside]] = True


# ------------------------------------------------------------------------------------- render arrays


def _render_arrays(
    path: Path, parts: list[SourcePart]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate the parts into ``vertices [V,3], faces [F,3], uv [V,2], face_slot [F]``, without the
    zero-area faces (they add nothing to renders and break per-face normals)."""
    offsets = np.cumsum([0] + [len(part.vertices) for part in parts])
    vertices = np.concatenate([part.vertices for part in parts])
    uv = np.concatenate([part.uv for part in parts])
    faces = np.concatenate([part.faces + offset for part, offset in zip(parts, offsets, strict=False)])
    face_slot = np.concatenate([np.full(len(part.faces), part.slot, dtype=np.int64) for part in parts])
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise InputError(f"{path}: faces reference vertices that do not exist")
    keep = ~_zero_area(vertices, faces)
    if not keep.any():
        raise InputError(f"{path}: has no faces with non-zero area")
    return vertices, faces[keep].astype(np.int64), uv, face_slot[keep]


def _zero_area(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    corners = vertices.astype(np.float64)[faces]
    doubled_area = np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    scale = float(np.ptp(vertices, axis=0).max()) or 1.0
    # relative to the model's size, far below anything a float32 mesh can resolve as a real triangle
    return doubled_area <= 1e-14 * scale * scale


# ---------------------------------------------------------------------------------- glTF bookkeeping


def _gltf_primitive_map(document: dict, scene: trimesh.Scene) -> dict[str, tuple[int, int]] | None:
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


def _gltf_material_index(
    document: GltfDocument | None, primitive_map: dict[str, tuple[int, int]] | None, group: _SlotGroup
) -> int | None:
    if document is None or primitive_map is None:
        return None
    mesh, primitive = primitive_map[group.instances[0].geometry_name]
    return document.json["meshes"][mesh]["primitives"][primitive].get("material")


def _gltf_base_color_factor(document: GltfDocument | None, material: int | None) -> np.ndarray | None:
    if document is None or material is None:
        return None
    pbr = document.json["materials"][material].get("pbrMetallicRoughness", {})
    return np.asarray(pbr.get("baseColorFactor", [1.0, 1.0, 1.0, 1.0]), dtype=np.float64)


def _gltf_wrap(document: GltfDocument | None, material: int | None) -> Wrap:
    if document is None or material is None:
        return "repeat"
    info = document.json["materials"][material].get("pbrMetallicRoughness", {}).get("baseColorTexture")
    if info is None:
        return "repeat"
    sampler_index = document.json["textures"][info["index"]].get("sampler")
    sampler = document.json.get("samplers", [])[sampler_index] if sampler_index is not None else {}
    # MIRRORED_REPEAT tiles too: of the two modes the renderer knows, "repeat" is the faithful one
    return "clamp" if sampler.get("wrapS", _GL_REPEAT) == _GL_CLAMP_TO_EDGE else "repeat"


def _gltf_patch(groups: list[_SlotGroup], primitive_map: dict[str, tuple[int, int]]) -> GltfPatch:
    per_slot = tuple(
        tuple(dict.fromkeys(primitive_map[instance.geometry_name] for instance in group.instances))
        for group in groups
    )
    return GltfPatch(slot_primitives=per_slot)


def _source_files(
    path: Path, mtl_materials: dict[str, MtlMaterial], document: GltfDocument | None
) -> tuple[Path, ...]:
    files = {path.resolve()}
    for material in mtl_materials.values():
        files.add(material.source.resolve())
        if material.texture is not None:
            files.add(material.texture.resolve())
    if document is not None:
        for entry in document.json.get("buffers", []) + document.json.get("images", []):
            uri = entry.get("uri")
            if uri and not uri.startswith("data:"):
                files.add((path.parent / unquote(uri)).resolve())
    return tuple(sorted(files))


# ---------------------------------------------------------------------------------------------- MTL


@dataclass(frozen=True)
class MtlMaterial:
    """One ``newmtl`` block of an OBJ's material library."""

    name: str
    lines: tuple[str, ...]  # the block's statements after ``newmtl``, as written
    diffuse: tuple[float, float, float] | None  # Kd
    texture: Path | None  # map_Kd, resolved to an existing file
    wrap: Wrap
    source: Path  # the .mtl file


# map_* options and how many arguments each takes (-o/-s/-t take 1..3 numbers, handled apart)
_MAP_OPTION_ARGS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1,
                    "-imfchan": 1, "-mm": 2, "-texres": 1, "-type": 1}  # fmt: skip
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class ObjLibrary:
    """The materials an OBJ can use and the order in which its faces first use them."""

    materials: dict[str, MtlMaterial]
    usage_order: tuple[str, ...]  # material names in the order of their first ``usemtl``


def read_obj_library(path: Path) -> ObjLibrary:
    """Materials of every ``mtllib`` an OBJ names, with texture paths resolved (backslashes, spaces)."""
    libraries, usage = [], {}
    with path.open("r", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith("mtllib"):
                name = line[len("mtllib") :].strip()
                libraries.append(_resolve_reference(path, path.parent, name, what="material library"))
            elif line.startswith("usemtl"):
                usage.setdefault(line[len("usemtl") :].strip(), None)
    materials: dict[str, MtlMaterial] = {}
    for library in libraries:
        materials.update(_parse_mtl(path, library))
    return ObjLibrary(materials, tuple(usage))


def _resolve_reference(path: Path, folder: Path, name: str, *, what: str) -> Path:
    """A file an OBJ/MTL names: relative, Windows-style (``.\\a b.jpg``) or absolute from another machine."""
    cleaned = name.strip().strip('"').replace("\\", "/")
    for candidate in (folder / cleaned, folder / Path(cleaned).name):
        if candidate.is_file():
            return candidate
    raise InputError(f"{path}: {what} '{name}' not found in {folder}")


def _parse_mtl(path: Path, library: Path) -> dict[str, MtlMaterial]:
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in library.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("newmtl"):
            current = blocks.setdefault(line[len("newmtl") :].strip(), [])
        elif current is not None and line and not line.startswith("#"):
            current.append(line)
    return {name: _mtl_material(path, library, name, lines) for name, lines in blocks.items()}


def _mtl_material(path: Path, library: Path, name: str, lines: list[str]) -> MtlMaterial:
    diffuse, texture, wrap = None, None, "repeat"
    for line in lines:
        keyword, _, rest = line.partition(" ")
        if keyword == "Kd":
            values = [float(value) for value in rest.split()[:3]]
            diffuse = tuple(values * 3)[:3] if len(values) == 1 else tuple(values)
        elif keyword == "map_Kd":
            options, file_name = split_map_statement(rest)
            texture = _resolve_reference(
                path, library.parent, file_name, what=f"texture of material '{name}'"
            )
            wrap = "clamp" if options.get("-clamp") == ["on"] else "repeat"
    return MtlMaterial(name, tuple(lines), diffuse, texture, wrap, library)


def split_map_statement(rest: str) -> tuple[dict[str, list[str]], str]:
    """``-o 1 1 -clamp on my file.png`` -> ({'-o': [...], '-clamp': ['on']}, 'my file.png')."""
    tokens = rest.split()
    options: dict[str, list[str]] = {}
    index = 0
    while index < len(tokens) and tokens[index].startswith("-") and not _NUMBER.match(tokens[index]):
        option = tokens[index]
        if option in ("-o", "-s", "-t"):
            count = 0
            while count < 3 and index + 1 + count < len(tokens) and _NUMBER.match(tokens[index + 1 + count]):
                count += 1
        else:
            count = _MAP_OPTION_ARGS.get(option, 0)
        options[option] = tokens[index + 1 : index + 1 + count]
        index += 1 + count
    # whatever follows the options is the file name, spaces included
    return options, " ".join(tokens[index:])
