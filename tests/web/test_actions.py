"""The web form before any job exists: a refused upload, number or palette is one line and leaves no job folder;
the palette is auto, none, colours or an uploaded image, never a path on the server."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image
from upload_fixtures import ESCAPES, escaping_upload, quad_upload

from restyle import api
from restyle.errors import ConfigError, RestyleError
from restyle.run.timings import TIMINGS_ENV, record_step_seconds
from restyle.web.actions import (
    MESH_PRESETS,
    PALETTE_HINT,
    ImageForm,
    MeshForm,
    form_number,
    form_whole_number,
    palette_source,
    preset_table,
    start_image_job,
    start_mesh_job,
)
from restyle.web.jobs import PALETTE_INPUT, JobRunner, JobStore
from restyle.web.uploads import UploadError


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "data")


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    Image.new("RGB", (8, 8), (20, 90, 200)).save(path)
    return path


def _mesh_form(uploads: Path, style: Path, **fields: object) -> MeshForm:
    return MeshForm(quad_upload(uploads), [style], preset="draft", backbone="patch", **fields)


def _refused(store: JobStore, start, kind: type[RestyleError] = ConfigError) -> str:
    """``start()`` is refused with a one-line ``kind`` and no job folder is left; the message."""
    with pytest.raises(kind) as caught:
        start()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert list(store.root.iterdir()) == [], "a refused form left a job folder"
    return message


# ------------------------------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("spelling", ESCAPES)
def test_an_asset_naming_a_file_outside_its_upload_makes_no_job(
    store: JobStore, uploads: Path, tmp_path: Path, style: Path, spelling: str
) -> None:
    form = MeshForm(escaping_upload(uploads, tmp_path, spelling), [style], preset="draft", backbone="patch")
    message = _refused(store, lambda: start_mesh_job(store, JobRunner(store), form), UploadError)
    assert message.startswith("quad.obj: ") and "outside the upload" in message
    assert str(tmp_path) not in message


# ------------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("field, value, shown", [
    ("steps", -1, "Steps must be >= 0"),
    ("steps", 10**9, "Steps must be >= 0 and <= "),
    ("style_weight", -0.5, "Style weight must be >= 0"),
    ("content_weight", math.nan, "Content weight must be a finite number"),
    ("style_weight", math.inf, "Style weight must be a finite number"),
    ("texture_size", 0, "Texture size must be >= 1"),
    ("pattern_scale", 0.5, "Pattern scale must be > 1"),
    ("pattern_scale", -math.inf, "Pattern scale must be a finite number"),
])  # fmt: skip
def test_a_mesh_number_out_of_its_range_makes_no_job(
    store: JobStore, uploads: Path, style: Path, field: str, value: float, shown: str
) -> None:
    form = _mesh_form(uploads, style, **{field: value})
    assert shown in _refused(store, lambda: start_mesh_job(store, JobRunner(store), form))


@pytest.mark.parametrize("fields, shown", [
    ({"size": 0}, "Long side must be >= 1"),
    ({"size": 10**8}, "Long side must be >= 1 and <= "),
    ({"steps": -3}, "Steps must be >= 0"),
    ({"style_blend": "0.5,nan"}, "Style weights must be a finite number"),
    ({"style_blend": "1,x"}, "Style weights take comma-separated numbers"),
])  # fmt: skip
def test_an_image_number_out_of_its_range_makes_no_job(
    store: JobStore, style: Path, fields: dict, shown: str
) -> None:
    form = ImageForm(style, [style], **fields)
    assert shown in _refused(store, lambda: start_image_job(store, JobRunner(store), form))


@pytest.mark.parametrize("text, problem", [
    ("nan", "is not a finite number"), ("-inf", "is not a finite number"), ("1e400", "is not a finite number"),
    ("many", "is not a number"), ("2.5", "is not a whole number"),
])  # fmt: skip
def test_a_form_number_is_finite_and_whole_where_it_counts(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^Steps: '{text}' {problem}$"):
        form_whole_number(f" {text} ", "Steps")


def test_form_numbers_that_are_fine() -> None:
    assert form_whole_number("1e3", "Steps") == 1000 and form_whole_number(512.0, "Long side") == 512
    assert form_number(" 0.25 ", "Style weight") == 0.25 and form_number("", "Steps") is None
    assert form_number(None, "Steps") is None


# ------------------------------------------------------------------------------------------------- palette


def test_the_palette_is_a_keyword_or_colours_written_out_again() -> None:
    assert palette_source("") is None and palette_source(" Auto ") == "auto" and palette_source("NONE") == "none"
    assert palette_source("#AbC, 112233;#fff") == "#aabbcc,#112233,#ffffff"


def test_a_palette_path_is_never_looked_up(
    store: JobStore, uploads: Path, style: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An image on the server and a path to nothing get the same message: neither is read, nor told apart."""
    server_image = tmp_path / "server_palette.png"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(server_image)
    monkeypatch.chdir(tmp_path)
    Path("abc").write_bytes(server_image.read_bytes())  # a file in the server's folder whose name is a hex colour
    messages = set()
    for text in (str(server_image), str(tmp_path / "missing.png"), "../server_palette.png", "palette.png"):
        form = _mesh_form(uploads, style, palette=text)
        messages.add(_refused(store, lambda form=form: start_mesh_job(store, JobRunner(store), form)))
    assert messages == {PALETTE_HINT}
    assert palette_source("abc") == "#aabbcc" and not Path("#aabbcc").exists()  # the colour, not the file


