"""Unwrap time of a ~80k-face mesh without UVs (an icosphere), xatlas defaults through restyle's child
process; writes benchmarks/results/unwrap.json. Not part of the test pass/fail."""

from __future__ import annotations

import sys
import time

import numpy as np
import trimesh

from _common import machine_info, write_result
from restyle.io.unwrap import parametrize


def main() -> None:
    subdivisions = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    start = time.perf_counter()
    vmapping, faces, uv = parametrize(sphere.vertices, sphere.faces)
    seconds = time.perf_counter() - start
    result = {
        "machine": machine_info(),
        "mesh": f"trimesh icosphere(subdivisions={subdivisions})",
        "faces": int(len(sphere.faces)),
        "options": "xatlas defaults (ChartOptions(), PackOptions()) via restyle.io.unwrap.parametrize",
        "seconds": round(seconds, 2),
        "atlas_vertices": int(len(vmapping)),
        "uv_in_unit_square": bool(np.all((uv >= 0) & (uv <= 1))),
        "faces_out": int(len(faces)),
    }
    print(result)
    write_result("unwrap", result)


if __name__ == "__main__":
    main()
