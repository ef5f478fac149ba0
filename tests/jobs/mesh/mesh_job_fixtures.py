"""Helpers of the mesh job's tests (imported by the tests and their conftest): the tiny options a test run starts
from, the striped style image most of them use, and a ``MeshJob`` built from options.

Other test folders import this module by putting this folder on ``sys.path`` (see ``tests/run/test_divergence.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from restyle.configs import apply_overrides
from restyle.io.images import save_image
from restyle.jobs.mesh.run import MeshConfig, MeshJob

# a run of the bundled box on these takes seconds on two CPU cores; without the held-out check (a VGG19 pass on
# its views before the first step and after the last), which the tests of restyle.jobs.mesh.heldout turn on
TINY = {
    "render": {"texture_size": 32, "render_size": 64, "views_per_step": 2, "view_pool": 4},
    "optim": {"iters": 2, "log_every": 1},
    "outputs": {"sheet_views": 2, "preview_size": 48, "checkpoint_every": 1, "eval_every": 0},
}
PATCH = {"backbone": "patch"}  # ``style``: the weight-free patch network
NO_PALETTE = {"source": "none"}  # ``palette``: no palette loss


def merge(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` merged in: a dict value (a config section) key by key into the section of the same
    name, any other value (``mesh``, ``styles``, ...) replacing the base's. Neither argument is changed."""
    out = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    for key, value in extra.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


def tiny(**sections: dict) -> dict:
    """``TINY`` with ``sections`` merged in, e.g. ``tiny(style=PATCH, optim={"iters": 5})``."""
    return merge(TINY, sections)


def mesh_job(options: dict, mesh: Path, styles: list[Path], output: Path, **sections: dict) -> MeshJob:
    """A ``MeshJob`` of ``mesh`` and ``styles`` writing to ``output``, on ``options`` with ``sections`` (e.g.
    ``texture={...}``) merged in."""
    overrides = merge(options, {"mesh": str(mesh), "styles": [str(s) for s in styles], "output": str(output),
                                **sections})
    return MeshJob(apply_overrides(MeshConfig(), overrides, source="test"))


def sine_stripes(path: Path, phase: float = 0.0) -> Path:
    """A 64x64 style image of vertical stripes (red-purple on blue) at ``path``; another ``phase`` gives another
    image of the same kind."""
    stripes = (torch.sin(torch.linspace(phase, 30 + phase, 64))[None].expand(64, 64) > 0).float()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.stack([stripes, 0.3 * stripes, 1 - stripes]), path)
    return path
