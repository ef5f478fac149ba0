"""``restyle image``: style transfer for photos (NNFM or Gram) by optimising the pixels; with ``--text``, the
CLIPstyler run of ``text``.

This module sets the order: inputs checked, the output locked, images (``inputs``) and depth (``depth``) loaded,
networks built, then the one loop (``steps``) and the writes (``files``). Shapes: images ``[1,3,H,W]`` sRGB 0..1
throughout; H, W follow ``size`` (long side) or ``size_pixels`` (pixel count) with the aspect ratio kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from restyle.backbones.base import Features
from restyle.colour.palettes import resolve_palette
from restyle.errors import ConfigError, InputError
from restyle.io.images import save_image
from restyle.jobs.image.config import IMAGE_PRESETS, TEXT_PRESET, ImageConfig
from restyle.jobs.image.depth import (
    DepthGuide,
    check_depth_options,
    depth_input_files,
    depth_loss_term,
    prepare_depth,
    run_pixels,
    style_groups,
    wants_depth,
)
from restyle.jobs.image.files import (
    ImageResult,
    check_output_format,
    claim_outputs,
    content_sizing,
    open_metrics,
    output_lock,
    prepare_run,
    require_content_and_output,
    resolve_defaults,
    style_sizing,
    write_result,
)
from restyle.jobs.image.inputs import RunImages, check_init, init_path, load_run_images
from restyle.jobs.image.steps import PixelOptimizer, ScheduledStep, optimise_image
from restyle.jobs.image.text import run_text
from restyle.losses.palette import palette_loss
from restyle.losses.tv import tv_loss
from restyle.objectives.masked_styles import MaskedStyles
from restyle.objectives.networks import Networks, build_networks, style_and_content_features
from restyle.objectives.registry import STYLE_OBJECTIVES, lookup
from restyle.objectives.style import StyleObjective, content_objective
from restyle.run.files import palette_file
from restyle.run.loop import PhaseCallback, StepCallback, check_weights, palette_weight, report
from restyle.run.precision import LossScaler, resolve_precision
from restyle.sections import StyleConfig

# IMAGE_PRESETS, TEXT_PRESET and resolve_defaults are the job's door for the API and the CLI
__all__ = ["IMAGE_PRESETS", "TEXT_PRESET", "ImageConfig", "ImageResult", "build_image_style_objective",
           "resolve_defaults", "run"]

StepLossTerms = Callable[..., dict[str, torch.Tensor]]  # (current [1,3,H,W], step) -> weighted loss terms


def _check_tap_weights(style: StyleConfig) -> None:
    """Per-layer weights must match their layers; unset layers are checked once the backbone names them."""
    if style.style_taps is not None:
        check_weights("style.style_tap_weights", style.style_tap_weights, len(style.style_taps), "style layers")
    if style.content_taps is not None:
        check_weights("style.content_tap_weights", style.content_tap_weights, len(style.content_taps),
                      "content layers")


def _require_existing(paths: Sequence[Path]) -> None:
    """A missing input file is reported before anything else (backbone names, weights) is looked at."""
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file")


def _inputs(config: ImageConfig, config_file: Path | None) -> list[tuple[str, Path]]:
    """Every file the run reads, with its role for messages."""
    inputs = [("content image", config.content), *(("style image", p) for p in config.styles)]
    optional = [("init image", init_path(config.init)), ("palette image", palette_file(config.palette.source)),
                ("config file", config_file)]
    return inputs + [(role, path) for role, path in optional if path is not None] + depth_input_files(config)


def _check_inputs(config: ImageConfig, config_file: Path | None = None) -> None:
    require_content_and_output(config, styles=True)
    check_output_format(config)
    check_depth_options(config)
    _require_existing([config.content, *config.styles, *(path for _, path in depth_input_files(config))])
    check_init(config.init)
    check_weights("style_blend", config.style_blend, len(config.styles), "style images")
    _check_tap_weights(config.style)
    if config.save_every < 0:
        raise ConfigError(f"save_every must be 0 (never) or a number of steps; got {config.save_every}")
    claim_outputs(config, _inputs(config, config_file))


def build_image_style_objective(
    config: ImageConfig, nets: Networks, styles: Sequence[torch.Tensor]
) -> StyleObjective:
    """The style loss with the style images' features precomputed: pooled, or blended with ``style_blend``."""
    style, seed = config.style, config.optim.seed
    factory = lookup(STYLE_OBJECTIVES, style.method, "style method")
    if config.style_blend is None:
        return factory.from_styles(
            nets.style, styles, style.style_taps, chunk_size=style.nnfm_chunk, smoothing=style.smoothing,
            max_style_vectors=style.max_style_vectors, seed=seed, tap_weights=style.style_tap_weights,
            relative=style.gram_norm == "relative", reduction=style.style_reduction,
        )
    return factory.from_blend(
        nets.style, styles, config.style_blend, style.style_taps, chunk_size=style.nnfm_chunk,
        smoothing=style.smoothing, max_style_vectors=style.max_style_vectors, seed=seed,
        tap_weights=style.style_tap_weights, relative=style.gram_norm == "relative",
        reduction=style.style_reduction,
    )


