"""The images of a ``restyle image`` run: their sizes, their colours (``preserve_color``) and the starting image.

Shapes: every tensor here is ``[1,3,H,W]`` sRGB 0..1 on the run's device; H, W of the content follow its sizing
rule, and the starting image always has the content's exact H x W.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from restyle.backbones.base import MIN_IMAGE_SIZE
from restyle.colour.transfer import (
    luminance_as_rgb,
    match_colour_statistics,
    match_luminance_statistics,
    recombine_luminance,
)
from restyle.errors import ConfigError, InputError
from restyle.io.images import load_image, resize_long_side
from restyle.objectives.registry import lookup

INIT_KEYWORDS = ("content", "noise")
# Noise init: Gaussian around mid-grey, narrow enough that almost nothing is clipped at 0 or 1.
_NOISE_MEAN, _NOISE_STD = 0.5, 0.15


@dataclass(frozen=True)
class Sizing:
    """How an image is resized: to a long side in pixels, or to a total pixel count (exactly one is set)."""

    long_side: int | None = None
    pixels: int | None = None

    def describe(self) -> str:
        return f"size {self.long_side}" if self.long_side is not None else f"{self.pixels} pixels"

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        """``[3,H,W]`` resized by this rule, aspect ratio kept."""
        if self.long_side is not None:
            return resize_long_side(image, self.long_side)
        height, width = image.shape[-2:]
        scale = math.sqrt(self.pixels / (height * width))
        return resize_long_side(image, max(1, round(max(height, width) * scale)))


def sizing(long_side: int | None, pixels: int | None, *, names: tuple[str, str]) -> Sizing | None:
    """The sizing rule given by a (long side, pixel count) pair of options; None when neither is set."""
    if long_side is not None and pixels is not None:
        raise ConfigError(f"give either {names[0]} (long side) or {names[1]} (pixel count), not both; "
                          f"got {long_side} and {pixels}")
    for name, value in zip(names, (long_side, pixels), strict=True):
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be a positive number of pixels; got {value}")
    if long_side is None and pixels is None:
        return None
    return Sizing(long_side, pixels)


def load_sized(path: Path, rule: Sizing, device: torch.device, *, option: str) -> torch.Tensor:
    """``path`` as ``[1,3,H,W]`` resized by ``rule``; too small for the backbones is a ConfigError that names
    ``option``, the flag that sets the rule."""
    image = rule.apply(load_image(path))
    if min(image.shape[-2:]) < MIN_IMAGE_SIZE:
        height, width = image.shape[-2:]
        raise ConfigError(f"{path}: {height}x{width} at {rule.describe()} is below the {MIN_IMAGE_SIZE}-pixel "
                          f"minimum; use a larger {option}")
    return image.unsqueeze(0).to(device)


def init_path(init: str) -> Path | None:
    """The image file an ``init`` option names, or None for the keywords."""
    return None if init in INIT_KEYWORDS else Path(init)


def check_init(init: str) -> None:
    """An init file that does not exist is an InputError before any work (the keywords are always fine)."""
    path = init_path(init)
    if path is not None and not path.is_file():
        raise InputError(f"{path}: no such init image file (--init takes content, noise or an image file)")


def noise_like(image: torch.Tensor, seed: int) -> torch.Tensor:
    """Seeded Gaussian noise around mid-grey, ``image``'s shape; drawn on the CPU so every device agrees."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(image.shape, generator=generator) * _NOISE_STD + _NOISE_MEAN
    return noise.clamp(0.0, 1.0).to(image.device)


def load_exact_size(path: Path, like: torch.Tensor) -> torch.Tensor:
    """``path`` resized to ``like``'s exact H x W (aspect not kept: it must line up with the content)."""
    image = load_image(path).unsqueeze(0)
    resized = F.interpolate(image, size=like.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
    return resized.clamp(0.0, 1.0).to(like.device)


def start_image(init: str, content: torch.Tensor, seed: int) -> torch.Tensor:
    """The image the optimisation starts from: the content, noise, or an image file."""
    if init == "content":
        return content.clone()
    if init == "noise":
        return noise_like(content, seed)
    return load_exact_size(Path(init), content)


# --------------------------------------------------------------------------------------------- colour


def _same(image: torch.Tensor) -> torch.Tensor:
    return image


def _unchanged_style(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    return style


def _style_in_content_colours(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    return match_colour_statistics(style, content).clamp(0.0, 1.0)


def _style_as_content_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    return match_luminance_statistics(style, content).clamp(0.0, 1.0)


def _as_is(pixels: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    return pixels.clamp(0.0, 1.0)


def _in_content_colours(pixels: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    return recombine_luminance(pixels, content).clamp(0.0, 1.0)


@dataclass(frozen=True)
class ColourMode:
    """What ``preserve_color`` does to the images before the run and to the result after it."""

    working: Callable[[torch.Tensor], torch.Tensor]  # content / start image -> what is optimised
    style: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (style, content) -> the style as used
    finish: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (optimised pixels, content) -> output


COLOUR_MODES: dict[str, ColourMode] = {
    "none": ColourMode(_same, _unchanged_style, _as_is),
    # Gatys et al. 2016, luminance-only transfer: optimise grey images, put the content's chroma back at the end.
    "luminance": ColourMode(luminance_as_rgb, _style_as_content_luminance, _in_content_colours),
    # Gatys et al. 2016, colour histogram matching: recolour each style image like the content first.
    "match": ColourMode(_same, _style_in_content_colours, _as_is),
}


@dataclass(frozen=True)
class RunImages:
    """The images a run works with, each ``[1,3,H,W]`` on the run's device."""

    content: torch.Tensor  # as loaded and sized; its colours are the ones ``preserve_color`` keeps
    target: torch.Tensor  # what the content loss compares with (the content's luminance in luminance mode)
    styles: list[torch.Tensor]  # each with its own size, colours prepared
    start: torch.Tensor  # the optimisation's starting image, content H x W
    mode: ColourMode

    def finish(self, pixels: torch.Tensor) -> torch.Tensor:
        """Optimised pixels ``[1,3,H,W]`` as the output image ``[3,H,W]`` on the CPU, in 0..1."""
        return self.mode.finish(pixels.detach(), self.content)[0].cpu()


def load_run_images(
    content_path: Path,
    style_paths: list[Path],
    *,
    content_size: Sizing,
    style_size: Sizing,
    preserve_color: str,
    init: str,
    seed: int,
    device: torch.device,
) -> RunImages:
    """Load, size and colour-prepare every image of a run (before any network is built)."""
    mode = lookup(COLOUR_MODES, preserve_color, "preserve_color")
    content = load_sized(content_path, content_size, device, option="--size")
    styles = [mode.style(load_sized(path, style_size, device, option="--style-size"), content)
              for path in style_paths]
    start = mode.working(start_image(init, content, seed))
    return RunImages(content, mode.working(content), styles, start, mode)


