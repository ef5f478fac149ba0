"""Fixtures: tiny synthetic meshes for the renderer tests."""

from __future__ import annotations

import pytest
from render_meshes import make_cube, make_quad, make_sphere

from restyle.render.geometry import MeshGeometry


@pytest.fixture
def quad() -> MeshGeometry:
    return make_quad()


@pytest.fixture
def cube() -> MeshGeometry:
    return make_cube()


@pytest.fixture
def sphere() -> MeshGeometry:
    return make_sphere()
