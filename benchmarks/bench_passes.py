"""`render.views_per_pass`: the peak memory and time of one `preview` mesh step (clip-rn50 style + vgg16 content,
random weights in the published formats) with a step's views scored all at once and in passes of fewer views.
Writes results/passes.json.

Each setting runs in a fresh process: a warm-up step, then the median time of a few steps, and the process's
peak memory over all of them (VmHWM on the CPU, so weights and libraries are included; ``max_memory_allocated``
on CUDA). Every
process uses the whole machine, one after the other, so the times are comparable only roughly.
Run: .venv/bin/python benchmarks/bench_passes.py [--views-per-step 4] [--passes 0,2,1] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import peak_rss_bytes, write_result
from bench_mesh_step import build_job

REPO = Path(__file__).resolve().parents[1]


def child(per_pass: int, views: int, steps: int, work: Path) -> dict:
    """In a fresh process: this setting's figures."""
    job = build_job(REPO / "assets/meshes/spot/spot.obj", REPO / "assets/styles/vangogh_starry_night.jpg", work,
                    views_per_step=views, views_per_pass=per_pass)
    cuda = job.device.type == "cuda"
    job.step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        job.step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if cuda else peak_rss_bytes()
    return {"peak_mib": round(peak / 2**20, 1), "step_s": round(statistics.median(times), 3),
            "device": str(job.device)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views-per-step", type=int, default=4)
    parser.add_argument("--passes", default="0,2,1", help="views_per_pass values, 0 = all at once")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.views_per_step, args.steps, args.work)))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for per_pass in (int(v) for v in args.passes.split(",")):
            work = Path(tmp) / f"pass_{per_pass}"
            command = [sys.executable, __file__, "--child", str(per_pass), "--work", str(work),
                       "--views-per-step", str(args.views_per_step), "--steps", str(args.steps)]
            done = subprocess.run(command, check=True, capture_output=True, text=True)
            results[f"views_per_pass_{per_pass}"] = json.loads(done.stdout.strip().splitlines()[-1])
    whole = results[f"views_per_pass_{args.passes.split(',')[0]}"]
    for figures in results.values():
        figures["memory_ratio"] = round(figures["peak_mib"] / whole["peak_mib"], 3)
        figures["time_ratio"] = round(figures["step_s"] / whole["step_s"], 3)
    write_result("passes", {"settings": {k: str(v) for k, v in vars(args).items() if k not in ("child", "work")},
                            "preset": "preview (clip-rn50 + vgg16, random weights), Spot, fresh views",
                            **results})


if __name__ == "__main__":
    main()