def test_colours_and_a_palette_image_together_make_no_job(
    store: JobStore, uploads: Path, style: Path
) -> None:
    form = _mesh_form(uploads, style, palette="#aabbcc", palette_file=style)
    assert "not both" in _refused(store, lambda: start_mesh_job(store, JobRunner(store), form))


def test_an_uploaded_palette_image_is_staged_and_becomes_the_source(
    store: JobStore, uploads: Path, style: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}

    def stylize(mesh, styles, output, **options):
        seen.update(options)
        raise ConfigError("stopped here: the options are what this test is after")

    monkeypatch.setattr(api, "stylize_mesh", stylize)
    job_id = start_mesh_job(store, runner := JobRunner(store), _mesh_form(uploads, style, palette_file=style))
    record = store.get(job_id)
    assert record.inputs[PALETTE_INPUT] == "inputs/palette/style.png"
    assert "source" not in record.options.get("palette", {})  # a path is the job's to set, from its own folder
    runner.start()
    try:
        assert runner.wait(job_id, timeout=300).status == "failed"
    finally:
        runner.shutdown()
    assert seen["palette"]["source"] == str(store.folder(job_id) / "inputs" / "palette" / "style.png")


# ------------------------------------------------------------------------------------------------- presets


def test_the_preset_table_states_each_presets_steps_sizes_and_time_here(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(TIMINGS_ENV, str(tmp_path / "timings.json"))
    resolved = {name: api.resolved_config(api.mesh_config(preset=name, style={"backbone": "vgg19"}))
                for name in api.MESH_PRESETS}
    table = preset_table("vgg19").splitlines()
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]] for line in table[2:]}
    assert list(rows) == list(api.MESH_PRESETS) == list(MESH_PRESETS)  # every preset, from the one dict
    for name, config in resolved.items():
        render = config.render
        assert rows[name][:4] == [f"{config.optim.iters:,}", f"{render.render_size} px",
                                  f"{render.texture_size} px", str(render.views_per_step)]
        assert rows[name][4] == "not measured on this machine yet"
    first, config = next(iter(resolved.items()))
    key = api.timing_key(config.device, config.style, config.render, config.optim)
    record_step_seconds(key, 2.0, 50)
    measured = {line.split("|")[1].strip(): line for line in preset_table("vgg19").splitlines()[2:]}
    assert "(2 s/step, measured here)" in measured[first]
