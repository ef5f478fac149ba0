"""The options of ``restyle image`` and its presets, in a module that imports nothing heavy (the CLI builds its help
from it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from restyle.configs import option
from restyle.objectives.depth_config import ImageDepthConfig
from restyle.run.files import OVERWRITE_FILE_HELP
from restyle.sections import (
    MAX_SIDE,
    ClipTextConfig,
    LossWeights,
    OptimConfig,
    PaletteConfig,
    StyleConfig,
    WeightsConfig,
)

__all__ = ["DEFAULT_SIZE", "IMAGE_PRESETS", "TEXT_PRESET", "ClipTextConfig", "ImageConfig", "PreserveColor"]

DEFAULT_SIZE = 512
PreserveColor = Literal["none", "luminance", "match"]


@dataclass
class ImageConfig:
    """Everything ``restyle image`` can be told; ``config.toml`` next to the output holds it fully resolved."""

    content: Path | None = option(None, help="The photo to stylise.", flag=None)
    styles: list[Path] = option(
        factory=list, help="One or more style images (without style_blend, NNFM pools their features and Gram "
        "averages their Gram matrices).",
        flag=None,
    )
    style_blend: tuple[float, ...] | None = option(
        None, help="Weight of each style image, in styles order, e.g. 0.7,0.3 (default: equal; normalised to sum "
        "to 1). Gram: the weighted mean of the styles' Gram matrices. NNFM: a weighted sum of one NNFM loss per "
        "style image, each matched against its own features; without style_blend, NNFM matches against the "
        "pooled features of all style images (the CLIP paper's multi-style method, as restyle mesh does).",
        min=0,
        flag="--style-blend", metavar="W1,W2,...",
    )
    output: Path | None = option(None, help="Output image (.png, .jpg, .webp).", flag=None)
    text: str | None = option(
        None, flag="--text",
        help="Text prompt instead of style images (CLIPstyler: a U-Net trained on the content, guided by CLIP). "
        "Given as --text (or the API's text=) without a preset, the clipstyler preset applies.",
    )
    save_model: Path | None = option(
        None, help="With text: also write the trained U-Net here (state dict and its config as JSON; torch.load "
        "with weights_only=True).",
        flag="--save-model",
    )
    size: int | None = option(
        None, help=f"Long side of the output in pixels, aspect ratio kept (default {DEFAULT_SIZE}; not together "
        "with size_pixels).",
        min=1, max=MAX_SIDE,
        flag="--size",
    )
    size_pixels: int | None = option(
        None, help="Total pixel count of the output instead of its long side, aspect ratio kept (e.g. 250000).",
        min=1, max=MAX_SIDE**2,
        flag="--size-pixels",
    )
    style_size: int | None = option(
        None, help="Long side the style images are resized to (default: the content's rule, size or size_pixels).",
        min=1, max=MAX_SIDE,
        flag="--style-size",
    )
    style_size_pixels: int | None = option(
        None, min=1, max=MAX_SIDE**2, help="Total pixel count the style images are resized to, instead of style_size.",
        flag="--style-size-pixels",
    )
    preserve_color: PreserveColor = option(
        "none", help="Keep the content's colours: none; luminance (Gatys et al. 2016: transfer on luminance only, "
        "then the content's chrominance is put back); match (recolour each style image to the content's colour "
        "mean and covariance before its features are taken).",
        flag="--preserve-color",
    )
    init: str = option(
        "content", help="Starting image: content, noise (seeded Gaussian noise around mid-grey), or an image file "
        "(resized to the output's exact size).",
        flag="--init",
    )
    save_every: int = option(
        0, min=0, help="Also write the image every N steps next to the output, as OUT.00010.png and so on (0: never).",
        flag="--save-every",
    )
    device: str = option("auto", help="auto, cpu, cuda or cuda:N.", flag="--device")
    overwrite: bool = option(False, help=OVERWRITE_FILE_HELP, flag="--overwrite")
    style: StyleConfig = option(
        factory=lambda: StyleConfig(method="gram", backbone="vgg19"), help="Style loss (default: Gram on VGG19)."
    )
    weights: LossWeights = option(factory=LossWeights, help="Loss weights.")
    palette: PaletteConfig = option(factory=PaletteConfig, help="Colour palette loss.")
    clip_text: ClipTextConfig = option(factory=ClipTextConfig, help="Text-driven (CLIPstyler) loss and U-Net.")
    depth: ImageDepthConfig = option(factory=ImageDepthConfig, help="Depth-aware style transfer (masks by depth, "
                                     "styles blended by depth, the depth loss).")
    optim: OptimConfig = option(factory=OptimConfig, help="Optimiser.")
    pretrained: WeightsConfig = option(factory=WeightsConfig, help="Pretrained weight files.")


TEXT_PRESET = "clipstyler"  # what a text run without a preset uses
IMAGE_PRESETS: dict[str, dict] = {
    # CLIPstyler (Kwon & Ye 2022; used by --text): a U-Net trained 200 steps, Adam 5e-4 halved every 100; content
    # on VGG19 conv4_2 + conv5_2 (MSE, summed) at 150; TV 2e-3. Size 512 on the long side: CLIPstyler squashes to
    # 512 x 512, we keep the aspect ratio.
    "clipstyler": {
        "size": 512,
        "style": {"backbone": "vgg19", "content_backbone": "vgg19", "content_taps": ["conv4_2", "conv5_2"],
                  "content_reduction": "sum"},
        "weights": {"content": 150.0, "tv": 2e-3},
        "optim": {"optimizer": "adam", "lr": 5e-4, "iters": 200, "lr_decay": 0.5, "lr_decay_every": 100},
    },
    # Gatys et al. 2016: Gram matrices of VGG relu1_1..relu5_1, content on VGG.
    "gatys": {"style": {"method": "gram", "backbone": "vgg16"}, "optim": {"lr": 0.02, "iters": 500}},
    # The CLIP paper's VGG baseline: NNFM on VGG16 relu3_1..relu3_3, style 200 and content 1, both summed over layers.
    "nnfm-vgg": {"style": {"method": "nnfm", "backbone": "vgg16"}, "weights": {"style": 200.0, "content": 1.0}},
    # The CLIP paper's setting: NNFM on CLIP-RN50, VGG content, colour palette from the style image.
    "nnfm-clip": {
        "style": {"method": "nnfm", "backbone": "clip-rn50"},
        "weights": {"style": 1e4, "content": 22.0},
        "palette": {"source": "auto", "weight": 2000.0},
    },
}
