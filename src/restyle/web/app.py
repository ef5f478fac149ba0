"""``restyle web``: a local Gradio app over :mod:`restyle.web.actions`, for artists rather than command lines.

Mesh tab: upload an asset and styles (or a prompt), see what each preset costs on this machine, run a job, watch its
progress, its held-out distances falling and its live preview, stop and resume it, turn the result around in 3D
beside the original and download it. Image tab: the same for a photo, with a
before/after slider. Jobs run one at a time in a worker; each lives in its own folder under the data directory, so a
page reload (or a restart of the app) finds it again.

Local by default: bound to 127.0.0.1, no share link unless asked, analytics off, no web fonts fetched; the server
serves the files of the data directory only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no outbound telemetry

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402  (gradio's own dependency: its plots take data frames)

from restyle.errors import RestyleError  # noqa: E402
from restyle.web.actions import (  # noqa: E402
    BACKBONES,
    MESH_PRESETS,
    TEXTURE_SIZES,
    ImageForm,
    JobView,
    MeshForm,
    form_number,
    form_whole_number,
    job_choices,
    preset_table,
    start_image_job,
    start_mesh_job,
    view_job,
)
from restyle.web.jobs import JobRunner, JobStore  # noqa: E402
from restyle.web.uploads import UploadLimits, sample_mesh, sample_style  # noqa: E402

REFRESH_S = 2.0
CSS = """
.restyle-bar { height: 10px; background: #e5e7eb; border-radius: 5px; overflow: hidden; margin: 6px 0; }
.restyle-bar > div { height: 100%; background: #f97316; }
.restyle-error, #message { color: #b91c1c; }
"""


def theme() -> gr.themes.Base:
    # system fonts only: the default theme fetches Google Fonts, and the app must make no outbound request
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


@dataclass
class WebApp:
    store: JobStore
    runner: JobRunner
    limits: UploadLimits


def build(app: WebApp) -> gr.Blocks:
    with gr.Blocks(title="restyle") as blocks:
        gr.Markdown("# restyle\nStyle transfer onto 3D assets and photos, on this machine.")
        with gr.Tab("Mesh"):
            _mesh_tab(app, blocks)
        with gr.Tab("Image"):
            _image_tab(app, blocks)
    return blocks


# ------------------------------------------------------------------------------------------------ mesh tab


def _mesh_tab(app: WebApp, blocks: gr.Blocks) -> None:
    job, shown = gr.State(None), gr.State(None)  # the job on the page, and the status its results were drawn for
    plotted = gr.State(None)  # (job, points) the held-out chart was drawn for
    with gr.Row():
        with gr.Column(scale=1):
            mesh_files = gr.File(label="Asset: GLB/glTF, or OBJ + MTL + textures (several files or one zip)",
                                 file_count="multiple", type="filepath", elem_id="mesh-files")
            sample = gr.Button("Try the sample: Spot the cow in The Starry Night", size="sm", elem_id="sample")
            style_files = gr.File(label="Style images", file_count="multiple", type="filepath",
                                  file_types=["image"], elem_id="style-files")
            prompt = gr.Textbox(label="Prompt (optional; needs the CLIP ViT-B/32 weights)", elem_id="prompt")
            with gr.Row():
                preset = gr.Dropdown(list(MESH_PRESETS), value="preview", label="Preset", elem_id="preset")
                backbone = gr.Dropdown(list(BACKBONES), value="vgg19", label="Backbone", elem_id="backbone")
            presets = gr.Markdown(preset_table("vgg19"), elem_id="preset-table")
            with gr.Accordion("Options", open=False):
                # text boxes, not number fields: an empty number field submits 0, which is a value, not "default"
                steps = gr.Textbox(label="Steps (empty: the preset's)", elem_id="steps")
                style_weight = gr.Textbox(label="Style weight (empty: the backbone's)")
                content_weight = gr.Textbox(label="Content weight (empty: the backbone's)")
                palette = gr.Textbox(label="Palette: auto, none, or '#aabbcc,#112233'", value="", elem_id="palette")
                palette_file = gr.File(label="Palette image (instead of the colours)", file_count="single",
                                       type="filepath", file_types=["image"], elem_id="palette-file")
                texture_size = gr.Dropdown([None, *TEXTURE_SIZES], value=None, label="Texture size (empty: preset)")
                pattern = gr.Textbox(label="Pattern scale: camera distance in bounding radii (empty: the preset's)")
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="run")
                stop = gr.Button("Stop", elem_id="stop")
                resume = gr.Button("Resume", elem_id="resume")
            message = gr.Markdown("", elem_id="message")
            picker = gr.Dropdown([], label="Jobs (a reload finds them again)", elem_id="jobs")
        with gr.Column(scale=2):
            status = gr.HTML(elem_id="status")
            curve = gr.LinePlot(x="step", y="distance", color="measure", label="Held-out distances (lower is closer)",
                                height=220, elem_id="heldout-plot")
            preview = gr.Image(label="Current renders", type="filepath", interactive=False, elem_id="preview")
            with gr.Row():
                original = gr.Model3D(label="Original", elem_id="original-3d", height=320)
                result = gr.Model3D(label="Result", elem_id="result-3d", height=320)
            before_after = gr.Image(label="Before / after", type="filepath", interactive=False)
            turntable = gr.Image(label="Turntable", type="filepath", interactive=False)
            downloads = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")

    live = [status, preview]
    results = [original, result, before_after, turntable, downloads]

    def show(job_id: str | None, drawn: str | None = None, plotted_for: tuple | None = None) -> list:
        """The job's live parts always; its results only when its status changed since they were drawn (the 3D
        viewers would reload every refresh otherwise), its chart only when it has new points."""
        view = view_job(app.store, app.runner, job_id)
        state = view.status if view else None
        changed = state != drawn
        points = [job_id, len(view.heldout)] if view else None
        chart = _curve(view) if changed or points != plotted_for else gr.skip()
        parts = [*_live(view), chart, *(_results(view) if changed else [gr.skip()] * len(results))]
        return [job_id, state, points, *parts, gr.update(choices=job_choices(app.store), value=job_id)]

    page = [job, shown, plotted, *live, curve, *results, picker]

    def on_run(*fields: object) -> list:
        def start() -> str:  # the form is read inside the guard: a bad number is a message, like a bad upload
            palette_image = _paths(fields[11])
            form = MeshForm(_paths(fields[0]), _paths(fields[1]), str(fields[2] or ""), str(fields[3]),
                            str(fields[4]), form_whole_number(fields[5], "Steps"),
                            form_number(fields[6], "Style weight"), form_number(fields[7], "Content weight"),
                            str(fields[8] or ""), form_whole_number(fields[9], "Texture size"),
                            form_number(fields[10], "Pattern scale"), palette_image[0] if palette_image else None)
            return start_mesh_job(app.store, app.runner, form, app.limits)
        return _guarded(start, show)

    fields = [mesh_files, style_files, prompt, preset, backbone, steps, style_weight, content_weight, palette,
              texture_size, pattern, palette_file]
    run.click(on_run, fields, [*page, message], api_name="run_mesh")
    sample.click(lambda: ([str(p) for p in _with_companions(sample_mesh())], [str(sample_style())]), None,
                 [mesh_files, style_files], api_visibility="private")
    stop.click(lambda job_id: _guarded(lambda: _then(app.runner.stop, job_id), show), job, [*page, message],
               api_name="stop_mesh")
    resume.click(lambda job_id: _guarded(lambda: _then(app.runner.resume, job_id), show), job, [*page, message],
                 api_name="resume_mesh")
    picker.input(show, picker, page, api_name="show_mesh_job")
    gr.Timer(REFRESH_S).tick(show, [job, shown, plotted], page, api_visibility="private")
    blocks.load(lambda: show(_newest(app.store, "mesh")), None, page, api_visibility="private")
    # the estimates follow the runs this machine has done since the page was built
    backbone.change(preset_table, backbone, presets, api_visibility="private")
    blocks.load(preset_table, backbone, presets, api_visibility="private")


def _live(view: JobView | None) -> list:
    return [view.summary_html if view else "", _path(view.preview if view else None)]


def _curve(view: JobView | None) -> pd.DataFrame:
    """The held-out distances of the job's run so far, one line per distance (none for an image job)."""
    return pd.DataFrame(view.heldout if view else [], columns=["step", "measure", "distance"])


def _results(view: JobView | None) -> list:
    if view is None:
        return [None] * 5
    return [_path(view.original_glb), _path(view.glb), _path(view.before_after), _path(view.turntable),
            [str(p) for p in view.downloads] or None]


# ------------------------------------------------------------------------------------------------ image tab


def _image_tab(app: WebApp, blocks: gr.Blocks) -> None:
    job, shown = gr.State(None), gr.State(None)
    with gr.Row():
        with gr.Column(scale=1):
            content = gr.Image(label="Photo", type="filepath", elem_id="content-image")
            style_files = gr.File(label="Style images", file_count="multiple", type="filepath", file_types=["image"])
            blend = gr.Textbox(label="Style weights, in order (e.g. 0.7,0.3; empty: equal)")
            prompt = gr.Textbox(label="Prompt instead of styles (CLIPstyler; needs the CLIP ViT-B/32 weights)")
            with gr.Row():
                method = gr.Dropdown(["gram", "nnfm"], value="gram", label="Style loss")
                backbone = gr.Dropdown(list(BACKBONES), value="vgg19", label="Backbone")
            with gr.Row():
                # no precision or minimum: Gradio's own checks fail with a bare "Error" (nan cannot be rounded);
                # form_number and the config's range give the page's one-line message instead
                size = gr.Number(512, label="Long side (pixels)")
                steps = gr.Textbox(label="Steps (empty: default)")
            run = gr.Button("Run", variant="primary", elem_id="image-run")
            message = gr.Markdown("", elem_id="image-message")
        with gr.Column(scale=2):
            status = gr.HTML()
            slider = gr.ImageSlider(label="Before / after", type="filepath", elem_id="image-slider")
            download = gr.File(label="Download", interactive=False)

    def show(job_id: str | None, drawn: str | None = None) -> list:
        view = view_job(app.store, app.runner, job_id)
        state = view.status if view else None
        if state == drawn:
            return [job_id, state, view.summary_html if view else "", gr.skip(), gr.skip()]
        done = view is not None and view.image is not None
        pair = (str(view.content), str(view.image)) if done else None
        return [job_id, state, view.summary_html if view else "", pair, str(view.image) if done else None]

    def on_run(*fields: object) -> list:
        def start() -> str:
            form = ImageForm(Path(str(fields[0])) if fields[0] else None, _paths(fields[1]), str(fields[2] or ""),
                             str(fields[3] or ""), form_whole_number(fields[4], "Long side"),
                             form_whole_number(fields[5], "Steps"), str(fields[6]), str(fields[7]))
            return start_image_job(app.store, app.runner, form, app.limits)
        return _guarded(start, show)

    page = [job, shown, status, slider, download]
    run.click(on_run, [content, style_files, blend, prompt, size, steps, method, backbone], [*page, message],
              api_name="run_image")
    gr.Timer(REFRESH_S).tick(show, [job, shown], page, api_visibility="private")
    blocks.load(lambda: show(_newest(app.store, "image")), None, page, api_visibility="private")


# ------------------------------------------------------------------------------------------------ helpers


def _guarded(action: Callable[[], str], show: Callable[[str], list]) -> list:
    """Run a button's action; a user error becomes the page's one-line message and disturbs nothing else."""
    try:
        job_id = action()
    except RestyleError as error:
        return [gr.skip()] * len(show(None)) + [f"**{error}**"]
    return [*show(job_id), ""]


def _then(action: Callable[[str], None], job_id: str | None) -> str:
    if not job_id:
        raise RestyleError("no job on the page: run one first, or pick one from the list")
    action(job_id)
    return job_id


def _newest(store: JobStore, kind: str) -> str | None:
    return next((record.id for record in store.list() if record.kind == kind), None)


def _with_companions(mesh: Path) -> list[Path]:
    """The sample OBJ with the MTL and textures beside it, as a user would drop them."""
    return [mesh, *sorted(p for p in mesh.parent.iterdir() if p.suffix.lower() in (".mtl", ".png", ".jpg"))]


def _paths(value: object) -> list[Path]:
    if not value:
        return []
    items = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    return [Path(str(getattr(item, "name", item))) for item in items]


def _path(path: Path | None) -> str | None:
    return str(path) if path else None


def launch(data_dir: Path, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           block: bool = True, limits: UploadLimits | None = None) -> tuple[gr.Blocks, WebApp, str]:
    """Start the worker and serve the app; returns the Blocks, the app state and the local URL. Only the data
    directory's files can be fetched (Gradio's allowed_paths); nothing is shared unless ``share``."""
    store = JobStore(data_dir)
    runner = JobRunner(store)
    runner.start()
    app = WebApp(store, runner, limits or UploadLimits())
    blocks = build(app)
    blocks.queue(default_concurrency_limit=4)
    _, url, _ = blocks.launch(
        server_name=host, server_port=port, share=share, allowed_paths=[str(Path(data_dir).resolve())],
        prevent_thread_lock=not block, ssr_mode=False, theme=theme(), css=CSS, quiet=True,
        max_file_size=app.limits.max_file_bytes, footer_links=[],
    )
    return blocks, app, url
