"""OBJ and MTL text for export: the source parts as ``v/vt/vn/f`` rows and each material's ``.mtl`` block.

Pure text, no files: :func:`restyle.io.export.export_obj` stages and moves the files, so that its
all-or-nothing rule lives in one place. Names here are public to that module only.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import trimesh

from restyle.io.meshes import SourceMaterial, SourcePart, TexturedMesh, TextureSlot
from restyle.io.obj_references import parse_statement, resolve_reference, split_map_statement


def png_names(stem: str, slots: list[TextureSlot]) -> list[str]:
    names: list[str] = []
    for slot in slots:
        base = f"{stem}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', slot.name) or 'material'}"
        name, counter = f"{base}.png", 1
        while name in names:
            name, counter = f"{base}_{counter}.png", counter + 1
        names.append(name)
    return names


def obj_text(mesh: TexturedMesh, mtl_name: str) -> str:
    """Vertices, UVs and normals written once per part so that a reload returns the same arrays;
    ``%.9g`` round-trips float32 (UVs, normals) exactly, positions are written at full float64 precision."""
    lines = ["# written by restyle", f"mtllib {mtl_name}"]
    counts = {"v": 0, "vt": 0, "vn": 0}
    for part in mesh.source_parts:
        lines.append(f"o {part.name}")
        lines.extend(_exact_rows("v", part.vertices))
        lines.extend(_rows("vt", part.uv))
        if part.normals is not None:
            lines.extend(_rows("vn", part.normals))
        lines.append(f"usemtl {mesh.slots[part.slot].name}")
        lines.extend(_face_rows(part, counts))
        counts["v"] += len(part.vertices)
        counts["vt"] += len(part.uv)
        counts["vn"] += 0 if part.normals is None else len(part.normals)
    return "\n".join(lines) + "\n"


def _exact_rows(keyword: str, values: np.ndarray) -> list[str]:
    # positions may be float64 (OBJ/PLY sources): repr is the shortest text that parses back to the same
    # double, so a model far from the origin keeps every digit it was read with
    return [f"{keyword} " + " ".join(repr(value) for value in row) for row in values.astype(np.float64).tolist()]


def _rows(keyword: str, values: np.ndarray) -> list[str]:
    return [f"{keyword} " + " ".join(f"{value:.9g}" for value in row) for row in values.astype(np.float64)]


def _face_rows(part: SourcePart, counts: dict[str, int]) -> list[str]:
    v = part.faces + 1 + counts["v"]
    vt = part.faces + 1 + counts["vt"]
    if part.normals is None:
        return [f"f {a}/{d} {b}/{e} {c}/{f}" for (a, b, c), (d, e, f) in zip(v, vt, strict=True)]
    vn = part.faces + 1 + counts["vn"]
    return [
        f"f {a}/{d}/{g} {b}/{e}/{h} {c}/{f}/{i}"
        for (a, b, c), (d, e, f), (g, h, i) in zip(v, vt, vn, strict=True)
    ]


def mtl_text(mesh: TexturedMesh, png_names: list[str], stem: str) -> tuple[str, dict[str, Path]]:
    """The .mtl, plus the other texture files its statements name (new file name -> source file)."""
    blocks, extra_maps = ["# written by restyle"], {}
    for slot, source, png in zip(mesh.slots, mesh.source_materials, png_names, strict=True):
        if source.mtl is not None:
            body = _rewritten_mtl_block(source, png, stem, extra_maps)
        else:
            body = _new_mtl_block(source, png)
        blocks.append("\n".join([f"newmtl {slot.name}", *body]))
    return "\n\n".join(blocks) + "\n", extra_maps


def _rewritten_mtl_block(
    source: SourceMaterial, png: str, stem: str, extra_maps: dict[str, Path]
) -> list[str]:
    lines, replaced = [], False
    for line in source.mtl.lines:
        statement = parse_statement(line)
        if not statement.names_file:
            lines.append(line)
            continue
        options, file_name = split_map_statement(statement.rest)
        option_text = " ".join(f"{name} {' '.join(args)}".strip() for name, args in options.items())
        if statement.key == "map_kd":
            lines.append(" ".join(filter(None, ["map_Kd", option_text, png])))
            replaced = True
        else:
            relocated = _relocated_map(file_name, source, stem, extra_maps)
            moved = " ".join(filter(None, [statement.keyword, option_text, relocated]))
            lines.append(line if relocated is None else moved)
    return lines if replaced else [*lines, f"map_Kd {png}"]


def _relocated_map(file_name: str, source: SourceMaterial, stem: str, extra: dict[str, Path]) -> str | None:
    """A normal/bump/alpha map keeps working beside the export: copy its file (found as the loader finds files)
    and point at the copy. None when it is missing: it was broken in the source too, so the statement stays as
    the author wrote it."""
    found = resolve_reference(source.mtl.source.parent, file_name)
    if found is None:
        return None
    name = f"{stem}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', found.name)}"
    extra[name] = found
    return name


def _new_mtl_block(source: SourceMaterial, png: str) -> list[str]:
    """An .mtl block for a glTF/PLY material: white Kd (the colour is in the texture), PBR factors kept."""
    lines = ["Kd 1 1 1", "Ka 0 0 0", "Ks 0 0 0"]
    material = source.material
    if isinstance(material, trimesh.visual.material.PBRMaterial):
        if material.metallicFactor is not None:
            lines.append(f"Pm {material.metallicFactor:.6g}")
        if material.roughnessFactor is not None:
            lines.append(f"Pr {material.roughnessFactor:.6g}")
        if material.baseColorFactor is not None and material.baseColorFactor[3] < 255:
            lines.append(f"d {material.baseColorFactor[3] / 255.0:.6g}")
    lines.append(f"map_Kd {png}")
    return lines
