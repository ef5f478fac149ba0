"""The Python API, and the only door for the front ends (``restyle.cli``, ``restyle.web``, ``restyle.batch``).

Options are given as keyword arguments shaped like the TOML config: top-level fields directly
(``size=256``) and sections as dicts (``optim={"iters": 100}``). Precedence, as on the command line:
defaults < ``preset`` < ``config_file`` < keyword arguments. ``preset="none"`` applies no preset; a mesh run given
no preset takes its device's (preview on a CPU, paper on a CUDA GPU; see :func:`mesh_config`).

The config classes are imported here at once (the CLI generates its flags from them); each job's pipeline only
when it first runs, so that ``restyle --help`` and a manifest check do not load the pipelines' libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restyle.backbones.weights import WEIGHT_SOURCES, download_weights, find_checkpoint, weights_table
from restyle.colour.palettes import parse_hex_palette
from restyle.configs import resolve
from restyle.jobs.apply.config import ApplyConfig
from restyle.jobs.image.config import IMAGE_PRESETS, TEXT_PRESET, ImageConfig
from restyle.jobs.mesh.config import DEVICE_PRESETS, MESH_PRESETS, MeshConfig
from restyle.objectives.masks import split_style_spec
from restyle.run.heldout import HeldOut, heldout_text, heldout_values, latest_heldout, read_metrics
from restyle.run.loop import PhaseCallback, StepCallback, StepInfo, report, resolve_device
from restyle.run.preflight import check_writable
from restyle.run.timings import estimate_text, timing_key
from restyle.sections import RenderAssetConfig, WeightsConfig

if TYPE_CHECKING:  # the result types only; their modules load at the first run (see above)
    from restyle.jobs.apply.run import ApplyResult
    from restyle.jobs.image.run import ImageResult
    from restyle.jobs.mesh.run import MeshResult
    from restyle.jobs.render.run import RenderAssetResult

__all__ = [
    "MESH_PRESETS", "WEIGHT_SOURCES", "ApplyConfig", "HeldOut", "ImageConfig", "MeshConfig", "PhaseCallback",
    "RenderAssetConfig", "StepCallback", "StepInfo", "WeightsConfig", "apply_model", "check_writable",
    "download_weights", "estimate_text", "find_checkpoint", "heldout_text", "heldout_values", "image_config",
    "is_main_process", "latest_heldout", "mesh_config", "parse_hex_palette", "read_metrics", "render_preview",
    "resolved_config", "split_style_spec", "stylize_image", "stylize_mesh", "timing_key", "weights_table",
]


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
) -> ImageConfig:
    """The config :func:`stylize_image` runs with: defaults < ``preset`` < ``config_file`` < ``options``. Reads no
    file but ``config_file``. A ``text`` option without a preset selects the ``clipstyler`` preset (the defaults
    are set for optimising pixels, not a U-Net)."""
    flags = {**_with_style_masks(options, styles), **_inputs(content=content, output=output)}
    if preset is None and options.get("text") is not None:
        preset = TEXT_PRESET
    return resolve(
        ImageConfig(),
        presets=IMAGE_PRESETS,
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
) -> ImageResult:
    """Stylise a photo. Returns the image tensor and the paths of the image, its config and its metrics.
    ``on_step`` is told every step, ``on_phase`` each stage before and after the steps ("loading networks")."""
    from restyle.jobs.image import run as image_pipeline

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
    on_phase: PhaseCallback | None = None,
    **options: Any,
) -> MeshConfig:
    """The config :func:`stylize_mesh` runs with: defaults < ``preset`` < ``config_file`` (or the resumed run's
    ``config.toml``) < ``options``. Reads no file but that config file.

    No ``preset`` (and no ``resume``, whose config.toml holds every value): the preset of the device the run would
    take (preview on a CPU, paper on a CUDA GPU), said in one line to ``on_phase``; ``"none"``: no preset."""
    if resume is not None:
        from restyle.jobs.mesh import run as mesh_pipeline

        config_file = mesh_pipeline.load_resume_config(Path(resume))
        output = output or resume
    flags = {**_with_style_masks(options, styles), **_inputs(mesh=mesh, output=output)}
    config_path = Path(config_file) if config_file else None
    if preset is None and resume is None:
        preset = _device_preset(config_path, flags, on_phase)
    return resolve(MeshConfig(), presets=MESH_PRESETS, preset=preset, config_file=config_path, flags=flags)


def _device_preset(config_file: Path | None, flags: dict[str, Any], on_phase: PhaseCallback | None) -> str:
    """The preset of the device a run of ``config_file`` and ``flags`` would take (their ``device``, else auto)."""
    bare = resolve(MeshConfig(), presets=MESH_PRESETS, preset=None, config_file=config_file, flags=flags)
    name, why, other = DEVICE_PRESETS.get(resolve_device(bare.device).type, DEVICE_PRESETS["cpu"])
    report(on_phase, f"no --preset: {name} ({why}) - {other}")
    return name


def resolved_config(
    config: MeshConfig | ImageConfig, on_phase: PhaseCallback | None = None
) -> MeshConfig | ImageConfig:
    """``config`` (from :func:`mesh_config` or :func:`image_config`) with every "the backbone's" default filled in:
    what the run writes as its config.toml (``--print-config``). Loads no input and no network; ``on_phase`` is
    told which backbone a mesh run's ``auto`` chose."""
    if isinstance(config, MeshConfig):
        from restyle.jobs.mesh import run as mesh_job

        return mesh_job.resolve_defaults(config, on_phase)
    from restyle.jobs.image import run as image_job

    return image_job.resolve_defaults(config)


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
) -> MeshResult:
    """Stylise a 3D asset's textures; writes GLB, OBJ+MTL+PNG and side outputs into ``output``.

    ``resume=OUTDIR`` continues an interrupted run from its ``config.toml`` and checkpoint (options given here
    still override, e.g. more ``optim={"iters": ...}``). ``on_step`` is told every step, ``on_phase`` each stage
    before and after the steps ("unwrapping spot.obj (70,000 faces)").
    """
    from restyle.jobs.mesh import run as mesh_pipeline

    lines = _HeldLines(on_phase)
    config = mesh_config(mesh, styles, output, preset=preset, config_file=config_file, resume=resume,
                         on_phase=lines.hold, **options)
    given_config = Path(config_file) if config_file and resume is None else None
    return mesh_pipeline.run(config, on_step=on_step, resume=resume is not None, config_file=given_config,
                             on_phase=lines)


