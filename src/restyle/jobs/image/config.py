"""The options of ``restyle image``, in a module that imports nothing heavy (the CLI builds its help from it)."""

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

__all__ = ["DEFAULT_SIZE", "ClipTextConfig", "ImageConfig", "PreserveColor"]

DEFAULT_SIZE = 512
PreserveColor = Literal["none", "luminance", "match"]


@dataclass
class ImageConfig:
    """Everything ``restyle image`` can be told; ``config.toml`` next to the output holds it fully resolved."""

    content: Path | None = option(None, help="The photo to stylise.")
    styles: list[Path] = option(
        factory=list, help="One or more style images (without style_blend, NNFM pools their features and Gram "
        "averages their Gram matrices)."
    )
    style_blend: tuple[float, ...] | None = option(
        None, help="Weight of each style image, in styles order, e.g. 0.7,0.3 (default: equal; normalised to sum "
        "to 1). Gram: the weighted mean of the styles' Gram matrices. NNFM: a weighted sum of one NNFM loss per "
        "style image, each matched against its own features; without style_blend, NNFM matches against the "
        "pooled features of all style images (the CLIP paper's multi-style method, as restyle mesh does).",
        min=0,
    )
    output: Path | None = option(None, help="Output image (.png, .jpg, .webp).")
    text: str | None = option(
        None, help="Text prompt instead of style images (CLIPstyler: a U-Net trained on the content, guided by CLIP)."
    )
    save_model: Path | None = option(
        None, help="With text: also write the trained U-Net here (state dict and its config as JSON; torch.load "
        "with weights_only=True)."
    )
    size: int | None = option(
        None, help=f"Long side of the output in pixels, aspect ratio kept (default {DEFAULT_SIZE}; not together "
        "with size_pixels).",
        min=1, max=MAX_SIDE,
    )
    size_pixels: int | None = option(
        None, help="Total pixel count of the output instead of its long side, aspect ratio kept (e.g. 250000).",
        min=1, max=MAX_SIDE**2,
    )
    style_size: int | None = option(
        None, help="Long side the style images are resized to (default: the content's rule, size or size_pixels).",
        min=1, max=MAX_SIDE,
    )
    style_size_pixels: int | None = option(
        None, min=1, max=MAX_SIDE**2, help="Total pixel count the style images are resized to, instead of style_size."
    )
    preserve_color: PreserveColor = option(
        "none", help="Keep the content's colours: none; luminance (Gatys et al. 2016: transfer on luminance only, "
        "then the content's chrominance is put back); match (recolour each style image to the content's colour "
        "mean and covariance before its features are taken)."
    )
    init: str = option(
        "content", help="Starting image: content, noise (seeded Gaussian noise around mid-grey), or an image file "
        "(resized to the output's exact size)."
    )
    save_every: int = option(
        0, min=0, help="Also write the image every N steps next to the output, as OUT.00010.png and so on (0: never)."
    )
    device: str = option("auto", help="auto, cpu, cuda or cuda:N.")
    overwrite: bool = option(False, help=OVERWRITE_FILE_HELP)
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
