"""Helpers of the batch tests (imported by the tests and their conftest)."""

from __future__ import annotations

from pathlib import Path

import torch

from restyle.io.images import save_image

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
