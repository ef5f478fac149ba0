"""What both kinds of ``restyle image`` run (style images in ``run``, text in ``text``) share: the result, the files
a run reads and writes (checked first, locked, written last), sizing, and the defaults that depend on other
choices. Kept apart from ``run`` so that ``text`` needs no import of it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import torch

from restyle.errors import ConfigError
from restyle.io.images import SAVE_FORMATS, save_image
from restyle.jobs.image.config import DEFAULT_SIZE, ImageConfig
from restyle.jobs.image.inputs import Sizing, sizing
from restyle.jobs.image.steps import DEFAULT_LEARNING_RATES, intermediate_paths
from restyle.objectives.networks import resolve_loss_defaults
from restyle.run.files import locked_output, refuse_existing_file, refuse_overlap
from restyle.run.loop import MetricsLog, PhaseCallback, report, resolve_device, write_config
from restyle.run.precision import resolve_precision
from restyle.run.preflight import check_image_output, check_memory, image_bytes


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


# ------------------------------------------------------------------------------------- before the run


def require_content_and_output(config: ImageConfig, *, styles: bool) -> None:
    """ConfigError when the content, the style images (``styles``: a run that needs them) or the output is
    missing, in that order."""
    if config.content is None:
        raise ConfigError("no content image given")
    if styles and not config.styles:
        raise ConfigError("no style image given (use -s STYLE, or --text PROMPT)")
    if config.output is None:
        raise ConfigError("no output path given (use -o OUT)")


def check_output_format(config: ImageConfig) -> None:
    """ConfigError unless the output's suffix names a format the run can write."""
    check_image_output(config.output, tuple(SAVE_FORMATS))


def claim_outputs(config: ImageConfig, inputs: Iterable[tuple[str, Path]], models: Sequence[Path] = ()) -> None:
    """Refuse a run that would write over one of its ``(role, path)`` inputs, or over an existing output or
    ``models`` file without ``overwrite``. Every file the run may write counts: the image, its sidecars,
    ``models`` and the intermediate images."""
    outputs = [config.output, *sidecar_paths(config.output), *models,
               *intermediate_paths(config.output, config.save_every, config.optim.iters)]
    refuse_overlap(outputs, inputs)
    for path in [config.output, *models]:
        refuse_existing_file(path, overwrite=config.overwrite)


def output_lock(output: Path) -> AbstractContextManager[Path]:
    """A lock file beside ``output`` for the run: a second run of the same output is kept out."""
    return locked_output(output.parent, f".{output.name}.lock")


def prepare_run(config: ImageConfig, what: str, extra_pixels: int = 0) -> tuple[ImageConfig, torch.device]:
    """The config as the run uses and writes it, and its device; memory is checked for the output and
    ``extra_pixels`` more (``what``: the run, for the message), and the seed is set.

    The config has every default resolved and no ``overwrite``: a permission of this invocation, not a setting
    of the run, which the config.toml written must not carry."""
    config = dataclasses.replace(resolve_defaults(config), overwrite=False)
    device = resolve_device(config.device)
    check_memory(image_bytes(output_pixels(config) + extra_pixels), str(device), what)
    torch.manual_seed(config.optim.seed)
    return config, device


# ------------------------------------------------------------------------------------- during and after


def open_metrics(output: Path, on_phase: PhaseCallback | None, phase: str) -> MetricsLog:
    """The metrics log, appended to as the run goes (opened once every input has loaded); ``phase`` reported."""
    metrics = MetricsLog()
    report(on_phase, phase)
    metrics.open(sidecar_paths(output)[1])
    return metrics


def write_result(
    config: ImageConfig, final: Callable[[], torch.Tensor], metrics: MetricsLog, intermediates: tuple[Path, ...],
    on_phase: PhaseCallback | None,
) -> ImageResult:
    """Write the output image (``final()``: ``[3,H,W]`` on the CPU), then ``*.config.toml`` and
    ``*.metrics.jsonl`` beside it."""
    output = config.output
    report(on_phase, f"writing {output.name}")
    image = final()
    config_path, metrics_path = sidecar_paths(output)
    save_image(image, output)
    write_config(config, config_path)
    metrics.write(metrics_path)
    return ImageResult(image, output, config_path, metrics_path, config, intermediates)


# ------------------------------------------------------------------------------------- sizing and defaults


def content_sizing(config: ImageConfig) -> Sizing:
    """The content's sizing rule: ``size`` or ``size_pixels`` (a ConfigError when both), else the default size."""
    return sizing(config.size, config.size_pixels, names=("size", "size_pixels")) or Sizing(long_side=DEFAULT_SIZE)


def style_sizing(config: ImageConfig) -> Sizing:
    """The style images' sizing rule: ``style_size`` or ``style_size_pixels``, else the content's rule."""
    rule = sizing(config.style_size, config.style_size_pixels, names=("style_size", "style_size_pixels"))
    return rule or content_sizing(config)


def resolve_defaults(config: ImageConfig) -> ImageConfig:
    """Fill every default that depends on other choices (backbone, optimizer, sizing, the device's precision)
    with the value used."""
    style, weights = resolve_loss_defaults(config.style, config.weights)
    style_sizing(config)  # validates both sizing pairs
    lr = config.optim.lr if config.optim.lr is not None else DEFAULT_LEARNING_RATES[config.optim.optimizer]
    precision = resolve_precision(config.optim.precision, resolve_device(config.device)).name
    return dataclasses.replace(config, size=content_sizing(config).long_side, style=style, weights=weights,
                               optim=dataclasses.replace(config.optim, lr=lr, precision=precision))


def output_pixels(config: ImageConfig) -> int:
    """The most pixels the output can have under its sizing rule (a square for a long side)."""
    rule = content_sizing(config)
    return rule.pixels if rule.pixels is not None else rule.long_side**2
