"""Fixtures of the batch tests: a folder with the bundled box, a broken asset, style images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from batch_fixtures import write_style


@pytest.fixture()
def workspace(tmp_path: Path, assets: Path) -> Path:
    """``box.glb``, ``broken.obj`` (text, not a mesh), ``red.png`` and ``blue.png`` in a fresh folder."""
    shutil.copy(assets / "meshes" / "box_textured" / "BoxTextured.glb", tmp_path / "box.glb")
    (tmp_path / "broken.obj").write_text("this is not a mesh\n")
    write_style(tmp_path / "red.png", 1)
    write_style(tmp_path / "blue.png", 2)
    return tmp_path
