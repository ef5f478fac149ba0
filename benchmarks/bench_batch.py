"""Overhead per job of `restyle batch` (local sequential, local with 2 worker processes, Ray) against running the same
tiny jobs by hand through `restyle.api.stylize_mesh` in one process. Writes results/batch.json.

Jobs: the bundled box in --jobs styles, tiny settings (patch backbone, 64 px renders, --iters steps), so that the
overhead (manifest checks, input hashing, reports, process start-up, Ray scheduling) is visible next to the work.
Ray starts a local cluster (num_cpus 2, no GPU); its start-up is timed separately and not counted per job.
Run: .venv/bin/python benchmarks/bench_batch.py [--jobs 3] [--iters 5]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from _common import write_result
from restyle import api
from restyle.batch import run_batch
from restyle.io.images import save_image

REPO = Path(__file__).resolve().parents[1]
TINY = {"style": {"backbone": "patch"}, "render": {"texture_size": 32, "render_size": 64, "views_per_step": 2},
        "palette": {"source": "none"}, "outputs": {"checkpoint_every": 0, "turntable": "none", "sheet_views": 2,
                                                  "preview_size": 32}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        styles = [_style(work / f"style{i}.png", i) for i in range(args.jobs)]
        shutil.copy(REPO / "assets" / "meshes" / "box_textured" / "BoxTextured.glb", work / "box.glb")
        manifest = _manifest(work, styles, args.iters)
        options = {**TINY, "optim": {"iters": args.iters}}
        # one untimed job first: the first run in a process pays for imports and first-call set-up
        api.stylize_mesh(work / "box.glb", [styles[0]], work / "warm-up", **options)
        by_hand = _seconds(lambda: [api.stylize_mesh(work / "box.glb", [style], work / "hand" / style.stem, **options)
                                    for style in styles])
        local = _seconds(lambda: run_batch(manifest, work / "local"))
        workers = _seconds(lambda: run_batch(manifest, work / "workers", workers=2))
        skip = _seconds(lambda: run_batch(manifest, work / "local"))
        import ray

        ray_start = _seconds(lambda: ray.init(num_cpus=2, num_gpus=0, include_dashboard=False))
        on_ray = _seconds(lambda: run_batch(manifest, work / "ray", executor="ray"))
        ray.shutdown()
    per_job = {name: (seconds - by_hand) / args.jobs for name, seconds in
               {"local": local, "local_2_workers": workers, "ray": on_ray}.items()}
    write_result("batch", {
        "config": {"jobs": args.jobs, "iters": args.iters, "mesh": "box", "backbone": "patch", "render_size": 64},
        "seconds": {"by_hand": by_hand, "local": local, "local_2_workers": workers, "ray": on_ray,
                    "ray_start": ray_start, "second_run_all_skipped": skip},
        "overhead_per_job_s": per_job,
    })


def _style(path: Path, seed: int) -> Path:
    save_image(torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(seed)), path)
    return path


def _manifest(work: Path, styles: list[Path], iters: int) -> Path:
    looks = "".join(f'[[look]]\nname = "{style.stem}"\nstyles = ["{style.name}"]\n\n' for style in styles)
    defaults = (f'[defaults]\nstyle = {{backbone = "patch"}}\noptim = {{iters = {iters}}}\n'
                "render = {texture_size = 32, render_size = 64, views_per_step = 2}\npalette = {source = \"none\"}\n"
                'outputs = {checkpoint_every = 0, turntable = "none", sheet_views = 2, preview_size = 32}\n')
    path = work / "batch.toml"
    path.write_text('assets = ["box.glb"]\n\n' + looks + defaults)
    return path


def _seconds(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
