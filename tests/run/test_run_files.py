"""No user file or run is destroyed unasked: declared outputs against inputs, folders holding a run, the lock
that keeps two runs apart, and atomic writes that survive SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from restyle.errors import ConfigError
from restyle.io.atomic import write_bytes_atomic
from restyle.run.files import (
    LOCK_NAME,
    OBJ_FOLDER,
    RUN_FILE_NAME,
    acquire_lock,
    locked_output,
    previous_run_files,
    refuse_existing_file,
    refuse_existing_run,
    refuse_overlap,
    remove_previous_run,
)


def test_overlap_names_the_output_and_the_input(tmp_path) -> None:
    palette = tmp_path / "out" / "palette.png"
    with pytest.raises(ConfigError, match=r"palette\.png: output would overwrite an input \(palette image .*\)"):
        refuse_overlap([tmp_path / "out" / "x.glb", palette], [("palette image", palette)])
    refuse_overlap([tmp_path / "a.png"], [("style image", tmp_path / "b.png")])


def test_an_input_inside_an_owned_folder_is_refused(tmp_path) -> None:
    texture = tmp_path / "out" / "obj" / "anything.png"
    with pytest.raises(ConfigError, match="would overwrite an input"):
        refuse_overlap([], [("style image", texture)], owned_folders=[tmp_path / "out" / "obj"])


@pytest.mark.parametrize("marker", ["config.toml", "checkpoint.pt"])
def test_a_folder_holding_a_run_needs_resume_or_overwrite(tmp_path, marker) -> None:
    (tmp_path / marker).write_text("x")
    with pytest.raises(ConfigError, match=f"already holds a run \\({marker}\\).*--resume.*--overwrite"):
        refuse_existing_run(tmp_path, resume=False, overwrite=False)
    refuse_existing_run(tmp_path, resume=True, overwrite=False)
    refuse_existing_run(tmp_path, resume=False, overwrite=True)


def test_an_existing_output_file_needs_overwrite(tmp_path) -> None:
    (tmp_path / "o.png").write_bytes(b"x")
    with pytest.raises(ConfigError, match="o.png: output exists; replace it with --overwrite"):
        refuse_existing_file(tmp_path / "o.png", overwrite=False)
    refuse_existing_file(tmp_path / "o.png", overwrite=True)


def test_a_folder_in_use_by_a_live_process_is_refused(tmp_path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / LOCK_NAME).write_text(f"{sleeper.pid}\n")
        with pytest.raises(ConfigError, match=f"{tmp_path.name}: in use by PID {sleeper.pid}"), \
                locked_output(tmp_path):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    assert (tmp_path / LOCK_NAME).read_text().strip() == str(sleeper.pid)  # never removed by the refused run


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_released(tmp_path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(f"{dead.pid}\n")
    with locked_output(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_lock_is_released_on_errors_and_ctrl_c(tmp_path) -> None:
    for error in (ValueError, KeyboardInterrupt):
        with pytest.raises(error), locked_output(tmp_path):
            raise error
        assert not (tmp_path / LOCK_NAME).exists()
    acquire_lock(tmp_path / LOCK_NAME)  # free again


def test_a_folder_made_for_a_failed_run_is_removed_again(tmp_path) -> None:
    with pytest.raises(ValueError), locked_output(tmp_path / "new"):
        raise ValueError
    assert not (tmp_path / "new").exists()


SLOW_WRITER = """
import sys, time
from pathlib import Path
from restyle.io.atomic import atomic_path
with atomic_path(Path(sys.argv[1])) as tmp:
    with open(tmp, "wb") as handle:
        handle.write(b"half of the new")
        handle.flush()
        print("writing", flush=True)
        time.sleep(30)