class _HeldLines:
    """A phase callback that holds the lines of the config's resolution (the preset chosen) until the run's first
    own line, so that a run its checks refuse prints its one-line error alone."""

    def __init__(self, on_phase: PhaseCallback | None) -> None:
        self.on_phase = on_phase
        self.held: list[str] = []

    def hold(self, line: str) -> None:
        self.held.append(line)

    def __call__(self, line: str) -> None:
        for held in self.held:
            report(self.on_phase, held)
        self.held.clear()
        report(self.on_phase, line)


def render_preview(
    mesh: str | Path,
    output: str | Path,
    *,
    turntable: str | Path | None = None,
    on_phase: PhaseCallback | None = None,
    **options: Any,
) -> RenderAssetResult:
    """A contact sheet of shaded views of any asset (and an optional GIF/MP4 turntable). A mesh without UVs is
    shown in its vertex colours (flat per face) or grey, without unwrapping."""
    from restyle.jobs.render import run as render_asset

    flags = {**options, **_inputs(mesh=mesh, output=output, turntable=turntable)}
    config = resolve(RenderAssetConfig(), presets={}, preset=None, config_file=None, flags=flags)
    return render_asset.run(config, on_phase)


def apply_model(
    model: str | Path,
    inputs: Sequence[str | Path],
    output_dir: str | Path,
    *,
    on_step: StepCallback | None = None,
    on_phase: PhaseCallback | None = None,
    **options: Any,
) -> ApplyResult:
    """Run a U-Net saved by ``stylize_image(..., text=..., save_model=MODEL)`` over more images, folders (every
    image and video directly inside, sorted) and videos; writes ``output_dir/<input stem>.<suffix>`` each.
    Options: ``size`` (long side), ``device``, ``overwrite``. ``on_step`` is told after every image or frame."""
    from restyle.jobs.apply import run as apply_pipeline

    flags = {**options, **_inputs(model=Path(model), inputs=[Path(p) for p in inputs], output=Path(output_dir))}
    config = resolve(ApplyConfig(), presets={}, preset=None, config_file=None, flags=flags)
    return apply_pipeline.run(config, on_step=on_step, on_phase=on_phase)


def is_main_process() -> bool:
    """False in every torchrun process but rank 0, which writes a mesh run's files and reports them."""
    from restyle.run.ranks import ranks_from_env

    return ranks_from_env().is_main
