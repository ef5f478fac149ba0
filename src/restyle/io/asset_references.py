"""Whether an asset reaches outside its folder, for callers that must know before loading it (the web app's uploads:
an absolute path or ``../..`` in an MTL would have the loader read, and the OBJ exporter copy to where the page
serves it, any file on the machine). An OBJ's libraries and their maps are found by :mod:`restyle.io.obj_references`,
the very functions the loader and the exporter follow, so no file they reach escapes this check."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from restyle.io.gltf import GltfDocument, referenced_files, split_glb
from restyle.io.obj_references import library_names, map_names, reference_candidates, resolve_reference


@dataclass(frozen=True)
class Reference:
    """A file an asset's text names."""

    source: Path  # the file whose statement names it: the .obj, one of its material libraries, the .gltf
    name: str  # as written there
    path: Path  # where the loaders look for it first (the fallback, its base name beside ``source``, cannot escape)


def escaping_reference(main: Path, root: Path) -> Reference | None:
    """The first file that ``main`` (an .obj, .gltf or .glb) names, itself or through its MTL libraries, that the
    loaders would look for outside ``root``; None when there is none. Decided from the names, not from what exists:
    an answer that differed for ``/etc/shadow`` and ``/etc/nothing`` would tell what is on this machine, and a file
    made there later would still be read. A library is only opened once its own name has passed."""
    return next((reference for reference in references(main) if not inside(root, reference.path)), None)


def inside(root: Path, candidate: Path) -> bool:
    """True when ``candidate`` is ``root`` or under it once symbolic links and '..' are resolved (False for a path
    no file can have, such as one holding a NUL)."""
    try:
        root, candidate = Path(root).resolve(), Path(candidate).resolve()
    except (OSError, ValueError):
        return False
    return candidate == root or root in candidate.parents


def references(main: Path) -> Iterator[Reference]:
    """Every file ``main`` names, lazily: an OBJ's ``mtllib`` (whatever its extension), each followed by the maps
    of the library it resolves to. Stop at a library outside the folder, as :func:`escaping_reference` does, and
    it is never read."""
    suffix = main.suffix.lower()
    if suffix in (".gltf", ".glb"):
        yield from (Reference(main, path.name, path) for path in sorted(_gltf_files(main)))
    elif suffix == ".obj":
        yield from _obj_references(main)


def _obj_references(obj: Path) -> Iterator[Reference]:
    seen: set[Path] = set()
    for name in library_names(obj):
        yield Reference(obj, name, reference_candidates(obj.parent, name)[0])
        library = resolve_reference(obj.parent, name)
        if library is None or library.resolve() in seen:  # missing: the loader reports it
            continue
        seen.add(library.resolve())
        for map_name in map_names(library):
            yield Reference(library, map_name, reference_candidates(library.parent, map_name)[0])


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
