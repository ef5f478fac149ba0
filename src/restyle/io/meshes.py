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
File-format details live in :mod:`restyle.io.mtl`, :mod:`restyle.io.gltf` and :mod:`restyle.io.uv_raster`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image

from restyle.conventions import linear_to_srgb, srgb_to_linear
from restyle.errors import InputError
from restyle.io.gltf import (
    GltfDocument,
    GltfPatch,
    build_gltf_patch,
    check_draco_decoded,
    check_draco_support,
    gltf_base_color_factor,
    gltf_material_index,
    gltf_primitive_map,
    gltf_wrap,
    read_gltf_document,
    referenced_files,
)
from restyle.io.mtl import (
    MtlMaterial,
    ObjLibrary,
    diffuse_linear_rgba,
    library_files,
    open_texture,
    read_obj_library,
)
from restyle.io.unwrap import parametrize
from restyle.io.uv_raster import Wrap, bake_vertex_colors

SUPPORTED_SUFFIXES = (".obj", ".gltf", ".glb", ".ply")
CONSTANT_TEXTURE_SIZE = 8  # a texture-less material gets a small texture of its colour
BAKED_TEXTURE_SIZE = 1024  # vertex colours are baked at the paper's texture size


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
    vertices: np.ndarray  # [Vp, 3] float64 world space, as parsed (export writes them back unchanged)
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


@dataclass
class TexturedMesh:
    """A textured triangle mesh ready for rendering: world-space geometry, UVs, one texture per slot."""

    vertices: np.ndarray  # [V, 3] float64 world space, all geometries concatenated (float64: far from the
    # origin float32 loses the shape; renderers re-centre before converting, see MeshGeometry.from_arrays)
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
        return (self.vertices.min(axis=0) + self.vertices.max(axis=0)) / 2

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
        check_draco_support(path, document.json)
    library = read_obj_library(path) if path.suffix.lower() == ".obj" else ObjLibrary({}, ())
    mtl_materials = library.materials
    scene = _load_trimesh_scene(path)
    instances = _in_stable_order(_scene_instances(path, scene), scene, library.usage_order)
    if document is not None:
        check_draco_decoded(path, document.json, (instance.geometry.vertices for instance in instances))
    grouped = _group_by_slot(instances)
    if any(group.needs_unwrap for group in grouped) and not unwrap:
        raise InputError(f"{path}: has no UVs; pass --unwrap")
    primitive_map = gltf_primitive_map(document.json, scene) if document is not None else None
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
        gltf_patch=build_gltf_patch(_geometry_names(grouped), primitive_map) if patchable else None,
    )


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError(f"{path}: unsupported mesh format (use one of {', '.join(SUPPORTED_SUFFIXES)})")
    # a binary glTF under another name would otherwise fail deep in a text parser with an unrelated message
    if path.suffix.lower() != ".glb":
        with path.open("rb") as handle:
            if handle.read(4) == b"glTF":
                raise InputError(f"{path}: this is a binary glTF (GLB) file, not an "
                                 f"{path.suffix[1:].upper()}; rename it to .glb")


def _load_trimesh_scene(path: Path) -> trimesh.Scene:
    # process=False keeps vertex order and count exactly as stored, so export -> reload is identical
    try:
        return trimesh.load_scene(path, process=False)
    except Exception as error:  # trimesh raises anything from KeyError to struct.error on bad files
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: could not be read as a mesh ({reason})") from error


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


def _geometry_names(groups: list[_SlotGroup]) -> list[list[str]]:
    return [[instance.geometry_name for instance in group.instances] for group in groups]


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
        gltf_material = gltf_material_index(document, primitive_map, group.instances[0].geometry_name)
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
        vertices=np.asarray(vertices, dtype=np.float64),
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
    world = [_part(inst, np.zeros((len(inst.geometry.vertices), 2)), slot) for inst in group.instances]
    vertex_offsets = np.cumsum([0] + [len(part.vertices) for part in world])
    face_offsets = np.cumsum([0] + [len(part.faces) for part in world])
    vertices = np.concatenate([part.vertices for part in world])
    faces = np.concatenate([part.faces + offset for part, offset in zip(world, vertex_offsets, strict=False)])
    # xatlas works in float32: re-centre first so a model far from the origin keeps its shape
    centred = (vertices - (vertices.min(axis=0) + vertices.max(axis=0)) / 2).astype(np.float32)
    vmapping, atlas_faces, atlas_uv = parametrize(centred, faces)  # Ctrl-C stops it (a child process)
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
        texture = open_texture(path, mtl)
        return _slot_from(
            texture, diffuse_linear_rgba(mtl), multiply=False, wrap=mtl.wrap
        ), texture is not None
    pbr = isinstance(material, trimesh.visual.material.PBRMaterial)
    texture = _material_texture(material)
    factor = gltf_base_color_factor(document, gltf_material)
    if factor is None:
        factor = _trimesh_base_color(material)
    return _slot_from(
        texture, factor, multiply=pbr, wrap=gltf_wrap(document, gltf_material)
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


def _srgb(linear_rgb: np.ndarray) -> np.ndarray:
    return linear_to_srgb(torch.as_tensor(np.asarray(linear_rgb, dtype=np.float32))).numpy()


def _baked_vertex_color_slot(group: _SlotGroup, built: list[_PartOf]) -> TextureSlot:
    """Rasterise per-vertex colours into the freshly unwrapped atlas, then pad around the islands."""
    islands = []
    for instance, item in zip(group.instances, built, strict=True):
        colours = np.asarray(instance.geometry.visual.vertex_colors, dtype=np.float32)[:, :3] / 255.0
        islands.append((item.part.uv, item.part.faces, colours[item.source_vertex]))
    return TextureSlot(name="", image=bake_vertex_colors(islands, BAKED_TEXTURE_SIZE), alpha=None, wrap="clamp")


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


def _source_files(
    path: Path, mtl_materials: dict[str, MtlMaterial], document: GltfDocument | None
) -> tuple[Path, ...]:
    files = {path.resolve()} | library_files(mtl_materials)
    if document is not None:
        files |= referenced_files(document)
    return tuple(sorted(files))
