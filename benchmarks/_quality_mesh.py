"""Mesh quality on held-out views, for ``bench_quality.py``: ``mesh_quality() -> dict``.

For each case (the demo config, and the ``preview`` preset with ``--backbone vgg19``) on each asset (Spot, and
the bundled BoxTextured cube, whose flat faces show strokes plainly), run ``restyle mesh``, then render views from
cameras the optimisation never used (two fixed distributions, ``EVAL_VIEW_SETS``, with another seed) of the
result and of the original asset under the same lights, and measure with the one evaluator
(``restyle.eval.evaluator``, VGG19):

- ``result``: Gram and NNFM distances of the result's renders to the style image, and the content distance to the
  original's renders, all masked by the render coverage;
- ``original``: the same style distances for the untouched asset (the baseline; its content distance is 0).

The style image is given to the evaluator with its short side at the evaluation render size (the training
default, ``texture.style_scale = 1``), whatever scale a run trained at, so every case is measured alike.

The preview runs set ``style.content_backbone = "vgg19"`` explicitly, so that they stay offline whatever ``auto``
resolves to (it meant vgg16, whose weights cannot be downloaded here), and take fewer steps than the preset's 300
to keep the whole benchmark within about a quarter of an hour on 2 CPU cores. Both are recorded in the result.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from restyle.backbones.vgg19 import VGG19Backbone
from restyle.backbones.weights import find_checkpoint
from restyle.configs import resolve
from restyle.eval.evaluator import Evaluator
from restyle.io.images import square_style
from restyle.io.meshes import load_mesh
from restyle.jobs.mesh.run import MESH_PRESETS, MeshConfig, run
from restyle.render.geometry import geometry_and_textures
from restyle.render.raster import rasterize
from restyle.render.shading import render
from restyle.render.views import ViewConfig, ViewSampler

REPO = Path(__file__).resolve().parents[1]
STYLE = REPO / "assets/styles/vangogh_starry_night.jpg"
ASSETS = {
    "spot": REPO / "assets/meshes/spot/spot.obj",
    "box": REPO / "assets/meshes/box_textured/BoxTextured.glb",
}
DEMO_CONFIG = REPO / "examples/demo_cpu.toml"
PREVIEW_ITERS = 60  # the preset's 300 steps at render 224 take ~15 minutes per asset on 2 cores
HELD_OUT_SEED_OFFSET = 1000  # held-out cameras: the run's view distribution with seed + this
EVAL_VIEWS = 8
EVAL_SIZE = 224
EVAL_SUPERSAMPLE = 2


def _cases() -> dict[str, dict]:
    """Per case: the preset, config file and flags of ``restyle mesh`` (inputs and output are added per asset)."""
    return {
        # no turntable: it does not change the result, only the wall time
        "demo": {"preset": None, "config_file": DEMO_CONFIG, "flags": {"outputs": {"turntable": "none"}}},
        "preview_vgg19": {
            "preset": "preview",
            "config_file": None,
            "flags": {
                "style": {"backbone": "vgg19", "content_backbone": "vgg19"},
                "optim": {"iters": PREVIEW_ITERS},
                "outputs": {"turntable": "none"},
            },
        },
    }


def _config(case: dict, mesh: Path, output: Path) -> MeshConfig:
    flags = {**case["flags"], "mesh": str(mesh), "styles": [str(STYLE)], "output": str(output)}
    return resolve(MeshConfig(), presets=MESH_PRESETS, preset=case["preset"], config_file=case["config_file"],
                   flags=flags)


# Held-out camera distributions, fixed whatever a run trains with, so that figures compare across versions:
# "band" is the training distribution up to issue 8 (elevation -15..60 degrees, no roll, fov 40, the look-at point
# jittered by 0.05 radii), "sphere" the paper's (the whole sphere, random roll and shift), the default since.
EVAL_VIEW_SETS = {
    "band": ViewConfig(directions="band", roll=False, fov=40.0, translation=0.05),
    "sphere": ViewConfig(),
}


@torch.no_grad()
def held_out_renders(
    config: MeshConfig, result_textures: list[torch.Tensor], views: ViewConfig
) -> dict[str, torch.Tensor]:
    """Renders ``[V,3,S,S]`` of the result and of the original asset from held-out cameras drawn from ``views``
    under the same random lights (black background), and their coverage ``[V,1,S,S]``."""
    geometry, originals, wraps = geometry_and_textures(load_mesh(config.mesh, unwrap=config.unwrap))
    sampler = ViewSampler(geometry, views, seed=config.optim.seed + HELD_OUT_SEED_OFFSET)
    cameras, lights = sampler.sample(EVAL_VIEWS, width=EVAL_SIZE, height=EVAL_SIZE)
    fine = cameras.resized(EVAL_SIZE * EVAL_SUPERSAMPLE, EVAL_SIZE * EVAL_SUPERSAMPLE)
    gbuffer = rasterize(geometry, fine)

    def shaded(textures: list[torch.Tensor]):
        return render(geometry, gbuffer, cameras, textures, wraps, lights, shading=config.shading,
                      supersample=EVAL_SUPERSAMPLE)

    original = shaded(originals)
    return {"result": shaded(result_textures).images, "original": original.images, "mask": original.mask}


def _measure(evaluator: Evaluator, renders: dict[str, torch.Tensor]) -> dict[str, dict]:
    mask = renders["mask"]
    result = evaluator.distances(renders["result"], renders["original"], mask)
    original = evaluator.distances(renders["original"], renders["original"], mask)
    return {"result": result.as_dict(), "original": original.as_dict()}


def _run_case(case: dict, mesh: Path, output: Path, evaluator: Evaluator) -> dict:
    config = _config(case, mesh, output)
    start = time.perf_counter()
    result = run(config)
    wall = time.perf_counter() - start
    distances = {
        name: _measure(evaluator, held_out_renders(result.config, result.textures, views))
        for name, views in EVAL_VIEW_SETS.items()
    }
    losses = [line for line in (output / "metrics.jsonl").read_text().splitlines() if line]
    resolved = result.config
    return {
        **distances,
        "wall_s": wall,
        "steps": result.steps,
        "first_logged_losses": losses[0] if losses else None,
        "last_logged_losses": losses[-1] if losses else None,
        "config": {
            "preset": case["preset"], "config_file": str(case["config_file"]) if case["config_file"] else None,
            "backbone": resolved.style.backbone, "content_backbone": resolved.style.content_backbone,
            "method": resolved.style.method, "weights": {"style": resolved.weights.style,
                                                         "content": resolved.weights.content},
            "iters": resolved.optim.iters, "render_size": resolved.render.render_size,
            "texture_size": resolved.render.texture_size, "views_per_step": resolved.render.views_per_step,
            "palette": resolved.palette.source, "turntable": resolved.outputs.turntable,
            "texture": {"residual_levels": resolved.texture.residual_levels,
                        "recolour": resolved.texture.recolour, "style_scale": resolved.texture.style_scale,
                        "shared_content_pass": resolved.texture.shared_content_pass},
        },
    }


def mesh_quality(cases: list[str] | None = None, assets: list[str] | None = None) -> dict:
    """Held-out style and content distances of every (case, asset) run, with the untouched asset as baseline."""
    net = VGG19Backbone.from_checkpoint(find_checkpoint("vgg19"))
    evaluator = Evaluator([square_style(STYLE, EVAL_SIZE, torch.device("cpu"))], net=net)
    chosen_cases = {name: case for name, case in _cases().items() if cases is None or name in cases}
    chosen_assets = {name: path for name, path in ASSETS.items() if assets is None or name in assets}
    runs: dict[str, dict] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        for case_name, case in chosen_cases.items():
            for asset_name, mesh in chosen_assets.items():
                output = Path(work) / f"{case_name}_{asset_name}"
                runs[f"{case_name}/{asset_name}"] = _run_case(case, mesh, output, evaluator)
    return {
        "evaluation": {
            "views": EVAL_VIEWS, "view_sets": {name: str(views) for name, views in EVAL_VIEW_SETS.items()},
            "size": EVAL_SIZE, "supersample": EVAL_SUPERSAMPLE,
            "held_out_seed": f"run seed + {HELD_OUT_SEED_OFFSET}", "style": STYLE.name,
            "style_short_side": EVAL_SIZE, "background": "black (distances masked by coverage)",
            "distances": "restyle.eval.evaluator.Evaluator (VGG19): gram relu1_1..relu5_1, nnfm relu3_1+relu4_1,"
                         " content conv4_2; lower is closer",
        },
        "notes": {
            "preview_vgg19": f"preview preset with --backbone vgg19 and style.content_backbone = vgg19 set explicitly "
                             f"(offline), {PREVIEW_ITERS} steps instead of the preset's 300",
        },
        "runs": runs,
        "total_wall_s": time.perf_counter() - start,
    }
