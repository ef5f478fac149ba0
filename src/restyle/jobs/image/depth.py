"""``restyle image`` with depth (Jamgochian, Lange, Ghiron, "3D Neural Style Transfer", CS231n): the content's depth
from a file or a monocular network, the masks made of it for the content and style losses, and the depth loss.

Shapes: the content ``[1,3,H,W]``; depth, masks and the network's estimate ``[1,1,H,W]`` at the content's size
(the losses resize masks to each layer's grid).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from restyle.backbones.depth import DepthEstimator, load_depth_estimator, normalised_depth
from restyle.errors import ConfigError, RestyleWarning
from restyle.io.depth import load_depth
from restyle.jobs.image.config import ImageConfig
from restyle.losses.depth import depth_loss
from restyle.objectives.depth_config import ImageDepthConfig, check_near_far
from restyle.objectives.masked_styles import MaskGroup, mask_groups, style_coverage
from restyle.objectives.masks import (
    EMPTY_MASK_FRACTION,
    MaskSpec,
    depth_mask,
    load_mask_image,
    parse_mask,
    selected_fraction,
    selects_nothing,
)
from restyle.params.pixels import PixelImage
from restyle.run.loop import PhaseCallback, report


@dataclass(frozen=True)
class DepthGuide:
    """What depth adds to an image run, fixed for the whole run."""

    style_masks: tuple[torch.Tensor | None, ...]  # one per mask group; None where a group is unmasked
    content_gamma: torch.Tensor | None  # γ_c, None: the plain content loss
    estimator: DepthEstimator | None  # φ, only with the depth loss
    content_estimate: torch.Tensor | None  # φ(content), the depth loss's target
    coverage: torch.Tensor | None = None  # c, how far each pixel may move from the photo; None: all the way

    @property
    def masks_style(self) -> bool:
        return any(mask is not None for mask in self.style_masks)


def style_groups(config: ImageConfig) -> tuple[MaskGroup, ...]:
    return mask_groups(len(config.styles), config.depth.style_mask, config.depth.style_masks)


def _all_specs(config: ImageConfig) -> list[MaskSpec]:
    return [group.spec for group in style_groups(config)] + [parse_mask(config.depth.content_mask)]


def depth_input_files(config: ImageConfig) -> list[tuple[str, Path]]:
    """The files depth makes the run read (the depth map, mask images), with their roles for messages."""
    files = [("depth map", config.depth.file)] if config.depth.file is not None else []
    return files + [("mask image", spec.path) for spec in _all_specs(config) if spec.kind == "image"]


def check_depth_options(config: ImageConfig) -> None:
    """Conflicting or incomplete depth options, reported before anything is loaded."""
    depth = config.depth
    check_near_far(depth.near_far)
    if depth.file is not None and depth.estimate:
        raise ConfigError("give either --depth FILE or --estimate-depth, not both")
    if any(spec.needs_depth for spec in _all_specs(config)) and depth.file is None and not depth.estimate:
        raise ConfigError("a depth mask needs the content's depth: give --depth FILE or --estimate-depth")
    if depth.style_masks is not None and config.style_blend is not None:
        raise ConfigError("style_blend and per-style depth masks do not combine: each mask has its own style loss")


def wants_depth(config: ImageConfig) -> bool:
    """Whether the run uses depth at all (otherwise nothing here is loaded)."""
    depth = config.depth
    masked = any(spec.kind != "all" for spec in _all_specs(config))
    return masked or depth.loss_weight > 0 or depth.file is not None or depth.estimate


def prepare_depth(
    config: ImageConfig, content: torch.Tensor, on_phase: PhaseCallback | None = None
) -> DepthGuide:
    """Load or estimate the content's depth and build the masks; the depth network is kept for the loss."""
    depth_config, size = config.depth, tuple(content.shape[-2:])
    estimator, estimate = None, None  # the network, and its one pass over the content (masks and loss share it)
    if depth_config.estimate or depth_config.loss_weight > 0:
        report(on_phase, f"loading the depth network {depth_config.model}")
        estimator = load_depth_estimator(depth_config.model, config.pretrained.weights_dir,
                                         config.pretrained.download, depth_config.model_size).to(content.device)
        with torch.no_grad():
            estimate = estimator(content)
    depth, valid = _content_depth(depth_config, content, estimate)
    content_estimate = estimate if depth_config.loss_weight > 0 else None
    groups = style_groups(config)
    style_masks = tuple(_gamma(group.spec, depth, valid, size, content.device) for group in groups)
    check_masks_select_something(groups, style_masks, depth, allow_empty=depth_config.allow_empty_mask)
    content_spec = parse_mask(depth_config.content_mask)
    content_gamma = _gamma(content_spec, depth, None, size, content.device)  # holes keep their full content
    coverage = style_coverage(style_masks) if depth_config.keep_unmasked else None
    return DepthGuide(style_masks, content_gamma, estimator if content_estimate is not None else None,
                      content_estimate, coverage)


