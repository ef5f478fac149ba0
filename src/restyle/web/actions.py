"""What the page's buttons do, apart from Gradio: stage uploads, start, stop and resume jobs, describe a job for
the page (its progress, and for a mesh job the held-out distances its run logs), and describe the presets before a
run (their sizes, and how long they take on this machine as far as earlier runs here measured it). Every
user-facing failure is a :class:`restyle.errors.RestyleError` whose one-line message the page shows.

Options from the form become ``restyle.api`` keyword options (the shape of the TOML config); a field left empty
keeps the preset's or the backbone's default.
"""

from __future__ import annotations

import html
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from restyle import api
from restyle.api import parse_hex_palette
from restyle.errors import ConfigError, RestyleError
from restyle.run.files import METRICS_NAME
from restyle.web.job_store import MESH_OUT
from restyle.web.jobs import PALETTE_INPUT, JobKind, JobRecord, JobRunner, JobStore
from restyle.web.uploads import UploadLimits, stage_images, stage_mesh

# every preset of the mesh job, longest first; the form always names one (its default: preview), so a web job
# never depends on the server's device
MESH_PRESETS = tuple(api.MESH_PRESETS)
# (label, value): the offline ones need no download and are what a fresh install can run
BACKBONES = (("vgg19 (offline)", "vgg19"), ("patch (offline, no network)", "patch"), ("clip-rn50 (the paper's; "
             "download)", "clip-rn50"), ("vgg16 (download)", "vgg16"))
TEXTURE_SIZES = (128, 256, 512, 1024, 2048)
PALETTE_HINT = "Palette: use auto, none or colours such as #aabbcc,#112233, or upload a palette image"
# the options the form sets, as the config's messages name them -> as the page labels them
MESH_LABELS = {"[optim] iters": "Steps", "[weights] style": "Style weight", "[weights] content": "Content weight",
               "[render] texture_size": "Texture size", "[views] distance": "Pattern scale"}
IMAGE_LABELS = {"[optim] iters": "Steps", "option 'size'": "Long side", "option 'style_blend'": "Style weights"}


@dataclass(frozen=True)
class MeshForm:
    """The mesh tab's fields; None (or empty) means "the default"."""

    mesh_files: Sequence[Path]
    style_files: Sequence[Path] = ()
    prompt: str = ""
    preset: str = "preview"
    backbone: str = "vgg19"
    steps: int | None = None
    style_weight: float | None = None
    content_weight: float | None = None
    palette: str = ""  # auto, none or hex colours; never a path (see palette_source)
    texture_size: int | None = None
    pattern_scale: float | None = None  # camera distance in bounding radii, the same for every view
    palette_file: Path | None = None  # an uploaded palette image, instead of the palette text


@dataclass(frozen=True)
class ImageForm:
    content_file: Path | None
    style_files: Sequence[Path] = ()
    style_blend: str = ""
    prompt: str = ""
    size: int | None = None
    steps: int | None = None
    method: str = "gram"
    backbone: str = "vgg19"


@dataclass(frozen=True)
class JobView:
    """A job as the page shows it: files are absolute paths inside the job's folder (served by the app)."""

    job_id: str
    status: str
    summary_html: str  # progress bar, ETA, losses, queue position or error
    preview: Path | None = None
    original_glb: Path | None = None
    glb: Path | None = None
    before_after: Path | None = None
    turntable: Path | None = None
    image: Path | None = None
    content: Path | None = None
    downloads: list[Path] = field(default_factory=list)
    can_stop: bool = False
    can_resume: bool = False
    heldout: list[tuple[int, str, float]] = field(default_factory=list)  # (step, distance name, value) to plot


def start_mesh_job(store: JobStore, runner: JobRunner, form: MeshForm, limits: UploadLimits = UploadLimits()) -> str:
    """Check the form, stage the uploads into a new job folder, then queue the job; its id. A bad number or palette
    is refused before the folder exists."""
    if not form.mesh_files:
        raise ConfigError("upload an asset first (GLB/glTF, OBJ with its MTL and textures, or a zip) or try the sample")
    if not form.style_files and not form.prompt.strip():
        raise ConfigError("add at least one style image or a prompt")
    options = _checked(api.mesh_config, mesh_options(form), MESH_LABELS)

    def stage(folder: Path) -> dict[str, object]:
        mesh = stage_mesh(form.mesh_files, folder / "inputs" / "asset", limits)
        inputs = {"mesh": _relative(mesh, folder), "styles": _staged_styles(form.style_files, folder, limits)}
        if form.palette_file is not None:
            (palette,) = stage_images([form.palette_file], folder / "inputs" / "palette", "palette image", limits)
            inputs[PALETTE_INPUT] = _relative(palette, folder)
        return inputs

    return _queue(store, runner, "mesh", stage, options)


