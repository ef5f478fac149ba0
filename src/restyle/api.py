"""The Python API. The CLI is a thin layer over these functions.

Options are given as keyword arguments shaped like the TOML config: top-level fields directly
(``size=256``) and sections as dicts (``optim={"iters": 100}``). Precedence, as on the command line:
defaults < ``preset`` < ``config_file`` < keyword arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from restyle.configs import resolve
from restyle.jobs.apply import run as apply_pipeline
from restyle.jobs.image import run as image_pipeline
from restyle.jobs.mesh import run as mesh_pipeline
from restyle.jobs.render import run as render_asset
from restyle.objectives.masks import split_style_spec
from restyle.run.loop import PhaseCallback, StepCallback


def _inputs(**paths: Any) -> dict[str, Any]:
    return {k: v for k, v in paths.items() if v is not None and v != []}


def _with_style_masks(options: dict[str, Any], styles: Sequence[str | Path]) -> dict[str, Any]:
    """``options`` with the style paths; a ``FILE@MASK`` style (e.g. ``"far.jpg@far"``) also sets one depth mask
    per style image, ``all`` for those given without one."""
    split = [split_style_spec(str(style)) for style in styles]
    flags = {**options, **_inputs(styles=[Path(path) for path, _ in split])}
    if any(mask is not None for _, mask in split):
        flags["depth"] = {**(options.get("depth") or {}), "style_masks": [mask or "all" for _, mask in split]}
    return flags


def image_config(
    content: str | Path | None = None,
    styles: Sequence[str | Path] = (),
    output: str | Path | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    **options: Any,
) -> image_pipeline.ImageConfig:
    """The config :func:`stylize_image` runs with: defaults < ``preset`` < ``config_file`` < ``options``. Reads no
    file but ``config_file``. A ``text`` option without a preset selects the ``clipstyler`` preset (the defaults
    are set for optimising pixels, not a U-Net)."""
    flags = {**_with_style_masks(options, styles), **_inputs(content=content, output=output)}
    if preset is None and options.get("text") is not None:
        preset = image_pipeline.TEXT_PRESET
    return resolve(
        image_pipeline.ImageConfig(),
        presets=image_pipeline.IMAGE_PRESETS,
        preset=preset,
        config_file=Path(config_file) if config_file else None,
        flags=flags,
    )


def stylize_image(
    content: str | Path | None = None,
    styles: Sequence[str | Path] = (),
    output: str | Path | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    on_step: StepCallback | None = None,
    on_phase: PhaseCallback | None = None,
    **options: Any,
) -> image_pipeline.ImageResult:
    """Stylise a photo. Returns the image tensor and the paths of the image, its config and its metrics.
    ``on_step`` is told every step, ``on_phase`` each stage before and after the steps ("loading networks")."""
    config = image_config(content, styles, output, preset=preset, config_file=config_file, **options)
    return image_pipeline.run(config, on_step=on_step, config_file=Path(config_file) if config_file else None,
                              on_phase=on_phase)


def mesh_config(
    mesh: str | Path | None = None,
    styles: Sequence[str | Path] = (),
    output: str | Path | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    resume: str | Path | None = None,
    **options: Any,
) -> mesh_pipeline.MeshConfig:
    """The config :func:`stylize_mesh` runs with: defaults < ``preset`` < ``config_file`` (or the resumed run's
    ``config.toml``) < ``options``. Reads no file but that config file."""
    if resume is not None:
        config_file = mesh_pipeline.load_resume_config(Path(resume))
        output = output or resume
    flags = {**_with_style_masks(options, styles), **_inputs(mesh=mesh, output=output)}
    return resolve(
        mesh_pipeline.MeshConfig(),
        presets=mesh_pipeline.MESH_PRESETS,
        preset=preset,
        config_file=Path(config_file) if config_file else None,
        flags=flags,
    )


def stylize_mesh(
    mesh: str | Path | None = None,
    styles: Sequence[str | Path] = (),
    output: str | Path | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    resume: str | Path | None = None,
    on_step: StepCallback | None = None,
    on_phase: PhaseCallback | None = None,
    **options: Any,
) -> mesh_pipeline.MeshResult:
    """Stylise a 3D asset's textures; writes GLB, OBJ+MTL+PNG and side outputs into ``output``.

    ``resume=OUTDIR`` continues an interrupted run from its ``config.toml`` and checkpoint (options given here
    still override, e.g. more ``optim={"iters": ...}``). ``on_step`` is told every step, ``on_phase`` each stage
    before and after the steps ("unwrapping spot.obj (70,000 faces)").
    """
    config = mesh_config(mesh, styles, output, preset=preset, config_file=config_file, resume=resume, **options)
    given_config = Path(config_file) if config_file and resume is None else None
    return mesh_pipeline.run(config, on_step=on_step, resume=resume is not None, config_file=given_config,
                             on_phase=on_phase)


def render_preview(
    mesh: str | Path,
    output: str | Path,
    *,
    turntable: str | Path | None = None,
    on_phase: PhaseCallback | None = None,
    **options: Any,
) -> render_asset.RenderAssetResult:
    """A contact sheet of shaded views of any asset (and an optional GIF/MP4 turntable). A mesh without UVs is
    shown in its vertex colours (flat per face) or grey, without unwrapping."""
    flags = {**options, **_inputs(mesh=mesh, output=output, turntable=turntable)}
    config = resolve(render_asset.RenderAssetConfig(), presets={}, preset=None, config_file=None, flags=flags)
    return render_asset.run(config, on_phase)


def apply_model(
    model: str | Path,
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    *,
    on_step: StepCallback | None = None,
    on_phase: PhaseCallback | None = None,
    **options: Any,
) -> apply_pipeline.ApplyResult:
    """Run a U-Net saved by ``stylize_image(..., text=..., save_model=MODEL)`` over more images, folders (every
    image and video directly inside, sorted) and videos; writes ``output_dir/<input stem>.<suffix>`` each.
    Options: ``size`` (long side), ``device``, ``overwrite``. ``on_step`` is told after every image or frame."""
    flags = {**options, **_inputs(model=Path(model), inputs=[Path(p) for p in inputs], output=Path(output_dir))}
    config = resolve(apply_pipeline.ApplyConfig(), presets={}, preset=None, config_file=None, flags=flags)
    return apply_pipeline.run(config, on_step=on_step, on_phase=on_phase)
