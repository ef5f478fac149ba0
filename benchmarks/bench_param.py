"""Texture parameterisations side by side: Spot in the style of The Starry Night with the demo config
(``examples/demo_cpu.toml``: VGG19, recolour to the style, style scale 2, a pool of 32 views, 170 steps), run with

- ``pixels``: the texel-grid residual (today's default);
- ``pyramid3``: ``texture.residual_levels = 3`` (a Laplacian pyramid of residuals);
- ``fourier``: ``texture.parameterisation = "fourier"`` (1/f spectrum, decorrelated colour; Mordvintsev et al.
  2018), at the demo's learning rate and at a larger one (its low frequencies take the large steps, so the fine
  ones, where strokes are, move slower than on pixels: a fair comparison may need more);
- ``fourier_rgb``: the same spectrum in R, G, B (what the decorrelated colour adds).

Every variant takes the same steps and is measured by ``_quality_mesh``'s held-out evaluation (two view sets,
VGG19 Gram / NNFM distances to the style, content distance to the original's renders; lower is closer), with the
whole job's wall time, and two figures of the residual it wrote (``residual_measures``): its mean size and the
share of its variance at the finest scale (per-texel speckle is high; smooth blobs are low).

Run folders (textures, before_after.png, residual_0.png, and ``heldout_sphere.png``: the held-out sphere renders)
are kept in ``--out`` (default /tmp/param_bench) to look at. Writes results/param.json.
Run: .venv/bin/python benchmarks/bench_param.py [--variants pixels,fourier] [--iters N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from _common import write_result
from _quality_mesh import (
    ASSETS,
    DEMO_CONFIG,
    EVAL_VIEW_SETS,
    OFFLINE,
    STYLES,
    _evaluators,
    _loss_lines,
    _measure,
    held_out_renders,
)
from restyle.api import stylize_mesh
from restyle.io.images import load_image, save_image

ASSET, STYLE = "spot", "starry"
FOURIER = {"parameterisation": "fourier"}
VARIANTS: dict[str, dict] = {
    "pixels": {},
    "pyramid3": {"texture": {"residual_levels": 3}},
    "fourier": {"texture": FOURIER},
    "fourier_lr0.15": {"texture": FOURIER, "optim": {"lr": 0.15}},
    "fourier_rgb": {"texture": {"parameterisation": "fourier-rgb"}},
}


def residual_measures(folder: Path) -> dict:
    """Figures of a run's residual (``residual_0.png``, written as 0.5 + r/2) on the texels its views covered
    (``coverage_0.png``) away from the islands' edges (all 8 neighbours covered): ``residual_abs_mean``, and
    ``residual_fine_share``, the share of its variance in a 3x3 high-pass (the residual minus its 3x3 mean): about
    0.9 for per-texel noise, near 0 for smooth blobs. Texels outside the islands are left out: they are read only
    through coarse mip levels, and their blocks would swamp a whole-texture spectrum."""
    residual = (load_image(folder / "residual_0.png") - 0.5) * 2
    covered = (load_image(folder / "coverage_0.png")[0] > 0.5).float()
    inside = F.avg_pool2d(covered[None, None], 3, stride=1, padding=1)[0, 0] > 1 - 1e-6
    smooth = F.avg_pool2d(F.pad(residual[None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0]
    values, fine = residual[:, inside], (residual - smooth)[:, inside]
    variance = (values - values.mean(1, keepdim=True)).square().sum()
    return {"residual_abs_mean": float(values.abs().mean()),
            "residual_fine_share": float(fine.square().sum() / variance)}


def _sheet(images: torch.Tensor, columns: int = 4) -> torch.Tensor:
    """``[V,3,S,S]`` renders tiled into one ``[3,rows*S,columns*S]`` image."""
    rows = [torch.cat(list(images[i : i + columns]), dim=-1) for i in range(0, len(images), columns)]
    width = rows[0].shape[-1]
    rows = [torch.nn.functional.pad(row, (0, width - row.shape[-1])) for row in rows]
    return torch.cat(rows, dim=-2)


def run_variant(name: str, flags: dict, evaluator, folder: Path, iters: int | None) -> dict:
    """Run the demo config with ``flags`` into ``folder``; its held-out distances, wall time and what it wrote."""
    options = {**OFFLINE, "outputs": {"turntable": "none"}, "overwrite": True, **flags}
    if iters is not None:
        options["optim"] = {**options.get("optim", {}), "iters": iters}
    start = time.perf_counter()
    result = stylize_mesh(ASSETS[ASSET], [STYLES[STYLE]], folder, config_file=DEMO_CONFIG, **options)
    wall = time.perf_counter() - start
    distances = {}
    for view_set, views in EVAL_VIEW_SETS.items():
        renders = held_out_renders(result.config, result.textures, views)
        distances[view_set] = _measure(evaluator, renders)
        if view_set == "sphere":
            save_image(_sheet(renders["result"]), folder / "heldout_sphere.png")
    losses = _loss_lines(folder / "metrics.jsonl")
    texture, optim = result.config.texture, result.config.optim
    return {
        **distances,
        "wall_s": wall,
        "steps": result.steps,
        **residual_measures(folder),
        "first_logged_losses": json.loads(losses[0]) if losses else None,
        "last_logged_losses": json.loads(losses[-1]) if losses else None,
        "config": {"parameterisation": texture.parameterisation, "residual_levels": texture.residual_levels,
                   "lr": optim.lr, "lr_decay_every": optim.lr_decay_every, "iters": optim.iters,
                   "texture_size": result.config.render.texture_size, "render_size": result.config.render.render_size,
                   "view_pool": result.config.render.view_pool, "recolour": texture.recolour,
                   "style_scale": texture.style_scale},
        "folder": str(folder),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=lambda text: [v.strip() for v in text.split(",") if v.strip()],
                        default=list(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--iters", type=int, help="steps of every variant instead of the demo's (quick checks)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/param_bench"), help="where the run folders go")
    return parser


def main() -> None:
    args = _parser().parse_args()
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {', '.join(unknown)}; valid: {', '.join(VARIANTS)}")
    evaluator = _evaluators({STYLE: STYLES[STYLE]})[STYLE]
    start = time.perf_counter()
    runs = {name: run_variant(name, VARIANTS[name], evaluator, args.out / name, args.iters) for name in args.variants}
    write_result("param", {
        "asset": ASSET, "style": STYLES[STYLE].name, "config_file": "examples/demo_cpu.toml",
        "variants": {name: VARIANTS[name] for name in args.variants},
        "evaluation": "benchmarks/_quality_mesh.py held_out_renders + _measure (VGG19 gram relu1_1..relu5_1, nnfm "
                      "relu3_1+relu4_1, content conv4_2; lower is closer); 'original' is the untouched asset",
        "runs": runs,
        "total_wall_s": time.perf_counter() - start,
    })
    for name, run in runs.items():
        figures = {view_set: {k: round(v, 4) for k, v in run[view_set]["result"].items()}
                   for view_set in EVAL_VIEW_SETS}
        print(f"{name:16s} {run['wall_s']:6.0f}s fine={run['residual_fine_share']:.3f} {figures}")


if __name__ == "__main__":
    main()
