"""Uploads for the web tests: a one-triangle OBJ with its MTL and texture, and every way its text can name a file
outside the upload."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image


def _folder(uploads: Path) -> Path:
    """A new folder for one uploaded file, as Gradio makes one per upload."""
    folder = uploads / f"u{len(list(uploads.iterdir()))}"
    folder.mkdir()
    return folder


def _write(uploads: Path, name: str, data: bytes) -> Path:
    path = _folder(uploads) / name
    path.write_bytes(data)
    return path


def _copy(uploads: Path, source: Path, name: str) -> Path:
    return Path(shutil.copyfile(source, _folder(uploads) / name))


QUAD_OBJ = "mtllib {mtllib}\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nusemtl quad\nf 1/1 2/2 3/3\n"
QUAD_MTL = "newmtl quad\nKd 1 1 1\nmap_Kd quad.png\n"


def quad_upload(uploads: Path, *, mtllib: str = "quad.mtl", library: str = "quad.mtl", extra: str = "") -> list[Path]:
    """A one-triangle OBJ, its library (named ``library``, with ``extra`` statements) and its texture, uploaded."""
    texture = uploads / "quad_source.png"
    Image.new("RGB", (4, 4), (200, 40, 40)).save(texture)
    return [_write(uploads, "quad.obj", QUAD_OBJ.format(mtllib=mtllib).encode()),
            _write(uploads, library, (QUAD_MTL + extra).encode()), _copy(uploads, texture, "quad.png")]


# each way an MTL or OBJ can name a server file that an earlier check missed and the loader or exporter followed
ESCAPES = {
    "Map_Bump": dict(extra="Map_Bump {secret}\n"),
    "BUMP": dict(extra="BUMP {secret}\n"),
    "bump": dict(extra="bump -bm 0.5 {secret}\n"),
    "tab": dict(extra="map_Bump\t{secret}\n"),
    "mtllib x.bin": dict(mtllib="x.bin", library="x.bin", extra="map_Bump {secret}\n"),
    "mtllib<TAB>/abs": dict(mtllib="\t{library}"),
    "relative ../": dict(extra="norm ../../secret.png\n"),
    "relative ..\\": dict(extra="disp ..\\..\\secret.png\n"),
    "missing /abs": dict(extra="map_Bump /nonexistent/secret.png\n"),
}


def escaping_upload(uploads: Path, tmp_path: Path, spelling: str) -> list[Path]:
    """The quad with the ``ESCAPES[spelling]`` reference to ``tmp_path/secret.png`` (or a library beside it)."""
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    library = tmp_path / "secret.mtl"
    library.write_text(f"newmtl quad\nmap_Kd {secret}\n")
    spelled = {key: value.format(secret=secret, library=library) for key, value in ESCAPES[spelling].items()}
    return quad_upload(uploads, **spelled)
