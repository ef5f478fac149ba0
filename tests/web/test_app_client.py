"""``restyle web`` through Gradio's own client: a mesh job from upload to a valid GLB, a bad upload answered with a
short message, an image job, and a server that serves the data directory's files only."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

FAST = {"preset": "draft", "backbone": "patch"}  # jobs that finish in seconds on 2 cores
# what run_mesh / show_mesh_job return, the page's State values left out by the client
STATUS, PREVIEW, CURVE, ORIGINAL, RESULT, BEFORE_AFTER, TURNTABLE, DOWNLOADS, PICKER = range(9)


@pytest.fixture(scope="module")
def client(web_app) -> Client:
    return Client(web_app.url, verbose=False, download_files=False)


def _run_mesh(client: Client, mesh: list[Path], styles: list[Path], steps: int = 3) -> tuple:
    return client.predict(
        [handle_file(str(p)) for p in mesh], [handle_file(str(p)) for p in styles], "", FAST["preset"],
        FAST["backbone"], str(steps), "", "", "", 128, "", None, api_name="/run_mesh",
    )


def _path(value: object) -> Path:
    """A file output as the client returns it: a path, or a FileData dict (possibly wrapped in an update)."""
    while isinstance(value, dict):
        value = value.get("value", value.get("path"))
    return Path(str(value))


def _path_list(value: object) -> list[object]:
    return value.get("value", []) if isinstance(value, dict) else list(value)


def _job_id(outputs: tuple) -> str:
    picked = outputs[PICKER]
    return picked["value"] if isinstance(picked, dict) else picked


def test_a_mesh_job_from_upload_to_a_valid_glb(client, web_app, assets, style_image, gltf_validator) -> None:
    outputs = _run_mesh(client, [assets / "meshes" / "box_textured" / "BoxTextured.glb"], [style_image])
    assert outputs[-1] == ""  # no message: the uploads were good
    job_id = _job_id(outputs)
    record = web_app.app.runner.wait(job_id, timeout=300)
    assert record.status == "done", record.error
    shown = client.predict(job_id, api_name="/show_mesh_job")
    assert "Done" in shown[STATUS] and "step 3 / 3" in shown[STATUS]
    assert "held-out gram" in shown[STATUS]  # the run's check, before its first step and after its last
    curve = shown[CURVE]  # the chart beside the progress: each distance by step
    assert curve["columns"] == ["step", "measure", "distance"]
    assert sorted({(row[0], row[1]) for row in curve["data"]}) == [
        (step, name) for step in (0, 3) for name in ("content", "gram", "nnfm")]
    glb = _path(shown[RESULT])
    job_glb = web_app.app.store.folder(job_id) / "out" / "BoxTextured_stylized.glb"
    assert glb.read_bytes() == job_glb.read_bytes()  # the job's own result (Gradio serves it from its cache)
    report = gltf_validator(glb)
    assert report["issues"]["numErrors"] == 0
    names = {_path(item).name for item in _path_list(shown[DOWNLOADS])}
    assert {"BoxTextured_stylized.glb", "obj.zip", "config.toml"} <= names


def test_an_obj_with_its_mtl_and_texture_as_separate_files(client, web_app, assets, style_image, tmp_path) -> None:
    spot = assets / "meshes" / "spot"
    files = [shutil.copy(p, tmp_path / p.name) for p in sorted(spot.iterdir()) if p.suffix in (".obj", ".mtl", ".png")]
    outputs = _run_mesh(client, [Path(p) for p in files], [style_image], steps=1)
    assert outputs[-1] == ""
    record = web_app.app.runner.wait(_job_id(outputs), timeout=300)
    assert record.status == "done", record.error


def test_a_bad_upload_is_a_short_message_and_starts_nothing(client, web_app, style_image, tmp_path) -> None:
    fake = tmp_path / "model.obj"
    fake.write_text("this is not a mesh\n" * 3)
    jobs = web_app.data_dir / "jobs"
    before = set(jobs.iterdir()) if jobs.exists() else set()
    outputs = _run_mesh(client, [fake], [style_image])
    message = outputs[-1]
    assert "model.obj" in message and "Traceback" not in message and str(tmp_path) not in message
    assert len(message.strip().splitlines()) == 1
    assert set(jobs.iterdir()) == before  # no job queued, and no half-made job folder left behind


def test_a_bad_number_is_a_message_too(client, assets, style_image) -> None:
    outputs = client.predict(
        [handle_file(str(assets / "meshes" / "box_textured" / "BoxTextured.glb"))], [handle_file(str(style_image))],
        "", "draft", "patch", "many", "", "", "", None, "", None, api_name="/run_mesh",
    )
    assert "'many' is not a number" in outputs[-1]


@pytest.mark.parametrize("steps, style_weight, pattern, palette, shown", [
    ("nan", "", "", "", "Steps: 'nan' is not a finite number"),
    ("3", "inf", "", "", "Style weight: 'inf' is not a finite number"),
    ("3", "-1", "", "", "Style weight must be >= 0"),
    ("3", "", "0.5", "", "Pattern scale must be > 1"),
    ("3", "", "", "/etc/passwd", "Palette: use auto, none or colours"),
])  # fmt: skip
def test_a_bad_number_or_palette_is_one_line_and_makes_no_job(
    client, web_app, assets, style_image, steps, style_weight, pattern, palette, shown
) -> None:
    """Refused before a job folder exists, with the field's name; never Gradio's bare "Error" and a traceback."""
    jobs = web_app.data_dir / "jobs"
    before = set(jobs.iterdir())
    outputs = client.predict(
        [handle_file(str(assets / "meshes" / "box_textured" / "BoxTextured.glb"))], [handle_file(str(style_image))],
        "", "draft", "patch", steps, style_weight, "", palette, None, pattern, None, api_name="/run_mesh",
    )
    assert shown in outputs[-1] and len(outputs[-1].strip().splitlines()) == 1
    assert set(jobs.iterdir()) == before


@pytest.mark.parametrize("size, shown", [("nan", "Long side: 'nan' is not a finite number"),
                                         (0, "Long side must be >= 1"), (2.5, "Long side: '2.5' is not a whole")])
def test_a_bad_image_size_is_one_line_and_makes_no_job(client, web_app, assets, style_image, size, shown) -> None:
    jobs = web_app.data_dir / "jobs"
    before = set(jobs.iterdir())
    outputs = client.predict(
        handle_file(str(assets / "content" / "cc0_chelsea_cat.png")), [handle_file(str(style_image))], "", "",
        size, "3", "nnfm", "patch", api_name="/run_image",
    )
    assert shown in outputs[-1]
    assert set(jobs.iterdir()) == before


def test_an_image_job(client, web_app, assets, style_image) -> None:
    outputs = client.predict(
        handle_file(str(assets / "content" / "cc0_chelsea_cat.png")), [handle_file(str(style_image))], "", "",
        48, "3", "nnfm", "patch", api_name="/run_image",
    )
    assert outputs[-1] == ""
    records = [r for r in web_app.app.store.list() if r.kind == "image"]
    record = web_app.app.runner.wait(records[0].id, timeout=300)
    assert record.status == "done", record.error
    assert (web_app.app.store.folder(record.id) / "out.png").exists()


@pytest.mark.parametrize("path", ["/etc/passwd", "{repo}/README.md", "{data}/../outside.txt"])
def test_only_the_data_directory_is_served(web_app, path, assets) -> None:
    outside = web_app.data_dir.parent / "outside.txt"
    outside.write_text("not for the web")
    target = path.format(repo=assets.parent, data=web_app.data_dir)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{web_app.url}gradio_api/file={target}", timeout=30)
    assert refused.value.code in (403, 404)


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_the_web_command_is_local_unless_told_and_stops_its_jobs(run_cli, monkeypatch, tmp_path, host, warned) -> None:
    """``restyle web``: localhost and no share link by default, a warning for any other host, and Ctrl-C shuts the
    worker down (running jobs write their checkpoint)."""
    import time
    from types import SimpleNamespace

    import restyle.web.app as web_module

    seen: dict[str, object] = {}
    runner = SimpleNamespace(shutdown=lambda: seen.update(shutdown=True))

    def fake_launch(data_dir, **options):
        seen.update(options, data_dir=data_dir)
        return None, SimpleNamespace(runner=runner), "http://127.0.0.1:7860/"

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(web_module, "launch", fake_launch)
    monkeypatch.setattr(time, "sleep", interrupt)
    code, stdout, err = run_cli("web", "--host", host, "--data-dir", tmp_path / "data")
    assert code == 130 and seen["shutdown"] is True
    assert seen["host"] == host and seen["share"] is False and seen["port"] == 7860
    assert ("warning: listening on" in err) is warned and "http://127.0.0.1:7860/" in stdout
