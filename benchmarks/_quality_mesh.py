"""Mesh quality on held-out views, for ``bench_quality.py``: ``mesh_quality(selection) -> dict``.

For each case (the ``draft``, ``preview`` and ``quality`` presets with ``--backbone vgg19``, and the demo config)
on each asset (Spot; the bundled BoxTextured cube, whose flat faces show strokes plainly; the bundled vase, 39k
triangles, made by ``examples/make_vase.py``; and any extra asset given) and each style (The Starry Night, The
Great Wave), run ``restyle mesh``, then render views from cameras
the optimisation never used (two fixed distributions, ``EVAL_VIEW_SETS``, with another seed) of the result and of
the original asset under the same lights, and measure with the one evaluator (``restyle.eval.evaluator``, VGG19,
one per style):

- ``result``: Gram and NNFM distances of the result's renders to the style image, and the content distance to the
  original's renders, all masked by the render coverage;
- ``original``: the same style distances for the untouched asset (the baseline; its content distance is 0);
- ``recolour_start``: where a case recolours (``texture.recolour = "style"``), the same for the texture it starts
  from: the same config run for 0 steps (the draft's target is to end below it on both distances);
- ``reference``: the 2D reference of the asset and style (``_quality_reference.py``): the original's held-out
  sphere views stylised one by one as photos by ``restyle image``.

The style image is given to the evaluator with its short side at the evaluation render size (the training
default, ``texture.style_scale = 1``), whatever scale a run trained at, so every case is measured alike.

Extra assets: ``Selection.extra_assets`` (``bench_quality.py --extra-asset NAME=PATH``, repeatable) adds assets
that are not bundled to those measured, under their own names, recorded with their paths. The one in mind is the
SciFiHelmet (23k triangles, a real-world PBR asset; CC0, Michael Pavlovic, glTF by Norbert Nopper, from the
Khronos glTF sample assets): it is fetched, not bundled, since files fetched from public repositories stay out of
this repository; a copy lies at /work/fetched/scifi_helmet/SciFiHelmet.glb (its README.txt says how it was made).

``--backbone vgg19`` (``style.backbone``) keeps every case offline whatever ``auto`` resolves to; the content
backbone is left to the case (``auto`` is the style backbone when that needs no download). The demo case runs
``examples/demo_cpu.toml`` as ``make demo`` does (no ``--preset``: the device's preset under the file) but
without its turntable, which changes the wall time only. The wall time is the whole job (loading, steps,
export, previews), on whatever threads torch has (recorded with the machine).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import _quality_reference as reference
from restyle.api import MESH_PRESETS, MeshConfig, stylize_mesh
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.backbones.weights import find_checkpoint
from restyle.eval.evaluator import Evaluator
from restyle.io.images import square_style
from restyle.io.meshes import load_mesh
from restyle.jobs.mesh.heldout import HELD_OUT_SEED_OFFSET, held_out_views
from restyle.jobs.mesh.outputs import MeshResult
from restyle.render.geometry import geometry_and_textures
from restyle.render.views import ViewConfig

REPO = Path(__file__).resolve().parents[1]
ASSETS = {
    "spot": REPO / "assets/meshes/spot/spot.obj",
    "box": REPO / "assets/meshes/box_textured/BoxTextured.glb",
    "vase": REPO / "assets/meshes/vase/vase.glb",
}
STYLES = {
    "starry": REPO / "assets/styles/vangogh_starry_night.jpg",
    "wave": REPO / "assets/styles/hokusai_great_wave.jpg",
}
DEMO_CONFIG = REPO / "examples/demo_cpu.toml"
PRESET_CASES = ("draft", "preview", "quality")  # measured as the presets stand, by name
OFFLINE = {"style": {"backbone": "vgg19"}}  # what `--backbone vgg19` sets
RUNS_INDEX = "runs.json"  # in a --keep folder: which run folder holds which case, asset and style, and its time
EVAL_VIEWS = 8
EVAL_SIZE = 224
EVAL_SUPERSAMPLE = 2


@dataclass(frozen=True)
class Case:
    """A ``restyle mesh`` setting to measure: a preset by name, or a config file (under the device's preset)."""

    name: str
    preset: str | None
    config_file: Path | None = None


def mesh_cases() -> dict[str, Case]:
    cases = {name: Case(name, name) for name in PRESET_CASES if name in MESH_PRESETS}
    return {**cases, "demo": Case("demo", None, DEMO_CONFIG)}


@dataclass(frozen=True)
class Selection:
    """What ``bench_quality.py --only mesh`` measures; ``None`` lists mean all. ``iters`` overrides every case's
    steps (quick checks); ``keep`` keeps the run folders there instead of in a temporary folder; ``extra_assets``
    (name, path) are measured besides the bundled ``assets`` picked."""

    cases: tuple[str, ...] | None = None
    assets: tuple[str, ...] | None = None
    styles: tuple[str, ...] | None = None
    iters: int | None = None
    keep: Path | None = None
    reference: bool = True
    reference_iters: int = 100
    extra_assets: tuple[tuple[str, Path], ...] = ()

    def pick(self, table: dict, names: tuple[str, ...] | None) -> dict:
        return {name: value for name, value in table.items() if names is None or name in names}


def run_job(case: Case, mesh: Path, style: Path, folder: Path, iters: int | None = None) -> tuple[MeshResult, float]:
    """Run ``case`` on ``mesh`` and ``style`` into ``folder`` (replacing a run there); the result and its wall
    seconds. A case without a preset says on stdout which one the device gave it."""
    options: dict = {**OFFLINE, "outputs": {"turntable": "none"}, "overwrite": True}
    if iters is not None:
        options["optim"] = {"iters": iters}
    start = time.perf_counter()
    result = stylize_mesh(mesh, [style], folder, preset=case.preset, config_file=case.config_file,
                          on_phase=_print_preset_line, **options)
    return result, time.perf_counter() - start


def _print_preset_line(phase: str) -> None:
    if phase.startswith("no --preset"):
        print(f"restyle mesh: {phase}", flush=True)


def record_run(keep: Path | None, folder: Path, entry: dict) -> None:
    """Note a kept run folder in ``keep/runs.json`` (what ``gallery.py`` reads for captions and times)."""
    if keep is None:
        return
    index_path = keep / RUNS_INDEX
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    index[folder.name] = {**entry, "threads": torch.get_num_threads()}
    index_path.write_text(json.dumps(index, indent=2) + "\n")


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
    held_out = held_out_views(geometry, views, seed=config.optim.seed, count=EVAL_VIEWS, size=EVAL_SIZE,
                              supersample=EVAL_SUPERSAMPLE)
    original = held_out.render(geometry, originals, wraps, config.shading)
    result = held_out.render(geometry, result_textures, wraps, config.shading)
    return {"result": result.images, "original": original.images, "mask": original.mask}


def _measure(evaluator: Evaluator, renders: dict[str, torch.Tensor]) -> dict[str, dict]:
    mask = renders["mask"]
    result = evaluator.distances(renders["result"], renders["original"], mask)
    original = evaluator.distances(renders["original"], renders["original"], mask)
    return {"result": result.as_dict(), "original": original.as_dict()}


def held_out_distances(evaluator: Evaluator, config: MeshConfig, textures: list[torch.Tensor]) -> dict[str, dict]:
    """Per view set (band, sphere): the distances of ``textures`` on ``config``'s asset, and of the original."""
    return {name: _measure(evaluator, held_out_renders(config, textures, views))
            for name, views in EVAL_VIEW_SETS.items()}


def _loss_lines(metrics: Path) -> list[str]:
    """The loss entries of a run's metrics.jsonl (not its held-out ones), as written."""
    lines = [line for line in metrics.read_text().splitlines() if line.strip()]
    return [line for line in lines if "total" in json.loads(line)]


def _section(value: object) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(value), default=str))


