"""What both kinds of ``restyle image`` run (style images, text) share: the result, the sidecar files, sizing and
the defaults that depend on other choices. Kept apart from ``image`` so that ``image_text`` needs no import of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from restyle.jobs.image.config import DEFAULT_SIZE, ImageConfig
from restyle.jobs.image.inputs import Sizing, sizing
from restyle.jobs.image.steps import DEFAULT_LEARNING_RATES
from restyle.objectives.networks import resolve_loss_defaults


@dataclass(frozen=True)
class ImageResult:
    image: torch.Tensor  # [3,H,W] sRGB 0..1, on the CPU
    output: Path
    config_path: Path
    metrics_path: Path
    config: ImageConfig  # fully resolved
    intermediates: tuple[Path, ...] = ()  # images written every ``save_every`` steps, in step order
    model: Path | None = None  # the trained U-Net of a text run, when ``save_model`` asked for it


def sidecar_paths(output: Path) -> tuple[Path, Path]:
    """``out.png`` -> (``out.config.toml``, ``out.metrics.jsonl``)."""
    return output.with_suffix(".config.toml"), output.with_suffix(".metrics.jsonl")


def content_sizing(config: ImageConfig) -> Sizing:
    """The content's sizing rule: ``size`` or ``size_pixels`` (a ConfigError when both), else the default size."""
    return sizing(config.size, config.size_pixels, names=("size", "size_pixels")) or Sizing(long_side=DEFAULT_SIZE)


def style_sizing(config: ImageConfig) -> Sizing:
    """The style images' sizing rule: ``style_size`` or ``style_size_pixels``, else the content's rule."""
    rule = sizing(config.style_size, config.style_size_pixels, names=("style_size", "style_size_pixels"))
    return rule or content_sizing(config)


def resolve_defaults(config: ImageConfig) -> ImageConfig:
    """Fill every default that depends on other choices (backbone, optimizer, sizing) with the value used."""
    style, weights = resolve_loss_defaults(config.style, config.weights)
    style_sizing(config)  # validates both sizing pairs
    lr = config.optim.lr if config.optim.lr is not None else DEFAULT_LEARNING_RATES[config.optim.optimizer]
    return dataclasses.replace(config, size=content_sizing(config).long_side, style=style, weights=weights,
                               optim=dataclasses.replace(config.optim, lr=lr))


def output_pixels(config: ImageConfig) -> int:
    """The most pixels the output can have under its sizing rule (a square for a long side)."""
    rule = content_sizing(config)
    return rule.pixels if rule.pixels is not None else rule.long_side**2
