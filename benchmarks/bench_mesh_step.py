"""One `restyle mesh` step of the `preview` preset (clip-rn50 style + vgg16 content, random weights in the
published formats: same FLOPs as the real ones), split into its parts. Writes results/mesh_step.json.

Parts are timed side by side in one run: the whole step, then each part on its own with the same inputs.
"Outside the backbones" = whole step - backbone forward/backward; the issue's target is <= 15% of the step.
Run: .venv/bin/python benchmarks/bench_mesh_step.py [--mesh PATH]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import torch

from _common import time_it, write_result
from restyle.backbones.testing import write_random_checkpoints
from restyle.configs import resolve
from restyle.losses.nnfm import flatten_maps, nearest_style_indices
from restyle.pipelines.mesh import MESH_PRESETS, MeshConfig, MeshJob
from restyle.pipelines.objectives import content_objective

REPO = Path(__file__).resolve().parents[1]


def build_job(mesh: Path, style: Path, work: Path) -> MeshJob:
    weights = write_random_checkpoints(work / "weights")
    config = resolve(MeshConfig(), presets=MESH_PRESETS, preset="preview", config_file=None, flags={
        "mesh": str(mesh), "styles": [str(style)], "output": str(work / "out"),
        "style": {"backbone": "clip-rn50"}, "pretrained": {"weights_dir": str(weights)},
    })
    return MeshJob(config)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mesh", type=Path, default=REPO / "assets/meshes/spot/spot.obj")
    parser.add_argument("--style", type=Path, default=REPO / "assets/styles/vangogh_starry_night.jpg")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        job = build_job(args.mesh, args.style, Path(work))
        result = measure(job, args.repeats)
    write_result("mesh_step", result)


def measure(job: MeshJob, repeats: int) -> dict:
    config = job.config
    batch = config.render.views_per_step
    cameras, lights, gbuffer = job.views.sample(batch)
    style_taps, content_taps = config.style.style_taps, config.style.content_taps

    def whole_step() -> None:
        job.step()

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
        terms = [job.style_objective(style), content_objective(content, content_features)]
        if job.palette is not None:
            terms.append(job._palette_loss(job.textures()))
        torch.stack(terms).sum().backward()

    def optimiser() -> None:
        for p in job.params.parameters():
            p.grad = torch.zeros_like(p)
        job.optimizer.step()

    parts = {name: time_it(fn, repeats=repeats) for name, fn in [
        ("step", whole_step), ("rendering_fwd_bwd", rendering), ("backbones_fwd_bwd", backbones),
        ("nnfm_matching", matching), ("losses_fwd_bwd_incl_matching", losses), ("optimiser", optimiser),
    ]}
    step = parts["step"]["median_s"]
    backbone = parts["backbones_fwd_bwd"]["median_s"]
    return {
        "config": {"preset": "preview", "backbone": "clip-rn50", "content_backbone": "vgg16",
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