class CoveredPixels(PixelImage):
    """Pixels θ that reach the output only as far as the style masks cover them: ``photo + c ⊙ (θ − photo)``.

    Why not a loss: the masked style losses alone let the style bleed over a mask's edge, as the receptive fields
    of deep layers (hundreds of pixels) span it, and Adam turns even their faint gradient on the unselected side
    into full-size steps. A pixel-space anchor term works too but needs a weight tuned to each style loss's
    scale; blending by the coverage needs none, and a pixel of coverage c changes by at most c."""

    def __init__(self, init: torch.Tensor, photo: torch.Tensor, coverage: torch.Tensor) -> None:
        super().__init__(init)
        self.register_buffer("photo", photo.detach().clone())
        self.register_buffer("coverage", coverage.detach().clone())

    def forward(self) -> torch.Tensor:
        return self.photo + self.coverage * (self.pixels - self.photo)


def run_pixels(start: torch.Tensor, photo: torch.Tensor, guide: DepthGuide | None) -> PixelImage:
    """What an image run optimises: plain pixels, or with partial style masks :class:`CoveredPixels`."""
    if guide is None or guide.coverage is None:
        return PixelImage(start)
    return CoveredPixels(start, photo, guide.coverage)


def check_masks_select_something(
    groups: Sequence[MaskGroup], masks: Sequence[torch.Tensor | None], depth: torch.Tensor | None, *,
    allow_empty: bool,
) -> None:
    """A style mask that selects nothing is refused (a one-line ConfigError), or with ``allow_empty`` a warning:
    its style would land nowhere, or, as the losses normalise by the mask, spread faintly everywhere."""
    for group, mask in zip(groups, masks, strict=True):
        if mask is None or not selects_nothing(mask):
            continue
        problem = _empty_mask_problem(group.spec, selected_fraction(mask), depth)
        if not allow_empty:
            raise ConfigError(f"{problem}; check the mask{_and_range(group.spec)}, or give --allow-empty-mask to "
                              "run anyway")
        warnings.warn(f"{problem}; running anyway (--allow-empty-mask)", RestyleWarning, stacklevel=2)


def _empty_mask_problem(spec: MaskSpec, fraction: float, depth: torch.Tensor | None) -> str:
    said = f"style mask {spec.text!r} selects {100 * fraction:.2g}% of the photo (under {100 * EMPTY_MASK_FRACTION:g}%)"
    if spec.needs_depth and depth is not None:  # often a depth range that misses the photo's depths
        said += f": the photo's depth, normalised, spans {float(depth.min()):.2f}..{float(depth.max()):.2f}"
    return said


def _and_range(spec: MaskSpec) -> str:
    return " and --depth-range" if spec.needs_depth else ""


def _content_depth(
    config: ImageDepthConfig, content: torch.Tensor, estimate: torch.Tensor | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Normalised depth ``[1,1,H,W]`` (0 near) and, with ``holes = mask``, where it is valid; Nones without depth."""
    if config.file is not None:
        loaded = load_depth(config.file, tuple(content.shape[-2:]), scale=config.scale, disparity=config.disparity,
                            depth_range=config.near_far, holes="mask" if config.holes == "mask" else "fill")
        depth, valid = loaded.depth.to(content.device), loaded.valid.to(content.device)
        if config.holes == "far":
            return torch.where(valid, depth, torch.ones_like(depth)), None
        return depth, valid if config.holes == "mask" else None
    if config.estimate and estimate is not None:
        return normalised_depth(estimate), None
    return None, None


def _gamma(
    spec: MaskSpec, depth: torch.Tensor | None, valid: torch.Tensor | None, size: tuple[int, int],
    device: torch.device,
) -> torch.Tensor | None:
    if spec.kind == "all":
        return None
    if spec.kind == "image":
        return load_mask_image(spec.path, size, device)
    gamma = depth_mask(spec, depth)
    return gamma if valid is None else gamma * valid.to(gamma.dtype)


def depth_loss_term(guide: DepthGuide, current: torch.Tensor) -> torch.Tensor:
    """The report's depth loss of the current image against the content, through the depth network."""
    return depth_loss(guide.estimator(current), guide.content_estimate)

