"""Fixtures of the mesh job's tests; their helpers and tiny options are in ``mesh_job_fixtures``."""

from __future__ import annotations

from pathlib import Path

import pytest
from mesh_job_fixtures import sine_stripes


@pytest.fixture
def style(tmp_path: Path) -> Path:
    """``style.png``: 64x64 stripes, strokes every backbone can see (a module that needs another image overrides
    this fixture)."""
    return sine_stripes(tmp_path / "style.png")