def _summary(case: Case, config: MeshConfig) -> dict:
    """The resolved config of a run: the figures people compare first, then whole sections."""
    return {
        "preset": case.preset, "config_file": str(case.config_file) if case.config_file else None,
        "backbone": config.style.backbone, "content_backbone": config.style.content_backbone,
        "method": config.style.method, "weights": _section(config.weights), "palette": config.palette.source,
        "iters": config.optim.iters, "render_size": config.render.render_size,
        "texture_size": config.render.texture_size, "views_per_step": config.render.views_per_step,
        "turntable": config.outputs.turntable, "texture": _section(config.texture), "optim": _section(config.optim),
        "render": _section(config.render), "views": _section(config.views),
    }


def _recolour_start(case: Case, mesh: Path, style: Path, folder: Path, evaluator: Evaluator,
                    config: MeshConfig) -> dict | None:
    """Where ``config`` recolours: the held-out distances of the texture it starts from (the case for 0 steps)."""
    if config.texture.recolour == "none":
        return None
    start, wall = run_job(case, mesh, style, folder.with_name(folder.name + "_start"), iters=0)
    return {**held_out_distances(evaluator, start.config, start.textures), "wall_s": wall}


def measure_case(case: Case, mesh: Path, style: Path, folder: Path, evaluator: Evaluator,
                 iters: int | None = None) -> tuple[dict, MeshConfig]:
    """Run ``case`` into ``folder`` and measure the result, its original and its recolour-only start; the record
    and the run's resolved config."""
    result, wall = run_job(case, mesh, style, folder, iters)
    losses = _loss_lines(folder / "metrics.jsonl")
    return {
        **held_out_distances(evaluator, result.config, result.textures),
        "wall_s": wall,
        "steps": result.steps,
        "first_logged_losses": losses[0] if losses else None,
        "last_logged_losses": losses[-1] if losses else None,
        "recolour_start": _recolour_start(case, mesh, style, folder, evaluator, result.config),
        "config": _summary(case, result.config),
    }, result.config


