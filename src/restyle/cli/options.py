"""The options shared by the ``restyle`` commands, declared once: typer options whose help comes from the config
dataclasses, the parsers of comma-separated values, and the mapping of shared flags onto dotted config paths."""

from __future__ import annotations

from pathlib import Path

import typer

from restyle.configs import help_of
from restyle.errors import ConfigError
from restyle.jobs.image.config import ClipTextConfig, ImageConfig
from restyle.objectives.depth_config import ImageDepthConfig, MeshDepthConfig
from restyle.run.files import OVERWRITE_RUN_HELP
from restyle.sections import (
    LossWeights,
    OptimConfig,
    PaletteConfig,
    StyleConfig,
    WeightsConfig,
)


def opt(cls: type, name: str, *flags: str) -> object:
    return typer.Option(None, *flags, help=help_of(cls, name), show_default=False)


def list_opt(cls: type, name: str, flag: str, metavar: str) -> object:
    """A list-valued option given on the command line as one comma-separated value."""
    return typer.Option(None, flag, help=f"{help_of(cls, name)} Comma-separated.", metavar=metavar,
                        show_default=False)


def _split(text: str, flag: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ConfigError(f"{flag} takes a comma-separated list with no empty entries; got {text!r}")
    return items


def names(text: str | None, flag: str) -> list[str] | None:
    """``"relu1_1,relu2_1"`` -> ``["relu1_1", "relu2_1"]``; not given stays None."""
    return None if text is None else _split(text, flag)


def numbers(text: str | None, flag: str) -> list[float] | None:
    """``"0.7,0.3"`` -> ``[0.7, 0.3]``; not given stays None."""
    if text is None:
        return None
    try:
        return [float(item) for item in _split(text, flag)]
    except ValueError:
        raise ConfigError(f"{flag} takes comma-separated numbers, e.g. 0.7,0.3; got {text!r}") from None


# Options shared by `restyle image` and `restyle mesh`, declared once.
METHOD = opt(StyleConfig, "method", "--method")
BACKBONE = opt(StyleConfig, "backbone", "--backbone", "-b")
CONTENT_BACKBONE = opt(StyleConfig, "content_backbone", "--content-backbone")
SMOOTHING = opt(StyleConfig, "smoothing", "--smoothing")
STYLE_WEIGHT = opt(LossWeights, "style", "--style-weight")
CONTENT_WEIGHT = opt(LossWeights, "content", "--content-weight")
TV_WEIGHT = opt(LossWeights, "tv", "--tv-weight")
PATCH_WEIGHT = opt(ClipTextConfig, "patch_weight", "--patch-weight")
DIRECTIONAL_WEIGHT = opt(ClipTextConfig, "directional_weight", "--directional-weight")
PALETTE = opt(PaletteConfig, "source", "--palette")
PALETTE_COLORS = opt(PaletteConfig, "colors", "--palette-colors")
PALETTE_WEIGHT = opt(PaletteConfig, "weight", "--palette-weight")
ITERS = opt(OptimConfig, "iters", "--iters")
LR = opt(OptimConfig, "lr", "--lr")
SEED = opt(OptimConfig, "seed", "--seed")
WEIGHTS_DIR = typer.Option(
    None, "--weights-dir", envvar="RESTYLE_WEIGHTS_DIR", help=help_of(WeightsConfig, "weights_dir")
)
DOWNLOAD = typer.Option(None, "--download/--no-download", help=help_of(WeightsConfig, "download"))
DEVICE = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N.")
PRESET = typer.Option(None, "--preset", "-p", help="Named preset (applied before --config and flags).")
CONFIG = typer.Option(None, "--config", "-c", help="TOML config file (e.g. a config.toml of an earlier run).")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")
OVERWRITE_MESH = typer.Option(None, "--overwrite", help=OVERWRITE_RUN_HELP, show_default=False)
OVERWRITE_IMAGE = typer.Option(None, "--overwrite", help=help_of(ImageConfig, "overwrite"), show_default=False)
PRINT_CONFIG = typer.Option(
    False, "--print-config",
    help="Print the fully resolved config (defaults < preset < --config < flags) as TOML and exit; loads no "
    "weights, meshes or images, so inputs may be left out.",
)


STYLE_HELP = ("Style image (repeat for several); FILE@MASK gives it its own depth mask (e.g. far.jpg@far), and each "
              "mask its own style loss.")
STYLE_NEAR = typer.Option(None, "--style-near", help="Style image for the near half (the same as -s FILE@near).")
STYLE_FAR = typer.Option(None, "--style-far", help="Style image for the far half (the same as -s FILE@far).")
IMAGE_STYLE_MASK = opt(ImageDepthConfig, "style_mask", "--style-mask")
KEEP_UNMASKED = typer.Option(None, "--keep-unmasked/--no-keep-unmasked",
                             help=help_of(ImageDepthConfig, "keep_unmasked"), show_default=False)
ALLOW_EMPTY_MASK = typer.Option(None, "--allow-empty-mask", help=help_of(ImageDepthConfig, "allow_empty_mask"),
                                show_default=False)
MESH_STYLE_MASK = opt(MeshDepthConfig, "style_mask", "--style-mask")


def with_near_far(styles: list[Path] | None, near: list[Path] | None, far: list[Path] | None) -> list[str]:
    """The -s styles, then --style-near and --style-far ones as FILE@near / FILE@far."""
    return [str(p) for p in styles or []] + [f"{p}@near" for p in near or []] + [f"{p}@far" for p in far or []]


def shared_flags(**values: object) -> dict[str, object]:
    """Map the shared CLI options onto dotted config paths."""
    paths = {
        "method": "style.method", "backbone": "style.backbone", "content_backbone": "style.content_backbone",
        "smoothing": "style.smoothing",
        "style_weight": "weights.style", "content_weight": "weights.content", "tv_weight": "weights.tv",
        "palette": "palette.source", "palette_colors": "palette.colors", "palette_weight": "palette.weight",
        "iters": "optim.iters", "lr": "optim.lr", "seed": "optim.seed",
        "weights_dir": "pretrained.weights_dir", "download": "pretrained.download", "device": "device",
    }
    return {paths[name]: value for name, value in values.items()}


def print_resolved_config(config: object) -> None:
    """The resolved config on stdout as TOML (what the run would write as config.toml), then exit 0."""
    from restyle.configs import dump_toml

    typer.echo(dump_toml(config), nl=False)
    raise typer.Exit(0)
