"""Wavefront material libraries: the ``mtllib``/``usemtl`` statements of an OBJ and its ``.mtl`` blocks.

trimesh silently drops textures whose paths it cannot resolve; this module resolves them itself
(Windows-style, quoted and foreign absolute paths) and keeps each block's statements as written, so that
export can rewrite a material with only its base colour replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from restyle.errors import InputError
from restyle.io.obj_references import (
    NUMBER,
    material_statements,
    parse_statement,
    resolve_reference,
    split_map_statement,
    statement_lines,
)
from restyle.io.uv_raster import Wrap


@dataclass(frozen=True)
class MtlMaterial:
    """One ``newmtl`` block of an OBJ's material library."""

    name: str
    lines: tuple[str, ...]  # the block's statements after ``newmtl``, as written
    diffuse: tuple[float, float, float] | None  # Kd
    texture: Path | None  # map_Kd, resolved to an existing file
    wrap: Wrap
    source: Path  # the .mtl file


@dataclass(frozen=True)
class ObjLibrary:
    """The materials an OBJ can use and the order in which its faces first use them."""

    materials: dict[str, MtlMaterial]
    usage_order: tuple[str, ...]  # material names in the order of their first ``usemtl``


def read_obj_library(path: Path) -> ObjLibrary:
    """Materials of every ``mtllib`` an OBJ names, with texture paths resolved (backslashes, spaces)."""
    libraries, usage = [], {}
    for statement in material_statements(path):
        if statement.key == "mtllib" and statement.rest:
            libraries.append(_resolve_reference(path, path.parent, statement.rest, what="material library"))
        elif statement.key == "usemtl":
            usage.setdefault(statement.rest, None)
    materials: dict[str, MtlMaterial] = {}
    for library in _last_of_each(libraries):
        materials.update(_parse_mtl(path, library))
    return ObjLibrary(materials, tuple(usage))


def _last_of_each(libraries: list[Path]) -> list[Path]:
    """Each library once, at its last place (a later library wins a name clash): an OBJ naming one large library
    a million times must not have it parsed a million times."""
    last = {library.resolve(): index for index, library in enumerate(libraries)}
    return [libraries[index] for index in sorted(last.values())]


def _resolve_reference(path: Path, folder: Path, name: str, *, what: str) -> Path:
    """A file an OBJ/MTL names: relative, Windows-style (``.\\a b.jpg``) or absolute from another machine."""
    found = resolve_reference(folder, name)
    if found is None:
        raise InputError(f"{path}: {what} '{name}' not found in {folder}")
    return found


def _parse_mtl(path: Path, library: Path) -> dict[str, MtlMaterial]:
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in statement_lines(library):
        statement = parse_statement(line)
        if statement.key == "newmtl":
            current = blocks.setdefault(statement.rest, [])
        elif current is not None and statement.keyword and not statement.keyword.startswith("#"):
            current.append(line.strip())
    return {name: _mtl_material(path, library, name, lines) for name, lines in blocks.items()}


def _mtl_material(path: Path, library: Path, name: str, lines: list[str]) -> MtlMaterial:
    diffuse, texture, wrap = None, None, "repeat"
    for line in lines:
        statement = parse_statement(line)
        if statement.key == "kd":
            values = [float(value) for value in statement.rest.split()[:3]]
            diffuse = tuple(values * 3)[:3] if len(values) == 1 else tuple(values)
        elif statement.key == "map_kd":
            options, file_name = split_map_statement(statement.rest)
            texture = _resolve_reference(
                path, library.parent, file_name, what=f"texture of material '{name}'"
            )
            wrap = "clamp" if options.get("-clamp") == ["on"] else "repeat"
    return MtlMaterial(name, tuple(lines), diffuse, texture, wrap, library)


def open_texture(path: Path, material: MtlMaterial) -> Image.Image | None:
    """The material's ``map_Kd`` image, loaded (None without one); ``path`` is the OBJ, for errors."""
    if material.texture is None:
        return None
    try:
        with Image.open(material.texture) as image:
            image.load()
            return image
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: texture '{material.texture.name}' could not be read ({error})") from error


def diffuse_linear_rgba(material: MtlMaterial) -> np.ndarray:
    """``[4]`` linear RGBA of the material's ``Kd`` and dissolve (``d``, or ``Tr`` = 1 - d)."""
    # 0.8 grey is the colour Blender and most OBJ readers give a material without Kd
    diffuse = material.diffuse
    return np.array([*(diffuse if diffuse is not None else (0.8, 0.8, 0.8)), mtl_opacity(material)])


def mtl_opacity(material: MtlMaterial) -> float:
    """Opacity 0..1 from the block's last ``d`` or ``Tr`` statement; 1 without one or on a bad value."""
    opacity = 1.0
    for line in material.lines:
        statement = parse_statement(line)
        keyword, values = statement.keyword, statement.rest.split()
        if keyword in ("d", "Tr") and values and NUMBER.match(values[-1]):
            value = min(max(float(values[-1]), 0.0), 1.0)  # "d -halo 0.5" puts the value last
            opacity = value if keyword == "d" else 1.0 - value
    return opacity


def library_files(materials: dict[str, MtlMaterial]) -> set[Path]:
    """Every .mtl file and ``map_Kd`` texture the materials were read from, resolved."""
    files = set()
    for material in materials.values():
        files.add(material.source.resolve())
        if material.texture is not None:
            files.add(material.texture.resolve())
    return files
