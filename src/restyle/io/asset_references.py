"""The files an asset's own text names: an OBJ's ``mtllib``, its MTL libraries' maps, a glTF's buffer and image
URIs. For callers that must know, before loading, whether an asset reaches outside its folder (the web app's
uploads: an absolute path or ``../..`` in an MTL would otherwise read any file on the machine)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from restyle.io.gltf import GltfDocument, referenced_files, split_glb
from restyle.io.mtl import split_map_statement

_MTL_FILE_KEYWORDS = ("map_", "bump", "disp", "decal", "refl", "norm")


def files_read_first(main: Path, libraries: Sequence[Path] = ()) -> list[Path]:
    """The paths the loaders try first for each file named by ``main`` (an .obj, .gltf or .glb) and by the MTL
    ``libraries`` beside it; the loaders fall back to the base name in the asset's folder, which cannot escape it."""
    suffix = main.suffix.lower()
    if suffix in (".gltf", ".glb"):
        return sorted(_gltf_files(main))
    if suffix != ".obj":
        return []
    named = [(main.parent, name) for name in _statement_files(main, ("mtllib",))]
    for library in libraries:
        named += [(library.parent, name) for name in _statement_files(library, _MTL_FILE_KEYWORDS)]
    return [folder / name.strip().strip('"').replace("\\", "/") for folder, name in named]


def _statement_files(path: Path, keywords: tuple[str, ...]) -> list[str]:
    """File names given by the statements of an OBJ or MTL whose keyword starts with one of ``keywords``."""
    names = []
    with path.open(encoding="utf-8", errors="replace") as lines:  # line by line: an OBJ can be 200 MB
        for line in lines:
            keyword, _, rest = line.strip().partition(" ")
            if rest and keyword.startswith(keywords):
                names.append(rest.strip() if keyword == "mtllib" else split_map_statement(rest)[1])
    return names


def _gltf_files(main: Path) -> set[Path]:
    """The external files a .gltf/.glb names (nothing when it cannot be parsed: the loader then refuses it)."""
    try:
        if main.suffix.lower() == ".gltf":
            document = json.loads(main.read_text(encoding="utf-8"))
        else:
            document = split_glb(main.read_bytes())[0]
        return referenced_files(GltfDocument(json=document, buffers=[], folder=main.parent))
    except Exception:  # malformed documents are the loader's to report, with its own message
        return set()