"""


def test_sigkill_during_an_atomic_write_keeps_the_old_file_and_the_next_write_cleans_up(tmp_path) -> None:
    target = tmp_path / "checkpoint.pt"
    write_bytes_atomic(target, b"old")
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".checkpoint.")]
    assert target.read_bytes() == b"old" and len(leftovers) == 1
    (tmp_path / ".checkpoint.pt.other.tmp.pt").write_bytes(b"not ours")  # another target's pattern: kept
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".checkpoint.pt.other.tmp.pt", "checkpoint.pt"]


# a run folder of another mesh with 3 slots, a turntable and an OBJ export, and files restyle does not write
PREVIOUS_RUN = ["config.toml", "metrics.jsonl", "checkpoint.pt", "palette.png", "before_after.png", "preview.png",
                "turntable.gif", "crate_stylized.glb", "residual_2.png", "coverage_2.png", "obj/crate_stylized.obj",
                "obj/crate_stylized.mtl", "obj/crate_stylized_Wood.png", "obj/crate_stylized_normal.png"]
NOT_RESTYLES = ["notes.txt", "residual_final.png", "my_turntable.gif", "batch_record.json", LOCK_NAME,
                "obj/reference.png", "stylized.glb"]


def _files(folder: Path, names: list[str]) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")


def test_the_previous_runs_files_are_found_by_name_and_nothing_else(tmp_path: Path) -> None:
    _files(tmp_path, PREVIOUS_RUN + NOT_RESTYLES)
    kept_input = tmp_path / "crate_stylized.glb"  # the next run's mesh: never removed
    assert previous_run_files(tmp_path) == sorted(tmp_path / name for name in PREVIOUS_RUN)
    remove_previous_run(tmp_path, keep=[kept_input])
    left = sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*") if path.is_file())
    assert left == sorted([*NOT_RESTYLES, "crate_stylized.glb"])


def test_a_folder_without_a_run_is_left_alone_and_an_emptied_obj_folder_goes(tmp_path: Path) -> None:
    names = [name for name in PREVIOUS_RUN if name not in ("config.toml", "checkpoint.pt")]
    _files(tmp_path, names)
    assert previous_run_files(tmp_path) == []  # no config.toml or checkpoint.pt: not a run, the user's files
    remove_previous_run(tmp_path)
    assert all((tmp_path / name).is_file() for name in names)
    (tmp_path / "config.toml").write_text("")
    remove_previous_run(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_every_file_a_mesh_run_declares_has_a_run_files_name(tmp_path: Path) -> None:
    from restyle.jobs.mesh.config import MeshConfig
    from restyle.jobs.mesh.outputs import output_files

    files, owned = output_files(MeshConfig(mesh=Path("spot.obj")), tmp_path, 3)
    assert [path for path in files if path.parent != tmp_path or not RUN_FILE_NAME.fullmatch(path.name)] == []
    assert owned == [tmp_path / OBJ_FOLDER]


def test_overwrite_removes_the_previous_runs_files_but_never_an_input(box, tmp_path: Path) -> None:
    from restyle.api import stylize_mesh
    from restyle.io.images import save_image

    style, out = tmp_path / "style.png", tmp_path / "out"
    save_image(torch.rand(3, 32, 32), style)
    tiny = {"style": {"backbone": "patch"}, "render": {"texture_size": 32, "render_size": 64, "views_per_step": 1},
            "optim": {"iters": 1}}
    outputs = {"sheet_views": 1, "preview_size": 32, "checkpoint_every": 0}
    stylize_mesh(box, [style], out, outputs={**outputs, "turntable": "gif"}, **tiny)
    assert (out / "turntable.gif").is_file() and (out / "obj" / "BoxTextured_stylized.obj").is_file()
    (out / "notes.txt").write_text("mine")
    crate = out / "crate_stylized.glb"  # an input named like a previous run's asset
    shutil.copy(box, crate)
    stylize_mesh(crate, [style], out, overwrite=True, outputs=outputs, **tiny)  # no turntable this time
    names = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file())
    assert "turntable.gif" not in names and "BoxTextured_stylized.glb" not in names
    assert not any(name.startswith("obj/BoxTextured") for name in names)
    assert crate.read_bytes() == box.read_bytes() and (out / "notes.txt").read_text() == "mine"
    assert "crate_stylized_stylized.glb" in names and "obj/crate_stylized_stylized.obj" in names
