"""Planning time of `restyle batch`: seconds from the call until the first job would start, for a CSV manifest of
--rows rows of one mesh (the bundled Spot OBJ, its MTL and texture) and one style image. Planning resolves every
job's config, checks the jobs' files against each other and fingerprints every job; each file is hashed once and
each mesh loaded once per plan, so the time grows with the rows only by the config resolution. Writes
results/batch_plan.json.
Run: .venv/bin/python benchmarks/bench_batch_plan.py [--rows 200]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from pathlib import Path

import torch

from _common import write_result
from restyle.batch import run_batch
from restyle.io.images import save_image

REPO = Path(__file__).resolve().parents[1]


class Planned(Exception):
    """Raised at the batch's start: everything before it was planning."""


def _stop_at_start(kind: str, name: str, detail: dict) -> None:
    if kind == "batch-start":
        raise Planned


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copytree(REPO / "assets" / "meshes" / "spot", work / "spot")
        save_image(torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0)), work / "style.png")
        rows = "".join(f"job{index},spot/spot.obj,style.png\n" for index in range(args.rows))
        (work / "library.csv").write_text("name,mesh,styles\n" + rows)
        start = time.perf_counter()
        with contextlib.suppress(Planned):
            run_batch(work / "library.csv", work / "out", on_event=_stop_at_start)
        seconds = time.perf_counter() - start
    write_result("batch_plan", {"rows": args.rows, "mesh": "spot.obj", "planning_seconds": round(seconds, 2)})


if __name__ == "__main__":
    main()
