"""One `restyle mesh` step of the `preview` preset (clip-rn50 style + vgg16 content, random weights in the
published formats: same FLOPs as the real ones) with fresh views every step (the default), split into its parts.
Writes results/mesh_step.json.

Parts are timed side by side in one run: the whole step, then each part on its own with the same inputs.
"Outside the backbones" = whole step - backbone forward/backward, so it includes drawing and rasterising the
step's views; the issue's target is <= 15% of the step. The cost of anti-aliasing is the ratio of whole-step
times with render.supersample 2 and 1, timed alternately in the same run.
Run: .venv/bin/python benchmarks/bench_mesh_step.py [--mesh PATH]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from _common import time_it, write_result
from restyle.backbones.testing import write_random_checkpoints
from restyle.configs import resolve
from restyle.jobs.mesh.run import MESH_PRESETS, MeshConfig, MeshJob
from restyle.jobs.mesh.views import add_seen_texels
from restyle.losses.nnfm import flatten_maps, nearest_style_indices
from restyle.objectives.style import content_objective

REPO = Path(__file__).resolve().parents[1]


def build_job(mesh: Path, style: Path, work: Path, supersample: int = 1, **render: int) -> MeshJob:
    weights = work / "weights"
    if not weights.is_dir():
        write_random_checkpoints(weights)
    config = resolve(MeshConfig(), presets=MESH_PRESETS, preset="preview", config_file=None, flags={
        "mesh": str(mesh), "styles": [str(style)], "output": str(work / "out"),
        "style": {"backbone": "clip-rn50"}, "pretrained": {"weights_dir": str(weights)},
        "render": {"view_pool": 0, "supersample": supersample, **render},  # fresh views every step, as by default
    })
    return MeshJob(config)


def alternating_steps(jobs: dict[str, MeshJob], repeats: int) -> dict[str, dict]:
    """Median / min seconds of one step of each job, the jobs stepping in turn so that they share the noise."""
    for job in jobs.values():
        job.step()  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(repeats):
        for name, job in jobs.items():
            start = time.perf_counter()
            job.step()
            samples[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(t), "min_s": min(t), "repeats": repeats}
            for name, t in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mesh", type=Path, default=REPO / "assets/meshes/spot/spot.obj")
    parser.add_argument("--style", type=Path, default=REPO / "assets/styles/vangogh_starry_night.jpg")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        job = build_job(args.mesh, args.style, Path(work))
        result = measure(job, args.repeats)
        anti_aliased = build_job(args.mesh, args.style, Path(work), supersample=2)
        steps = alternating_steps({"supersample_1": job, "supersample_2": anti_aliased}, args.repeats)
    result["supersample"] = {
        "step": steps,
        "step_ratio_2_over_1": steps["supersample_2"]["median_s"] / steps["supersample_1"]["median_s"],
    }
    write_result("mesh_step", result)


def measure(job: MeshJob, repeats: int) -> dict:
    config = job.config
    batch = config.render.views_per_step
    cameras, lights, gbuffer = job.views.sample(batch)
    style_taps, content_taps = config.style.style_taps, config.style.content_taps

    def whole_step() -> None:
        job.step()

    def views() -> None:  # new cameras and lights, rasterised at render size x supersample
        job.views.sample(batch)

    surface = job.render_batch(job.textures(), cameras, lights, gbuffer).surface

    def coverage() -> None:
        add_seen_texels(job.coverage, job.islands, surface, job.wraps)

    def rendering() -> None:
        textures = job.textures()
        with torch.no_grad():
            job.render_batch(job.originals(), cameras, lights, gbuffer)  # the content reference
        out = job.render_batch(textures, cameras, lights, gbuffer)
        out.images.sum().backward()

    images = job.render_batch(job.textures(), cameras, lights, gbuffer).images.detach()

    def backbones() -> None:
        leaf = images.clone().requires_grad_(True)
        with torch.no_grad():
            job.nets.content(images, content_taps)  # content targets of the reference render
        style = job.nets.style(leaf, style_taps)
        content = job.nets.content(leaf, content_taps)
        total = sum(m.square().mean() for m in (*style.maps, *content.maps))
        total.backward()

    style_features = job.nets.style(images, style_taps)
    content_features = job.nets.content(images, content_taps)

    def matching() -> None:
        for fmap, style_set in zip(style_features.maps, job.style_objective.style_sets, strict=True):
            nearest_style_indices(flatten_maps(fmap), style_set, chunk_size=config.style.nnfm_chunk)

    def losses() -> None:
        style = type(style_features)(tuple(m.clone().requires_grad_(True) for m in style_features.maps))
        content = type(content_features)(tuple(m.clone().requires_grad_(True) for m in content_features.maps))
        terms = [job.style_objective(style),
                 content_objective(content, content_features, reduction=config.style.content_reduction)]
        if job.palette is not None:
            terms.append(job.covered_palette_loss(job.unclamped_textures()))
        torch.stack(terms).sum().backward()

    def optimiser() -> None:
        for p in job.params.parameters():
            p.grad = torch.zeros_like(p)
        job.optimizer.step()

    parts = {name: time_it(fn, repeats=repeats) for name, fn in [
        ("step", whole_step), ("views_and_rasterisation", views), ("rendering_fwd_bwd", rendering),
        ("coverage", coverage), ("backbones_fwd_bwd", backbones),
        ("nnfm_matching", matching), ("losses_fwd_bwd_incl_matching", losses), ("optimiser", optimiser),
    ]}
    step = parts["step"]["median_s"]
    backbone = parts["backbones_fwd_bwd"]["median_s"]
    return {
        "config": {"preset": "preview", "backbone": "clip-rn50", "content_backbone": "vgg16",
                   "view_pool": config.render.view_pool, "supersample": config.render.supersample,
                   "render_size": config.render.render_size, "views_per_step": batch,
                   "texture_size": config.render.texture_size, "faces": int(job.geometry.faces.shape[0])},
        "parts": parts,
        "share_of_step": {name: part["median_s"] / step for name, part in parts.items() if name != "step"},
        "outside_backbones_share": (step - backbone) / step,
        "target_outside_backbones_share": 0.15,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    main()
