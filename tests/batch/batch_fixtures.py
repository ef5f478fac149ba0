"""Helpers of the batch tests (imported by the tests and their conftest)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from restyle.batch.jobs import Attempt, JobSpec
from restyle.io.images import save_image
from restyle.run.loop import StepInfo

# tiny options: a run of the box takes seconds on two CPU cores
TINY_DEFAULTS = """
[defaults]
style = {backbone = "patch"}
render = {texture_size = 32, render_size = 64, views_per_step = 2}
palette = {source = "none"}
optim = {iters = 3}
outputs = {checkpoint_every = 0, turntable = "none", sheet_views = 2, preview_size = 32}
"""


def write_style(path: Path, seed: int) -> Path:
    generator = torch.Generator().manual_seed(seed)
    save_image(torch.rand(3, 24, 24, generator=generator), path)
    return path


def write_manifest(folder: Path, body: str, *, defaults: str = TINY_DEFAULTS, name: str = "batch.toml") -> Path:
    path = folder / name
    path.write_text(body + "\n" + defaults)  # top-level keys (assets) must come before any table
    return path

RED_JOB = """
[[job]]
name = "red"
mesh = "box.glb"
styles = ["red.png"]
"""
TWO_JOBS = RED_JOB + """
[[job]]
name = "blue"
mesh = "box.glb"
styles = ["blue.png"]
"""
BROKEN_JOB = """
[[job]]
name = "broken"
mesh = "broken.obj"
styles = ["red.png"]
"""


def texture_bytes(folder: Path) -> dict[str, bytes]:
    """Every job's exported texture PNGs under ``folder``, by job-relative path."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.glob("*/obj/*.png"))}


def pretend_read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Restyle's write checks see ``folder`` as read-only (a real one would not do: tests may run as root)."""
    from restyle.run import preflight

    real_access = preflight.os.access
    monkeypatch.setattr(preflight.os, "access", lambda path, mode: real_access(path, mode) and not
                        (Path(path) == folder and mode & os.W_OK))


def _wait_for(path: Path, deadline_s: float = 300.0) -> None:
    give_up = time.monotonic() + deadline_s
    while not path.exists():
        if time.monotonic() > give_up:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.1)


def execute_killed_once(spec: JobSpec) -> Attempt:
    """``restyle.batch.jobs.execute`` in a pool worker, logging each call's mode to ``OUTDIR/<job>.calls``. On the
    first try, job ``red``'s worker is SIGKILLed at step 2 (after that step's checkpoint) while job ``blue`` is
    under way at its step 2, so that the pool breaks under both."""
    from restyle import api
    from restyle.batch.jobs import execute

    real, out = api.stylize_mesh, spec.output.parent
    killed, blue_under_way = out / "red.killed", out / "blue.at_step_2"

    def stop_at_step_2(info: StepInfo) -> None:
        if info.step != 2 or killed.exists():
            return
        if spec.name == "red":
            _wait_for(blue_under_way)
            killed.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        blue_under_way.touch()
        time.sleep(300)  # until the broken pool terminates this worker too

    def logged(mesh: Path, styles: tuple[Path, ...], output: Path, **kwargs: Any) -> Any:
        mode = "resume" if kwargs.get("resume") else "overwrite" if kwargs.get("overwrite") else "fresh"
        with open(out / f"{spec.name}.calls", "a") as log:
            log.write(mode + "\n")
        return real(mesh, styles, output, on_step=stop_at_step_2, **kwargs)

    api.stylize_mesh = logged
    return execute(spec)