def reference_2d(config: MeshConfig, style: Path, evaluator: Evaluator, iters: int, folder: Path) -> dict:
    """The 2D reference of ``config``'s asset and ``style`` (see ``_quality_reference``), from the cache when its
    inputs are unchanged: the held-out sphere views of the original stylised as photos, measured."""
    views = EVAL_VIEW_SETS["sphere"]
    inputs = {
        "asset": config.mesh.name, "asset_folder_sha256": reference.folder_digest(config.mesh.parent),
        "style": style.name, "style_sha256": hashlib.sha256(style.read_bytes()).hexdigest(),
        "seed": config.optim.seed + HELD_OUT_SEED_OFFSET, "shading": _section(config.shading),
        "view_set": _section(views), "views": EVAL_VIEWS, "size": EVAL_SIZE, "supersample": EVAL_SUPERSAMPLE,
        "image_options": reference.image_options(EVAL_SIZE, iters),
    }

    def compute() -> dict:
        originals = geometry_and_textures(load_mesh(config.mesh, unwrap=config.unwrap))[1]
        renders = held_out_renders(config, originals, views)
        stylised, run = reference.stylise_views(renders["original"], style, folder, iters)
        distances = evaluator.distances(stylised, renders["original"], renders["mask"])
        return {"sphere": distances.as_dict(), **run}

    return reference.cached(reference.cache_key(inputs), inputs, compute)


def _evaluators(styles: dict[str, Path]) -> dict[str, Evaluator]:
    net = VGG19Backbone.from_checkpoint(find_checkpoint("vgg19"))
    return {name: Evaluator([square_style(path, EVAL_SIZE, torch.device("cpu"))], net=net)
            for name, path in styles.items()}