def mesh_options(form: MeshForm) -> dict[str, object]:
    """The form as ``restyle.api.stylize_mesh`` keyword options (an uploaded palette image is the job's input, set
    as ``palette.source`` when it runs)."""
    # the page shows a turntable beside the 3D viewer, so every web job writes one
    options: dict[str, object] = {"preset": form.preset, "style": {"backbone": form.backbone},
                                  "outputs": {"turntable": "gif"}}
    if form.prompt.strip():
        options["text"] = form.prompt.strip()
    _set(options, "optim", "iters", form.steps)
    _set(options, "weights", "style", form.style_weight)
    _set(options, "weights", "content", form.content_weight)
    if form.palette_file is not None and form.palette.strip():
        raise ConfigError("Palette: give colours or upload a palette image, not both")
    _set(options, "palette", "source", palette_source(form.palette))
    _set(options, "render", "texture_size", form.texture_size)
    if form.pattern_scale is not None:
        options["views"] = {"distance": [form.pattern_scale, form.pattern_scale]}
    return options


def palette_source(text: str) -> str | None:
    """The palette field as a ``palette.source``: auto, none or the colours written out as ``#rrggbb,...``; None
    when empty. Never a path: the text is not looked up on this machine, so no file there is read, and the
    message is the same whatever exists there."""
    words = text.strip()
    if not words:
        return None
    if words.lower() in ("auto", "none"):
        return words.lower()
    try:
        colours = parse_hex_palette(words).tolist()
    except ConfigError:
        raise ConfigError(PALETTE_HINT) from None
    return ",".join("#" + "".join(f"{round(channel * 255):02x}" for channel in colour) for colour in colours)


def start_image_job(store: JobStore, runner: JobRunner, form: ImageForm, limits: UploadLimits = UploadLimits()) -> str:
    if form.content_file is None:
        raise ConfigError("upload a content image first")
    if not form.style_files and not form.prompt.strip():
        raise ConfigError("add at least one style image or a prompt")
    options = _checked(api.image_config, image_options(form), IMAGE_LABELS)  # before the job folder exists

    def stage(folder: Path) -> dict[str, object]:
        (content,) = stage_images([form.content_file], folder / "inputs" / "content", "content image", limits)
        return {"content": _relative(content, folder), "styles": _staged_styles(form.style_files, folder, limits)}

    return _queue(store, runner, "image", stage, options)


def image_options(form: ImageForm) -> dict[str, object]:
    options: dict[str, object] = {"style": {"method": form.method, "backbone": form.backbone}}
    if form.prompt.strip():
        options = {"text": form.prompt.strip()}  # the clipstyler preset sets the rest
    if form.style_blend.strip():
        options["style_blend"] = _numbers(form.style_blend)
    if form.size is not None:
        options["size"] = form.size
    _set(options, "optim", "iters", form.steps)
    return options


def view_job(store: JobStore, runner: JobRunner, job_id: str | None) -> JobView | None:
    """The job for the page, or None for no (or an unknown) id."""
    if not job_id:
        return None
    try:
        record = store.get(job_id)
    except KeyError:
        return None
    files = {name: _file(store, record, name) for name in
             ("preview", "original_glb", "glb", "before_after", "turntable", "image", "obj_zip", "config")}
    textures = [store.resolve(job_id, str(p)) for p in record.outputs.get("textures", [])]
    downloads = [p for p in (files["glb"], files["obj_zip"], *textures, files["image"], files["config"]) if p]
    content = record.inputs.get("content")
    entries = api.read_metrics(store.folder(job_id) / MESH_OUT / METRICS_NAME) if record.kind == "mesh" else []
    return JobView(
        job_id, record.status, summary_html(record, runner.queue_position(job_id), api.latest_heldout(entries)),
        files["preview"], files["original_glb"], files["glb"], files["before_after"], files["turntable"],
        files["image"], store.resolve(job_id, str(content)) if content else None, downloads,
        can_stop=record.status in ("queued", "running"), can_resume=record.resumable and record.status != "running",
        heldout=heldout_points(entries),
    )


def heldout_points(entries: Sequence[dict]) -> list[tuple[int, str, float]]:
    """``(step, name, value)`` of every held-out distance in a run's metrics entries, in order, for the chart."""
    points = []
    for entry in entries:
        values = api.heldout_values(entry)
        points += [(int(entry["step"]), name, value) for name, value in (values or {}).items()]
    return points


def job_choices(store: JobStore) -> list[tuple[str, str]]:
    """(label, id) of every job, newest first, for the job picker."""
    return [(f"{r.id} · {r.kind} · {r.status}", r.id) for r in store.list()]


