"""``restyle image``: style transfer for photos (NNFM or Gram), the losses the mesh pipeline reuses.

Shapes: images ``[1,3,H,W]`` sRGB 0..1 throughout; H, W follow ``size`` (long side) with the aspect ratio kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from restyle.backbones.base import MIN_IMAGE_SIZE, Features
from restyle.configs import option
from restyle.errors import ConfigError
from restyle.io.images import load_image, resize_long_side, save_image
from restyle.losses.palette import palette_loss
from restyle.losses.tv import tv_loss
from restyle.palettes import resolve_palette
from restyle.params.pixels import PixelImage
from restyle.pipelines.config import LossWeights, OptimConfig, PaletteConfig, StyleConfig, WeightsConfig
from restyle.pipelines.loop import (
    MetricsLog,
    StepCallback,
    StepInfo,
    as_floats,
    learning_rate,
    palette_weight,
    refuse_overwriting_inputs,
    resolve_device,
    set_learning_rate,
    weighted_total,
    write_config,
)
from restyle.pipelines.networks import (
    Networks,
    build_networks,
    build_style_objective,
    resolve_loss_defaults,
    resolve_taps,
)
from restyle.pipelines.objectives import StyleObjective, content_objective


@dataclass
class ImageConfig:
    """Everything ``restyle image`` can be told; ``config.toml`` next to the output holds it fully resolved."""

    content: Path | None = option(None, help="The photo to stylise.")
    styles: list[Path] = option(factory=list, help="One or more style images (their features are pooled).")
    output: Path | None = option(None, help="Output image (.png, .jpg, .webp).")
    size: int = option(512, help="Long side of the output in pixels (aspect ratio kept).")
    style_size: int | None = option(None, help="Long side the style images are resized to (default: size).")
    device: str = option("auto", help="auto, cpu, cuda or cuda:N.")
    style: StyleConfig = option(factory=StyleConfig, help="Style loss.")
    weights: LossWeights = option(factory=LossWeights, help="Loss weights.")
    palette: PaletteConfig = option(factory=PaletteConfig, help="Colour palette loss.")
    optim: OptimConfig = option(factory=OptimConfig, help="Optimiser.")
    pretrained: WeightsConfig = option(factory=WeightsConfig, help="Pretrained weight files.")


IMAGE_PRESETS: dict[str, dict] = {
    # Gatys et al. 2016: Gram matrices of VGG relu1_1..relu5_1, content on VGG.
    "gatys": {"style": {"method": "gram", "backbone": "vgg16"}, "optim": {"lr": 0.02, "iters": 500}},
    # NNFM on VGG16 (ARF-style), the CLIP paper's VGG baseline weight.
    "nnfm-vgg": {"style": {"method": "nnfm", "backbone": "vgg16"}, "weights": {"style": 200.0, "content": 22.0}},
    # The CLIP paper's setting: NNFM on CLIP-RN50, VGG content, colour palette from the style image.
    "nnfm-clip": {
        "style": {"method": "nnfm", "backbone": "clip-rn50"},
        "weights": {"style": 1e4, "content": 22.0},
        "palette": {"source": "auto", "weight": 2000.0},
    },
}


@dataclass(frozen=True)
class ImageResult:
    image: torch.Tensor  # [3,H,W] sRGB 0..1, on the CPU
    output: Path
    config_path: Path
    metrics_path: Path
    config: ImageConfig  # fully resolved


def sidecar_paths(output: Path) -> tuple[Path, Path]:
    """``out.png`` -> (``out.config.toml``, ``out.metrics.jsonl``)."""
    return output.with_suffix(".config.toml"), output.with_suffix(".metrics.jsonl")


def resolve_defaults(config: ImageConfig) -> ImageConfig:
    """Fill every "backbone default" (None) with the value actually used."""
    style, weights = resolve_loss_defaults(config.style, config.weights)
    return dataclasses.replace(config, style=style, weights=weights)


def _check_inputs(config: ImageConfig) -> tuple[Path, list[Path], Path]:
    if config.content is None:
        raise ConfigError("no content image given")
    if not config.styles:
        raise ConfigError("no style image given (use -s STYLE)")
    if config.output is None:
        raise ConfigError("no output path given (use -o OUT)")
    refuse_overwriting_inputs([config.output, *sidecar_paths(config.output)], [config.content, *config.styles])
    return config.content, list(config.styles), config.output


def _load(path: Path, size: int, device: torch.device) -> torch.Tensor:
    image = resize_long_side(load_image(path), size)
    if min(image.shape[-2:]) < MIN_IMAGE_SIZE:
        height, width = image.shape[-2:]
        raise ConfigError(f"{path}: {height}x{width} at size {size} is below the {MIN_IMAGE_SIZE}-pixel minimum; "
                          "use a larger --size")
    return image.unsqueeze(0).to(device)


def run(config: ImageConfig, on_step: StepCallback | None = None) -> ImageResult:
    """Stylise ``config.content`` with ``config.styles``; writes the image, ``*.config.toml``, ``*.metrics.jsonl``.

    Every input is loaded and every network built before anything is written, so a bad input leaves no output.
    """
    content_path, style_paths, output = _check_inputs(config)
    config = resolve_defaults(config)
    device = resolve_device(config.device)
    torch.manual_seed(config.optim.seed)

    content = _load(content_path, config.size, device)
    styles = [_load(p, config.style_size or config.size, device) for p in style_paths]
    nets = build_networks(config.style, config.pretrained, device)
    config = dataclasses.replace(config, style=resolve_taps(config.style, nets))
    palette = resolve_palette(config.palette.source, [s[0] for s in styles], k=config.palette.colors,
                              seed=config.optim.seed)

    style_objective = build_style_objective(config.style, nets, styles, seed=config.optim.seed)
    with torch.no_grad():
        content_targets = nets.content(content, config.style.content_taps)

    image = PixelImage(content).to(device)
    optimizer = torch.optim.Adam(image.parameters(), lr=config.optim.lr)
    metrics = MetricsLog()
    for step in range(config.optim.iters):
        lr = learning_rate(config.optim, step)
        set_learning_rate(optimizer, lr)
        optimizer.zero_grad(set_to_none=True)
        current = image()
        terms = _loss_terms(config, nets, style_objective, content_targets, palette, current, step)
        total = weighted_total(terms)
        total.backward()
        optimizer.step()
        image.project()
        info = StepInfo(step + 1, config.optim.iters, lr, as_floats(terms, total))
        metrics.record(info, config.optim.log_every)
        if on_step is not None:
            on_step(info)

    result_image = image().detach()[0].cpu()
    config_path, metrics_path = sidecar_paths(output)
    save_image(result_image, output)
    write_config(config, config_path)
    metrics.write(metrics_path)
    return ImageResult(result_image, output, config_path, metrics_path, config)


def _loss_terms(
    config: ImageConfig,
    nets: Networks,
    style_objective: StyleObjective,
    content_targets: Features,
    palette: torch.Tensor | None,
    current: torch.Tensor,
    step: int,
) -> dict[str, torch.Tensor]:
    weights = config.weights
    terms = {"style": weights.style * style_objective(nets.style(current, config.style.style_taps))}
    if weights.content:
        features = nets.content(current, config.style.content_taps)
        terms["content"] = weights.content * content_objective(features, content_targets)
    if weights.tv:
        terms["tv"] = weights.tv * tv_loss(current)
    if palette is not None:
        terms["palette"] = palette_weight(config.palette, config.optim, step) * palette_loss(current, palette)
    return terms
