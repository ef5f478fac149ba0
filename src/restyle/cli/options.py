"""The parameters of the ``restyle`` commands that are not config fields, declared once: the style images (``-s``,
``--style-near``, ``--style-far``), where options come from (``--preset``, ``--config``, ``--resume``) and how the
command reports (``--quiet``, ``--print-config``). Every config field's option is generated from the field
(:mod:`restyle.cli.flags`); the commands' inputs and ``-o`` are declared with their commands."""

from __future__ import annotations

from pathlib import Path

import typer

from restyle.api import MESH_PRESETS

STYLE = typer.Option(
    None, "--style", "-s", help="Style image (repeat for several); FILE@MASK gives it its own depth mask (e.g. "
    "far.jpg@far), and each mask its own style loss."
)
STYLE_NEAR = typer.Option(None, "--style-near", help="Style image for the near half (the same as -s FILE@near).")
STYLE_FAR = typer.Option(None, "--style-far", help="Style image for the far half (the same as -s FILE@far).")
PRESET = typer.Option(
    None, "--preset", "-p", help="Named preset (applied before --config and flags); none: the bare defaults."
)
MESH_PRESET = typer.Option(
    None, "--preset", "-p", help=f"Named preset: {', '.join(MESH_PRESETS)}, or none for the bare defaults; applied "
    "before --config and flags. Without one (and without --resume): preview on a CPU, paper on a CUDA GPU.",
)
CONFIG = typer.Option(None, "--config", "-c", help="TOML config file (e.g. a config.toml of an earlier run).")
RESUME = typer.Option(None, "--resume", help="Continue the interrupted run in this folder.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")
PRINT_CONFIG = typer.Option(
    False, "--print-config",
    help="Print the fully resolved config (defaults < preset < --config < flags) as TOML and exit; loads no "
    "weights, meshes or images, so inputs may be left out.",
)


def with_near_far(styles: list[Path] | None, near: list[Path] | None, far: list[Path] | None) -> list[str]:
    """The -s styles, then --style-near and --style-far ones as FILE@near / FILE@far."""
    return [str(p) for p in styles or []] + [f"{p}@near" for p in near or []] + [f"{p}@far" for p in far or []]


def print_resolved_config(config: object) -> None:
    """The resolved config on stdout as TOML (what the run would write as config.toml), then exit 0."""
    from restyle.configs import dump_toml

    typer.echo(dump_toml(config), nl=False)
    raise typer.Exit(0)