def summary_html(record: JobRecord, position: int | None, heldout: api.HeldOut | None = None) -> str:
    """A progress bar with the step, ETA, current losses and the latest held-out distances; or the queue position;
    or the error."""
    progress = record.progress
    if record.status == "failed":
        return f'<div class="restyle-error">Failed: {html.escape(record.error or "unknown error")}</div>'
    if record.status == "queued":
        ahead = "next" if position == 1 else f"{position} jobs ahead" if position else "waiting"
        return f'<div class="restyle-status">Queued ({ahead})</div>'
    fraction = progress.step / progress.total if progress.total else 0.0
    eta = f" · ETA {_duration(progress.eta_s)}" if progress.eta_s is not None and record.status == "running" else ""
    losses = ", ".join(f"{name} {value:.4g}" for name, value in progress.losses.items())
    phase = f" · {html.escape(progress.phase)}" if progress.phase and record.status == "running" else ""
    heldout_line = api.heldout_text(heldout)
    return (
        f'<div class="restyle-status" data-status="{record.status}">{record.status.capitalize()}: step '
        f"{progress.step} / {progress.total}{eta}{phase}</div>"
        f'<div class="restyle-bar"><div style="width:{100 * fraction:.1f}%"></div></div>'
        f'<div class="restyle-losses">{html.escape(losses)}</div>'
        + (f'<div class="restyle-heldout">{html.escape(heldout_line)}</div>' if heldout_line else "")
    )


def preset_table(backbone: str) -> str:
    """Markdown: each mesh preset with ``backbone``, its steps, render and texture sizes, views per step, and how
    long its steps take on this machine (measured by earlier runs here, see ``restyle.run.timings``)."""
    rows = ["| preset | steps | render | texture | views/step | on this machine |", "|---|---|---|---|---|---|"]
    for name in MESH_PRESETS:
        try:
            config = api.resolved_config(api.mesh_config(preset=name, style={"backbone": backbone}))
        except RestyleError as error:  # a preset this backbone cannot run
            rows.append(f"| {name} | {_cell(str(error))} | | | | |")
            continue
        render, steps = config.render, config.optim.iters
        estimate = api.estimate_text(api.timing_key(config.device, config.style, render, config.optim), steps)
        rows.append(f"| {name} | {steps:,} | {render.render_size} px | {render.texture_size} px | "
                    f"{render.views_per_step} | {_cell(estimate)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    return html.escape(text).replace("|", "\\|")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _file(store: JobStore, record: JobRecord, name: str) -> Path | None:
    relative = record.outputs.get(name)
    if not relative:
        return None
    path = store.resolve(record.id, str(relative))
    return path if path.exists() else None


def _queue(store: JobStore, runner: JobRunner, kind: JobKind, stage: Callable[[Path], dict[str, object]],
           options: dict[str, object]) -> str:
    """A new job folder, the uploads staged into it by ``stage(folder) -> inputs``, then the job queued; its id.
    A folder whose uploads were refused is removed: a bad upload leaves no half-made job behind."""
    job_id, folder = store.new_folder()
    try:
        inputs = stage(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    store.create(job_id, kind, inputs, options)
    runner.submit(job_id)
    return job_id


def _staged_styles(files: Sequence[Path], folder: Path, limits: UploadLimits) -> list[str]:
    """The style uploads staged into the job folder, as job-relative paths; none with a prompt alone."""
    staged = stage_images(files, folder / "inputs" / "styles", "style image", limits) if files else []
    return [_relative(path, folder) for path in staged]


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _set(options: dict[str, object], section: str, key: str, value: object) -> None:
    if value is not None and value != "":
        options.setdefault(section, {})[key] = value  # type: ignore[index]


def _numbers(text: str) -> list[float]:
    try:
        return [float(item) for item in text.split(",")]
    except ValueError:
        raise ConfigError(f"Style weights take comma-separated numbers, e.g. 0.7,0.3; got {text!r}") from None


def _checked(resolve: Callable[..., object], options: dict[str, object], labels: dict[str, str]) -> dict[str, object]:
    """``options`` once the config they make is valid (``resolve``: ``api.mesh_config`` or ``api.image_config``, which
    check every number against its option's range, and refuse nan and infinity); a refusal names the field as the
    page labels it."""
    try:
        resolve(**options)
    except ConfigError as error:
        message = str(error).removeprefix("command line: ")
        option = next((name for name in labels if message.startswith(name)), None)
        raise ConfigError(labels[option] + message[len(option):] if option else message) from None
    return options


def form_number(value: object, label: str) -> float | None:
    """An optional number from a text field: empty means "the default"; anything else must be a finite number.
    Its range is the config's to check (:func:`start_mesh_job`, :func:`start_image_job`)."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(f"{label}: {text!r} is not a number") from None
    if not math.isfinite(number):
        raise ConfigError(f"{label}: {text!r} is not a finite number")
    return number


def form_whole_number(value: object, label: str) -> int | None:
    """As :func:`form_number`, for a count or a size: ``2.5`` is refused rather than cut to 2."""
    number = form_number(value, label)
    if number is not None and not number.is_integer():
        raise ConfigError(f"{label}: {str(value).strip()!r} is not a whole number")
    return None if number is None else int(number)