def mesh_quality(selection: Selection | None = None) -> dict:
    """Held-out style and content distances of every (case, asset, style) run, with the untouched asset, the
    recolour-only start and the 2D reference beside it."""
    selection = selection or Selection()
    cases = selection.pick(mesh_cases(), selection.cases)
    assets = {**selection.pick(ASSETS, selection.assets), **dict(selection.extra_assets)}
    styles = selection.pick(STYLES, selection.styles)
    evaluators = _evaluators(styles)
    runs: dict[str, dict] = {}
    references: dict[str, dict] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = selection.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        for case_name, case in cases.items():
            for asset_name, mesh in assets.items():
                for style_name, style in styles.items():
                    key = f"{case_name}/{asset_name}/{style_name}"
                    folder = work / key.replace("/", "_")
                    run, config = measure_case(case, mesh, style, folder, evaluators[style_name], selection.iters)
                    record_run(selection.keep, folder, {"case": case_name, "asset": asset_name, "style": style_name,
                                                        "wall_s": run["wall_s"], "steps": run["steps"]})
                    pair = f"{asset_name}/{style_name}"
                    if selection.reference and pair not in references:
                        references[pair] = reference_2d(config, style, evaluators[style_name],
                                                        selection.reference_iters,
                                                        work / f"reference_{asset_name}_{style_name}")
                    runs[key] = {**run, "reference": pair if pair in references else None}
    return {
        "evaluation": {
            "views": EVAL_VIEWS, "view_sets": {name: str(views) for name, views in EVAL_VIEW_SETS.items()},
            "size": EVAL_SIZE, "supersample": EVAL_SUPERSAMPLE,
            "held_out_seed": f"run seed + {HELD_OUT_SEED_OFFSET}", "styles": {n: p.name for n, p in styles.items()},
            "assets": {name: _shown(path) for name, path in assets.items()},
            "style_short_side": EVAL_SIZE, "background": "black (distances masked by coverage)",
            "distances": "restyle.eval.evaluator.Evaluator (VGG19): gram relu1_1..relu5_1, nnfm relu3_1+relu4_1,"
                         " content conv4_2; lower is closer",
        },
        "notes": {
            "cases": "presets by name with --backbone vgg19 (offline); demo: examples/demo_cpu.toml under the "
                     "device's preset, as make demo runs it, without its turntable",
            "iters_override": selection.iters,
            "recolour_start": "the case's config run for 0 steps (texture.recolour = style), measured alike",
            "reference": f"2D reference: the original's {EVAL_VIEWS} held-out sphere views stylised one by one by "
                         f"restyle image (defaults, --backbone vgg19, {selection.reference_iters} steps per view, "
                         f"{EVAL_SIZE} px); cached in results/{reference.CACHE.name}",
        },
        "runs": runs,
        "references": references,
        "total_wall_s": time.perf_counter() - start,
    }


def _shown(path: Path) -> str:
    """A bundled asset relative to the repository; an extra one as given."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def summary_table(result: dict) -> str:
    """Every run's held-out sphere figures, one line each: the result (and its wall time) beside its original,
    its recolour-only start and the 2D reference."""
    header = (f"{'case/asset/style':<24} {'gram':>5} {'nnfm':>5} {'cont.':>5} {'wall s':>7} | original    | "
              f"recolour start | 2D reference")
    lines = [header, f"{'':<24} {'':>5} {'':>5} {'':>5} {'':>7} | gram  nnfm  | gram  nnfm     | gram  nnfm  cont."]
    for key, run in result["runs"].items():
        start = (run["recolour_start"] or {}).get("sphere", {}).get("result")
        reference_run = result["references"].get(run["reference"] or "", {}).get("sphere")
        lines.append(f"{key:<24} {_figures(run['sphere']['result'], ('gram', 'nnfm', 'content'))} "
                     f"{run['wall_s']:>7.1f} | {_figures(run['sphere']['original'], ('gram', 'nnfm'))} | "
                     f"{_figures(start, ('gram', 'nnfm'))}    | {_figures(reference_run, ('gram', 'nnfm', 'content'))}")
    return "\n".join(lines)


def _figures(distances: dict | None, names: tuple[str, ...]) -> str:
    """``distances``' values of ``names`` in 5 characters each ("-" where there is none)."""
    values = [None if distances is None else distances.get(name) for name in names]
    return " ".join("    -" if value is None else f"{value:5.3f}" for value in values)
