"""``restyle image``: style transfer for photos (NNFM or Gram), the losses the mesh pipeline reuses.

Shapes: images ``[1,3,H,W]`` sRGB 0..1 throughout; H, W follow ``size`` (long side) or ``size_pixels`` (pixel
count) with the aspect ratio kept. Sizing, colour preparation and the starting image are in ``image_inputs``,
the optimiser step in ``image_steps``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from restyle.backbones.base import Features
from restyle.colour.palettes import resolve_palette
from restyle.errors import ConfigError, InputError
from restyle.io.images import SAVE_FORMATS, save_image
from restyle.jobs.image.config import ImageConfig
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
    content_sizing,
    output_pixels,
    resolve_defaults,
    sidecar_paths,
    style_sizing,
)
from restyle.jobs.image.inputs import RunImages, check_init, init_path, load_run_images
from restyle.jobs.image.steps import (
    PixelOptimizer,
    intermediate_path,
    intermediate_paths,
)
from restyle.jobs.image.text import run_text
from restyle.losses.palette import palette_loss
from restyle.losses.tv import tv_loss
from restyle.objectives.masked_styles import MaskedStyles
from restyle.objectives.networks import Networks, build_networks, style_and_content_features
from restyle.objectives.registry import STYLE_OBJECTIVES, lookup
from restyle.objectives.style import StyleObjective, content_objective
from restyle.params.pixels import PixelImage
from restyle.run.files import locked_output, palette_file, refuse_existing_file, refuse_overlap
from restyle.run.loop import (
    MetricsLog,
    PhaseCallback,
    StepCallback,
    StepInfo,
    as_floats,
    check_finite,
    check_weights,
    learning_rate,
    palette_weight,
    report,
    resolve_device,
    set_learning_rate,
    write_config,
)
from restyle.run.preflight import check_image_output, check_memory, image_bytes
from restyle.sections import StyleConfig

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


def _check_inputs(config: ImageConfig, config_file: Path | None = None) -> tuple[Path, list[Path], Path]:
    if config.content is None:
        raise ConfigError("no content image given")
    if not config.styles:
        raise ConfigError("no style image given (use -s STYLE, or --text PROMPT)")
    if config.output is None:
        raise ConfigError("no output path given (use -o OUT)")
    check_image_output(config.output, tuple(SAVE_FORMATS))
    check_depth_options(config)
    _require_existing([config.content, *config.styles, *(path for _, path in depth_input_files(config))])
    check_init(config.init)
    check_weights("style_blend", config.style_blend, len(config.styles), "style images")
    _check_tap_weights(config.style)
    if config.save_every < 0:
        raise ConfigError(f"save_every must be 0 (never) or a number of steps; got {config.save_every}")
    outputs = [config.output, *sidecar_paths(config.output),
               *intermediate_paths(config.output, config.save_every, config.optim.iters)]
    refuse_overlap(outputs, _inputs(config, config_file))
    refuse_existing_file(config.output, overwrite=config.overwrite)
    return config.content, list(config.styles), config.output


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
        if config.styles:
            raise ConfigError("--text with -s is not available yet: give either a text prompt or style images")
        if wants_depth(config):
            raise ConfigError("the depth options are not available with --text (CLIPstyler has no depth term)")
        return run_text(config, on_step, config_file=config_file, on_phase=on_phase)
    _, _, output = _check_inputs(config, config_file)
    with locked_output(output.parent, f".{output.name}.lock"):
        return _run(config, on_step, on_phase)


def _run(config: ImageConfig, on_step: StepCallback | None, on_phase: PhaseCallback | None = None) -> ImageResult:
    content_path, style_paths, output = config.content, list(config.styles), config.output
    # a permission of this invocation, not a setting of the run: the config.toml written must not carry it
    config = dataclasses.replace(resolve_defaults(config), overwrite=False)
    device = resolve_device(config.device)
    check_memory(image_bytes(output_pixels(config)), str(device), "this image run")
    torch.manual_seed(config.optim.seed)

    report(on_phase, f"loading {content_path.name} and the style image{'s' * (len(style_paths) != 1)}")
    images = load_run_images(
        content_path, style_paths, content_size=content_sizing(config), style_size=style_sizing(config),
        preserve_color=config.preserve_color, init=config.init, seed=config.optim.seed, device=device,
    )
    # masks first: a style mask that selects nothing is refused before the networks load
    guide = prepare_depth(config, images.target, on_phase) if wants_depth(config) else None
    report(on_phase, "loading networks")
    nets = build_networks(config.style, config.pretrained, device)
    _check_tap_weights(config.style)
    palette = resolve_palette(config.palette.source, [s[0] for s in images.styles], k=config.palette.colors,
                              seed=config.optim.seed)

    style_objective = _style_loss(config, nets, images.styles, guide)
    with torch.no_grad():
        content_targets = nets.content(images.target, config.style.content_taps)

    image = run_pixels(images.start, images.target, guide).to(device)
    optimizer = PixelOptimizer(config.optim.optimizer, image, config.optim.lr)
    metrics = MetricsLog()
    report(on_phase, f"optimising ({config.optim.iters} steps)")
    metrics.open(sidecar_paths(output)[1])  # appended as the run goes, once every input has loaded
    intermediates: list[Path] = []
    for step in range(config.optim.iters):
        lr = learning_rate(config.optim, step)
        set_learning_rate(optimizer.optimizer, lr)
        loss_terms = functools.partial(_loss_terms, config, nets, style_objective, content_targets, palette,
                                       guide, step=step)
        evaluation = optimizer.step(loss_terms)
        info = StepInfo(step + 1, config.optim.iters, lr, as_floats(evaluation.terms, evaluation.total))
        check_finite(info.losses, info.step)
        metrics.record(info, config.optim.log_every)
        if config.save_every and info.step % config.save_every == 0:
            intermediates.append(_save_intermediate(images, image, output, info.step))
        if on_step is not None:
            on_step(info)

    report(on_phase, f"writing {output.name}")
    result_image = images.finish(image())
    config_path, metrics_path = sidecar_paths(output)
    save_image(result_image, output)
    write_config(config, config_path)
    metrics.write(metrics_path)
    return ImageResult(result_image, output, config_path, metrics_path, config, tuple(intermediates))


def _style_loss(
    config: ImageConfig, nets: Networks, styles: Sequence[torch.Tensor], guide: DepthGuide | None
) -> Callable[[Features], torch.Tensor]:
    """The style loss of the current image's features: one objective, or with depth masks one per mask."""
    if guide is None or not guide.masks_style:
        return build_image_style_objective(config, nets, styles)
    masked = MaskedStyles.build(style_groups(config), styles,
                                lambda group: build_image_style_objective(config, nets, group))
    return functools.partial(masked, masks=guide.style_masks)


def _save_intermediate(images: RunImages, image: PixelImage, output: Path, step: int) -> Path:
    path = intermediate_path(output, step)
    save_image(images.finish(image()), path)
    return path


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
        tap_weights = config.style.content_tap_weights
        terms["content"] = weights.content * content_objective(
            content_features, content_targets, tap_weights=tap_weights, reduction=config.style.content_reduction,
            gamma=None if guide is None else guide.content_gamma)
    if weights.tv:
        terms["tv"] = weights.tv * tv_loss(current)
    if guide is not None and guide.estimator is not None:
        terms["depth"] = config.depth.loss_weight * depth_loss_term(guide, current)
    if palette is not None:
        terms["palette"] = palette_weight(config.palette, config.optim, step) * palette_loss(current, palette)
    return terms
