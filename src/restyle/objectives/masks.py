"""Depth masks γ(d): how strongly a loss acts at each pixel, as a function of normalised depth d (0 near .. 1 far).

The depth-aware style transfer of Jamgochian, Lange and Ghiron ("3D Neural Style Transfer", Stanford CS231n)
weights the content loss and the Gram style loss per pixel by such masks: soft sigmoid masks to put one style in
the background and another in the foreground, and a linear ramp onto 0.8..1.0 so that no region loses all of
its content. A mask is given as a short spec string, the same on the command line and in config files:

- ``all``: γ = 1 everywhere (an unmasked loss).
- ``near`` / ``far``: 1 − σ(20(d − 0.5)) and σ(20(d − 0.5)), the report's pair of complementary soft masks.
- ``sigmoid:C:K``: σ(K(d − C)); a negative K turns it round, so the report's 1 − σ(20(d − 0.8)) is
  ``sigmoid:0.8:-20``.
- ``linear:A:B``: A + (B − A)·d, i.e. A at the nearest point and B at the farthest; the report's content mask
  onto 0.8..1.0 that keeps the foreground whole is ``linear:1:0.8``.
- ``image:PATH``: a greyscale mask image (white = 1, black = 0), resized to the image; needs no depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from restyle.errors import ConfigError, InputError
from restyle.io.images import load_image

MaskKind = Literal["all", "sigmoid", "linear", "image"]

MASK_SPEC_HELP = (
    "all; near = 1-σ(20(d-0.5)); far = σ(20(d-0.5)); sigmoid:C:K = σ(K(d-C)) (the report's 1-σ(20(d-0.8)) is "
    "sigmoid:0.8:-20); linear:A:B = A at the nearest point to B at the farthest (the report's content mask is "
    "linear:1:0.8); image:PATH = a greyscale mask image. d is depth normalised to 0 (near) .. 1 (far)."
)

# A style mask whose mean weight is under this "selects nothing". The mean weight is the share of the image a mask
# selects (for a 0/1 mask, exactly the fraction of its pixels). 1e-3 of an image is less than one cell of the
# deepest style layers (VGG relu5_1 keeps 1/256 of the pixels: 0.7 of a cell at 512 × 341), too little for a Gram
# matrix or a feature match to mean anything. Counting weight rather than pixels also catches masks that are low
# everywhere: a --depth-range beyond every depth leaves the far mask at σ(−10) ≈ 4.5e-5 on every pixel, and as the
# Gram and NNFM losses divide by the mask's own sum, such a mask would spread the style over the whole photo at full
# strength (a mask that is exactly 0, as sigmoid:5:100 is in float32, returns the photo unchanged instead).
EMPTY_MASK_FRACTION = 1e-3

# the report's soft masks: complementary halves of the depth range with a steepness of 20
_NAMED = {"all": ("all", 0.0, 0.0), "near": ("sigmoid", 0.5, -20.0), "far": ("sigmoid", 0.5, 20.0)}


@dataclass(frozen=True)
class MaskSpec:
    """A parsed mask spec: ``sigmoid`` uses ``a`` = centre and ``b`` = steepness; ``linear`` ``a`` = γ at the
    nearest point and ``b`` at the farthest; ``image`` reads ``path``. ``text`` is the spec as the user wrote it."""

    text: str
    kind: MaskKind
    a: float = 0.0
    b: float = 0.0
    path: Path | None = None

    @property
    def needs_depth(self) -> bool:
        return self.kind in ("sigmoid", "linear")


def parse_mask(text: str) -> MaskSpec:
    """The :class:`MaskSpec` of ``text``; a ConfigError that shows the accepted forms otherwise."""
    spec = text.strip()
    if spec in _NAMED:
        kind, a, b = _NAMED[spec]
        return MaskSpec(spec, kind, a, b)
    head, _, rest = spec.partition(":")
    if head == "image" and rest:
        return MaskSpec(spec, "image", path=Path(rest))
    if head in ("sigmoid", "linear"):
        a, b = _two_numbers(spec, rest)
        if head == "linear" and min(a, b) < 0:
            raise ConfigError(f"mask {spec!r}: a linear mask's values must be >= 0 (a loss cannot be negative)")
        return MaskSpec(spec, head, a, b)
    raise ConfigError(f"unknown depth mask {text!r}; use one of: {MASK_SPEC_HELP}")


def _two_numbers(spec: str, rest: str) -> tuple[float, float]:
    parts = rest.split(":")
    try:
        a, b = (float(part) for part in parts)
    except ValueError:
        raise ConfigError(f"mask {spec!r} takes two numbers, as in sigmoid:0.5:20 or linear:1:0.8") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ConfigError(f"mask {spec!r}: its numbers must be finite")
    return a, b


def split_style_spec(argument: str) -> tuple[str, str | None]:
    """``"style.jpg@far"`` -> ``("style.jpg", "far")``; a path without a mask (or whose ``@`` is part of its
    name) -> ``(argument, None)``. The part after the last ``@`` counts as a mask only when it parses as one."""
    path, at, spec = argument.rpartition("@")
    if not at or not path:
        return argument, None
    try:
        parse_mask(spec)
    except ConfigError:
        if spec.partition(":")[0] in ("sigmoid", "linear", "image"):
            raise  # clearly meant as a mask: say what is wrong with it
        return argument, None
    return path, spec


def depth_mask(spec: MaskSpec, depth: torch.Tensor) -> torch.Tensor:
    """γ(d) ``[B,1,H,W]`` of normalised depth ``[B,1,H,W]`` for a depth spec (``all``, ``sigmoid``, ``linear``)."""
    if spec.kind == "all":
        return torch.ones_like(depth)
    if spec.kind == "sigmoid":
        return torch.sigmoid(spec.b * (depth - spec.a))
    if spec.kind == "linear":
        return spec.a + (spec.b - spec.a) * depth
    raise ValueError(f"mask {spec.text!r} is an image mask: load it with load_mask_image")


def load_mask_image(path: Path, size: tuple[int, int], device: torch.device | str = "cpu") -> torch.Tensor:
    """A mask image as ``[1,1,H,W]`` in 0..1 at ``size = (H, W)`` (the mean of its colour channels, bilinear)."""
    if not path.exists():
        raise InputError(f"{path}: no such file (mask image)")
    grey = load_image(path).mean(dim=0, keepdim=True)[None]  # [1,1,h,w]
    width, height = grey.shape[-1], grey.shape[-2]
    if abs(width / height - size[1] / size[0]) > 0.02 * size[1] / size[0]:
        raise InputError(f"{path}: mask is {width}×{height} but the image is {size[1]}×{size[0]}: their aspect "
                         "ratios differ")
    shrinking = height > size[0] or width > size[1]
    resized = F.interpolate(grey, size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return resized.clamp(0, 1).to(device)


def selected_fraction(mask: torch.Tensor) -> float:
    """The share of the image a mask ``[B,1,H,W]`` selects: its mean weight (for a 0/1 mask, its pixels' fraction)."""
    return float(mask.mean())


def selects_nothing(mask: torch.Tensor) -> bool:
    """Whether a mask selects less than :data:`EMPTY_MASK_FRACTION` of the image (see there for why)."""
    return selected_fraction(mask) < EMPTY_MASK_FRACTION
