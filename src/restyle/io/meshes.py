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

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trimesh

from restyle.errors import InputError, RestyleError, first_line
from restyle.io.gltf import (
    GltfDocument,
    build_gltf_patch,
    check_base_color_images,
    check_draco_decoded,
    check_draco_support,
    gltf_material_index,
    gltf_primitive_map,
    read_gltf_document,
    referenced_files,
)
from restyle.io.materials import material_slot
from restyle.io.mesh_types import MissingUVsError, SourceMaterial, SourcePart, TexturedMesh, TextureSlot
from restyle.io.mtl import (
    MtlMaterial,
    ObjLibrary,
    library_files,
    read_obj_library,
)
from restyle.io.unwrap import UnwrapCrashed, parametrize
from restyle.io.uv_raster import bake_vertex_colors

SUPPORTED_SUFFIXES = (".obj", ".gltf", ".glb", ".ply")
BAKED_TEXTURE_SIZE = 1024  # vertex colours are baked at the paper's texture size


# --------------------------------------------------------------------------------------------- loading


def load_mesh(
    path: str | Path, *, unwrap: bool = True, on_unwrap: Callable[[int], None] | None = None
) -> TexturedMesh:
    """Load an OBJ(+MTL), glTF, GLB or PLY asset. Meshes without UVs are unwrapped with xatlas unless
    ``unwrap=False``; ``on_unwrap(faces)`` is told just before (an unwrap can take minutes). Every problem with
    the file raises :class:`InputError` ``"<path>: <problem>"``."""
    path = Path(path)
    _check_file(path)
    try:
        return _parse(path, unwrap, on_unwrap)
    except (RestyleError, KeyboardInterrupt):
        raise
    except Exception as error:
        # Files are hostile: a malformed document can reach any line of trimesh's or our parsers (a buffer uri
        # that is a list, a count that is a string, ...). Whatever is left unchecked is still one line naming it.
        reason = str(error).splitlines()[0] if str(error) else ""
        raise InputError(f"{path}: could not be read as a mesh ({type(error).__name__}: {reason})") from error


def _parse(path: Path, unwrap: bool, on_unwrap: Callable[[int], None] | None) -> TexturedMesh:
    document = read_gltf_document(path) if path.suffix.lower() in (".gltf", ".glb") else None
    if document is not None:
        check_draco_support(path, document.json)
        check_base_color_images(path, document)
    library = read_obj_library(path) if path.suffix.lower() == ".obj" else ObjLibrary({}, ())
    mtl_materials = library.materials
    scene = _load_trimesh_scene(path)
    instances = _in_stable_order(_scene_instances(path, scene), scene, library.usage_order)
    if document is not None:
        check_draco_decoded(path, document.json, (instance.geometry.vertices for instance in instances))
    grouped = _group_by_slot(instances)
    if any(group.needs_unwrap for group in grouped) and not unwrap:
        raise MissingUVsError(f"{path}: has no UVs; pass --unwrap")
    to_unwrap = sum(len(i.geometry.faces) for group in grouped if group.needs_unwrap for i in group.instances)
    if to_unwrap and on_unwrap is not None:
        on_unwrap(to_unwrap)
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
        raise InputError(f"{path}: could not be read as a mesh ({first_line(error)})") from error


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
        try:
            built = _unwrapped_parts(group, index) if group.needs_unwrap else _parts_as_stored(group, index)
        except UnwrapCrashed as error:
            raise InputError(f"{path}: automatic UV unwrapping failed (xatlas crashed); give the mesh UVs in a "
                             "modelling tool") from error
        mtl = mtl_materials.get(getattr(group.material, "name", None) or "")
        gltf_material = gltf_material_index(document, primitive_map, group.instances[0].geometry_name)
        if group.vertex_colors:
            slot, textured = _baked_vertex_color_slot(group, built), False
        else:
            slot, textured = material_slot(path, group.material, mtl, document, gltf_material)
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
    keep = ~zero_area(vertices, faces)
    if not keep.any():
        raise InputError(f"{path}: has no faces with non-zero area")
    return vertices, faces[keep].astype(np.int64), uv, face_slot[keep]


def zero_area(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
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
