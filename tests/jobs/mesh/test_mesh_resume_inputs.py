"""`--resume` checks every file the asset was read from, not only the main file: a texture, an .mtl or a glTF's .bin
changed since the run started is refused, naming that file, because the run would go on from another asset."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from mesh_job_fixtures import NO_PALETTE, PATCH, tiny
from PIL import Image

from restyle.api import stylize_mesh
from restyle.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "io"))
from meshes_fixtures import two_material_cube_obj, write_png  # noqa: E402

TINY = tiny(style=PATCH, render={"texture_size": 16, "render_size": 48, "views_per_step": 1, "view_pool": 2},
            optim={"iters": 1}, palette=NO_PALETTE, outputs={"preview_size": 32})


def _change(path: Path) -> None:
    """Another file under the same name that still loads: a PNG with one texel changed; an .mtl or .bin with bytes
    appended (a comment; bytes past every range the glTF's views name)."""
    if path.suffix == ".png":
        pixels = np.array(Image.open(path).convert("RGB"))
        pixels[0, 0] = 255 - pixels[0, 0]
        write_png(path, pixels)
    else:
        path.write_bytes(path.read_bytes() + (b"\0\0\0\0" if path.suffix == ".bin" else b"\n# edited\n"))


@pytest.fixture
def style(tmp_path: Path) -> Path:
    """Sparse 32x32 stripes: this module's own image, in place of conftest's."""
    stripes = np.zeros((32, 32, 3), dtype=np.uint8)
    stripes[:, ::4] = (20, 80, 220)
    return write_png(tmp_path / "style.png", stripes)


@pytest.mark.parametrize(
    ("asset", "companions"),
    [("gltf", ["BoxTextured0.bin", "CesiumLogoFlat.png"]), ("obj", ["cube.mtl", "cube texture.png"])],
)
def test_resume_refuses_a_changed_companion_file_naming_it(assets, style, tmp_path, asset, companions) -> None:
    folder = tmp_path / "asset"
    if asset == "gltf":
        main = Path(shutil.copytree(assets / "meshes/box_textured/gltf_separate", folder)) / "BoxTextured.gltf"
    else:
        main = two_material_cube_obj(folder)
    stylize_mesh(main, [style], tmp_path / "out", **TINY)
    for name in companions:
        original = (folder / name).read_bytes()
        _change(folder / name)
        with pytest.raises(InputError, match=rf"checkpoint\.pt: cannot resume, mesh file {name} is not the file"):
            stylize_mesh(resume=tmp_path / "out")
        (folder / name).write_bytes(original)
    stylize_mesh(resume=tmp_path / "out", optim={"iters": 2})  # with every file as it was, the run goes on
