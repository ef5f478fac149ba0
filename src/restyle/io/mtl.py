"""Wavefront material libraries: the ``mtllib``/``usemtl`` statements of an OBJ and its ``.mtl`` blocks.

trimesh silently drops textures whose paths it cannot resolve; this module resolves them itself
(Windows-style, quoted and foreign absolute paths) and keeps each block's statements as written, so that
export can rewrite a material with only its base colour replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from restyle.errors import InputError
from restyle.io.uv_raster import Wrap

# map_* options and how many arguments each takes (-o/-s/-t take 1..3 numbers, handled apart)
_MAP_OPTION_ARGS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1,
                    "-imfchan": 1, "-mm": 2, "-texres": 1, "-type": 1}  # fmt: skip
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


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
        keyword, _, rest = line.partition(" ")
        values = rest.split()
        if keyword in ("d", "Tr") and values and _NUMBER.match(values[-1]):
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
