"""No user file or run is destroyed unasked: declared outputs against inputs, folders holding a run, the lock
that keeps two runs apart, and atomic writes that survive SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from restyle.errors import ConfigError
from restyle.io.atomic import write_bytes_atomic
from restyle.pipelines.run_files import (
    LOCK_NAME,
    acquire_lock,
    locked_output,
    refuse_existing_file,
    refuse_existing_run,
    refuse_overlap,
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
