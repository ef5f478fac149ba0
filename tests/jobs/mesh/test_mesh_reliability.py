"""`restyle mesh` never destroys a user file or run unasked, and its checkpoints are safe and belong to their run:
overlaps, folders holding a run, the folder lock, checkpoint provenance and damage, and SIGKILL then --resume."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mesh_job_fixtures import PATCH, sine_stripes, tiny

from restyle.api import stylize_mesh
from restyle.cli import app
from restyle.errors import ConfigError, InputError
from restyle.run.files import LOCK_NAME

TINY = tiny(style=PATCH)
KILL_ITERS = 6


def test_a_palette_image_is_never_overwritten_by_the_palette_swatch(box, style, tmp_path) -> None:
    palette = sine_stripes(tmp_path / "out" / "palette.png", 1.0)
    before = palette.read_bytes()
    with pytest.raises(ConfigError, match=r"palette\.png: output would overwrite an input \(palette image"):
        stylize_mesh(box, [style], tmp_path / "out", palette={"source": str(palette)}, **TINY)
    assert palette.read_bytes() == before


@pytest.mark.parametrize("name", ["before_after.png", "residual_0.png", "obj/mine.png"])
def test_a_style_image_named_like_an_output_is_refused(box, tmp_path, name) -> None:
    style = sine_stripes(tmp_path / "out" / name)
    with pytest.raises(ConfigError, match=r"output would overwrite an input \(style image"):
        stylize_mesh(box, [style], tmp_path / "out", **TINY)


def test_a_finished_run_is_kept_unless_overwrite_and_overwrite_is_not_saved(box, style, tmp_path) -> None:
    out = tmp_path / "out"
    stylize_mesh(box, [style], out, **TINY)
    first = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run .*--resume.*--overwrite"):
        stylize_mesh(box, [style], out, **TINY)
    assert (out / "checkpoint.pt").read_bytes() == first
    stylize_mesh(box, [style], out, overwrite=True, **{**TINY, "optim": {"iters": 1}})
    assert "overwrite = false" in (out / "config.toml").read_text()
    assert not (out / LOCK_NAME).exists()


def test_a_folder_in_use_is_refused_in_one_line(box, style, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (out / LOCK_NAME).write_text(f"{sleeper.pid}\n")
        with pytest.raises(ConfigError, match=f"out: in use by PID {sleeper.pid}"):
            stylize_mesh(box, [style], out, **TINY)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_resume_refuses_another_runs_checkpoint(box, style, tmp_path) -> None:
    stylize_mesh(box, [style], tmp_path / "a", **TINY)
    stylize_mesh(box, [sine_stripes(tmp_path / "other.png", 2.0)], tmp_path / "b", **TINY)
    (tmp_path / "a" / "checkpoint.pt").write_bytes((tmp_path / "b" / "checkpoint.pt").read_bytes())
    with pytest.raises(InputError, match=r"checkpoint\.pt: cannot resume, style 1 is not the file this run"):
        stylize_mesh(resume=tmp_path / "a")
    with pytest.raises(InputError, match=r"cannot resume, optim\.lr was .* and is now 0\.5"):
        stylize_mesh(resume=tmp_path / "b", optim={"lr": 0.5})


@pytest.mark.parametrize("damage", ["truncated", "garbage", "pickle"])
def test_a_damaged_checkpoint_is_a_one_line_error(box, style, tmp_path, damage) -> None:
    stylize_mesh(box, [style], tmp_path / "out", **TINY)
    path = tmp_path / "out" / "checkpoint.pt"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif damage == "garbage":
        path.write_bytes(os.urandom(3000))
    else:  # an arbitrary object: weights_only refuses to build it
        torch.save({"provenance": {"format": 1}, "state": random.Random(0)}, path)
    with pytest.raises(InputError, match=r"checkpoint\.pt: cannot resume") as caught:
        stylize_mesh(resume=tmp_path / "out")
    assert "\n" not in str(caught.value)


# ------------------------------------------------------------------------------------ SIGKILL, then --resume


def _cli_args(box: Path, style: Path, out: Path, config: Path) -> list[str]:
    return ["mesh", str(box), "-s", str(style), "-o", str(out), "-c", str(config), "-q"]


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory, assets: Path) -> tuple[Path, Path, Path, bytes]:
    """The box, a style, the tiny config, and the texture of an uninterrupted run (made once: it is slow)."""
    folder = tmp_path_factory.mktemp("kill")
    box, style = assets / "meshes" / "box_textured" / "BoxTextured.glb", sine_stripes(folder / "style.png")
    config = _kill_config(folder)
    app(_cli_args(box, style, folder / "straight", config), standalone_mode=False)
    return box, style, config, _texture_png(folder / "straight")


def _kill_config(folder: Path) -> Path:
    path = folder / "tiny.toml"
    path.write_text(
        '[style]\nbackbone = "patch"\n[render]\ntexture_size = 32\nrender_size = 64\nviews_per_step = 2\n'
        f"view_pool = 4\n[optim]\niters = {KILL_ITERS}\nlog_every = 1\n"
        "[outputs]\ncheckpoint_every = 1\nsheet_views = 2\npreview_size = 48\n"
    )
    return path


def _texture_png(out: Path) -> bytes:
    (png,) = (out / "obj").glob("*.png")
    return png.read_bytes()


@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, kill_setup, seed) -> None:
    box, style, kill_config, straight = kill_setup
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.Popen([sys.executable, "-m", "restyle", *_cli_args(box, style, out, kill_config)], env=env,
                           stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.pt").exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0.0, 0.5))  # lands in a step or in a checkpoint write
    killed = run.poll() is None
    run.send_signal(signal.SIGKILL)
    run.wait()
    if killed:
        assert (out / LOCK_NAME).exists()  # left by the dead process, taken over by the resume
    app(["mesh", "--resume", str(out), "-q"], standalone_mode=False)
    assert _texture_png(out) == straight
    assert not (out / LOCK_NAME).exists()
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
