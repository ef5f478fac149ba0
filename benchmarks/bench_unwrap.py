"""Unwrap time of a ~70k-face mesh without UVs, xatlas's default options against restyle's (CHART_OPTIONS,
PACK_OPTIONS in restyle.io.unwrap), both through restyle's child process; writes benchmarks/results/unwrap.json.
Not part of the test pass/fail.

The mesh is the bundled spot, welded and subdivided to 23k faces, then two thirds of it once more (70k faces, UVs
dropped): a perfect icosphere of that size crashes xatlas (82k faces segfault), a scan-like mesh does not.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import trimesh

from _common import write_result
from restyle.io.unwrap import CHART_OPTIONS, PACK_OPTIONS, parametrize

SPOT = Path(__file__).resolve().parents[1] / "assets" / "meshes" / "spot" / "spot.obj"


def dense_spot() -> tuple[np.ndarray, np.ndarray]:
    spot = trimesh.load(SPOT, force="mesh", process=True)  # welded: seams of the stored UVs do not split it
    vertices, faces = trimesh.remesh.subdivide(spot.vertices, spot.faces)
    part = np.arange(len(faces))[: 2 * len(faces) // 3]
    return trimesh.remesh.subdivide(vertices, faces, face_index=part)


def unwrap(vertices: np.ndarray, faces: np.ndarray, chart: dict, pack: dict) -> dict:
    start = time.perf_counter()
    vmapping, atlas_faces, uv = parametrize(vertices, faces, chart, pack)
    seconds = time.perf_counter() - start
    return {
        "chart_options": chart or "xatlas defaults",
        "pack_options": pack or "xatlas defaults",
        "seconds": round(seconds, 2),
        "atlas_vertices": int(len(vmapping)),
        "faces_out": int(len(atlas_faces)),
        "uv_in_unit_square": bool(np.all((uv >= 0) & (uv <= 1))),
        "zero_uv_area_faces": int(np.sum(_uv_areas(uv, atlas_faces) <= 0)),
    }


def _uv_areas(uv: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a, b, c = (uv[faces[:, i].astype(np.int64)] for i in range(3))
    return np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / 2


def main() -> None:
    vertices, faces = dense_spot()
    default = unwrap(vertices, faces, {}, {})
    adopted = unwrap(vertices, faces, CHART_OPTIONS, PACK_OPTIONS)
    result = {
        "mesh": "assets spot.obj welded, subdivided once, then 2/3 of its faces once more; UVs dropped",
        "faces": int(len(faces)),
        "xatlas_defaults": default,
        "restyle_options": adopted,
        "speedup": round(default["seconds"] / adopted["seconds"], 2),
    }
    write_result("unwrap", result)


if __name__ == "__main__":
    main()