def run(
    config: ImageConfig,
    on_step: StepCallback | None = None,
    *,
    config_file: Path | None = None,
    on_phase: PhaseCallback | None = None,
) -> ImageResult:
    """Stylise ``config.content`` with ``config.styles``; writes the image, ``*.config.toml``, ``*.metrics.jsonl``.

    Every input is loaded and every network built before anything is written, so a bad input leaves no output.
    No input (``config_file`` included) is ever written over, an existing output only with ``config.overwrite``,
    and a lock file beside the output keeps a second run of the same output out.
    """
    if config.text is not None:
        _refuse_text_with_styles_or_depth(config)
        return run_text(config, on_step, config_file=config_file, on_phase=on_phase)
    _check_inputs(config, config_file)
    with output_lock(config.output):
        return _run(config, on_step, on_phase)


def _refuse_text_with_styles_or_depth(config: ImageConfig) -> None:
    if config.styles:
        raise ConfigError("--text with -s is not available yet: give either a text prompt or style images")
    if wants_depth(config):
        raise ConfigError("the depth options are not available with --text (CLIPstyler has no depth term)")


def _run(config: ImageConfig, on_step: StepCallback | None, on_phase: PhaseCallback | None = None) -> ImageResult:
    config, device = prepare_run(config, "this image run")
    images = _load_images(config, device, on_phase)
    # masks first: a style mask that selects nothing is refused before the networks load
    guide = prepare_depth(config, images.target, on_phase) if wants_depth(config) else None
    loss_terms = _objective(config, images, guide, device, on_phase)
    image = run_pixels(images.start, images.target, guide).to(device)
    optimizer = PixelOptimizer(config.optim.optimizer, image, config.optim.lr,
                               LossScaler(resolve_precision(config.optim.precision, device)))
    step = ScheduledStep(config.optim, optimizer.optimizer,
                         lambda n: optimizer.step(functools.partial(loss_terms, step=n)))

    def final() -> torch.Tensor:
        return images.finish(image())

    metrics = open_metrics(config.output, on_phase, f"optimising ({config.optim.iters} steps)")
    intermediates = optimise_image(step, config, metrics, lambda path: save_image(final(), path), on_step,
                                   on_phase)
    return write_result(config, final, metrics, intermediates, on_phase)


def _load_images(config: ImageConfig, device: torch.device, on_phase: PhaseCallback | None) -> RunImages:
    styles = list(config.styles)
    report(on_phase, f"loading {config.content.name} and the style image{'s' * (len(styles) != 1)}")
    return load_run_images(
        config.content, styles, content_size=content_sizing(config), style_size=style_sizing(config),
        preserve_color=config.preserve_color, init=config.init, seed=config.optim.seed, device=device,
    )


def _objective(
    config: ImageConfig, images: RunImages, guide: DepthGuide | None, device: torch.device,
    on_phase: PhaseCallback | None,
) -> StepLossTerms:
    """The networks, the palette and the fixed targets, bound into the loss terms of a step's image."""
    precision = resolve_precision(config.optim.precision, device)
    report(on_phase, f"loading networks ({precision.describe()})")
    nets = build_networks(config.style, config.pretrained, device, precision=precision)
    _check_tap_weights(config.style)
    palette = resolve_palette(config.palette.source, [s[0] for s in images.styles], k=config.palette.colors,
                              seed=config.optim.seed)
    style_objective = _style_loss(config, nets, images.styles, guide)
    with torch.no_grad():
        content_targets = nets.content(images.target, config.style.content_taps)
    return functools.partial(_loss_terms, config, nets, style_objective, content_targets, palette, guide)


def _style_loss(
    config: ImageConfig, nets: Networks, styles: Sequence[torch.Tensor], guide: DepthGuide | None
) -> Callable[[Features], torch.Tensor]:
    """The style loss of the current image's features: one objective, or with depth masks one per mask."""
    if guide is None or not guide.masks_style:
        return build_image_style_objective(config, nets, styles)
    masked = MaskedStyles.build(style_groups(config), styles,
                                lambda group: build_image_style_objective(config, nets, group))
    return functools.partial(masked, masks=guide.style_masks)


def _loss_terms(
    config: ImageConfig,
    nets: Networks,
    style_objective: Callable[[Features], torch.Tensor],
    content_targets: Features,
    palette: torch.Tensor | None,
    guide: DepthGuide | None,
    current: torch.Tensor,
    step: int,
) -> dict[str, torch.Tensor]:
    weights = config.weights
    content_taps = config.style.content_taps if weights.content else ()
    style_features, content_features = style_and_content_features(nets, current, config.style.style_taps,
                                                                   content_taps)
    terms = {"style": weights.style * style_objective(style_features)}
    if weights.content:
        terms["content"] = weights.content * _content_loss(config, content_features, content_targets, guide)
    if weights.tv:
        terms["tv"] = weights.tv * tv_loss(current)
    if guide is not None and guide.estimator is not None:
        terms["depth"] = config.depth.loss_weight * depth_loss_term(guide, current)
    if palette is not None:
        terms["palette"] = palette_weight(config.palette, config.optim, step) * palette_loss(current, palette)
    return terms


def _content_loss(
    config: ImageConfig, features: Features, targets: Features, guide: DepthGuide | None
) -> torch.Tensor:
    """The content loss, unweighted; with a depth content mask, masked by it."""
    return content_objective(features, targets, tap_weights=config.style.content_tap_weights,
                             reduction=config.style.content_reduction,
                             gamma=None if guide is None else guide.content_gamma)
