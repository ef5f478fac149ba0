"""The one reading of an OBJ's references: the upload check, the loader and the OBJ exporter follow the same files.

The property test writes OBJ/MTL text in every spelling a reader might treat differently (keyword case, tabs and
other whitespace, line breaks only ``str.splitlines`` sees, libraries named ``x.bin``, map options, quotes,
backslashes, absolute paths and ``..``) and records every file the process opens: whenever the check approves an
asset, the loader and the exporter touch nothing it did not approve, and nothing outside the asset's folder.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meshes_fixtures import QUAD_TEXTURE, textured_quad, write_png

from restyle.errors import RestyleError
from restyle.io.asset_references import escaping_reference, inside, references
from restyle.io.meshes import load_mesh
from restyle.io.obj_references import parse_statement, reference_candidates, statement_lines
from restyle.io.obj_text import mtl_text, png_names

# ------------------------------------------------------------------------------------- recording file opens

_opened: list[str] | None = None  # while recording, every path the process opens


def _on_audit(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_on_audit)  # audit hooks cannot be removed; this one costs a comparison while not recording


@contextlib.contextmanager
def _recording() -> Iterator[list[str]]:
    """Every file opened inside the block (by restyle, trimesh and Pillow alike), as the paths given to open."""
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


# ---------------------------------------------------------------------------------------------- the parser


def test_a_statement_splits_at_any_whitespace_and_compares_keywords_in_lower_case() -> None:
    statement = parse_statement(" Map_Bump\t-bm 0.5\tbumps.png ")
    assert (statement.keyword, statement.rest, statement.key) == ("Map_Bump", "-bm 0.5\tbumps.png", "map_bump")
    assert statement.names_file


@pytest.mark.parametrize("keyword", ["map_Kd", "Map_Bump", "MAP_D", "bump", "BUMP", "Disp", "decal", "refl", "NORM"])
def test_every_spelling_of_a_map_statement_names_a_file(keyword: str) -> None:
    assert parse_statement(f"{keyword} x.png").names_file


@pytest.mark.parametrize("keyword", ["Kd", "newmtl", "illum", "#", "mapKd", "bumpy", "map_"])
def test_other_statements_name_no_file(keyword: str) -> None:
    assert not parse_statement(f"{keyword} x.png").names_file


def test_lines_split_wherever_splitlines_splits(tmp_path: Path) -> None:
    path = tmp_path / "a.mtl"
    path.write_text("newmtl a\u2028map_Bump b.png\x0bbump c.png\rdisp d.png\r\nnorm e.png", encoding="utf-8")
    assert list(statement_lines(path)) == ["newmtl a", "map_Bump b.png", "bump c.png", "disp d.png", "norm e.png"]


# ------------------------------------------------------------------------------------- escaping references


def _asset(tmp_path: Path, statement: str, *, library: str = "quad.mtl", mtllib: str | None = None) -> Path:
    """The textured quad, with ``statement`` added to its material and the library renamed to ``library``."""
    obj = textured_quad(tmp_path / "asset")
    mtl = (obj.parent / "quad.mtl").read_text() + statement + "\n"
    (obj.parent / "quad.mtl").unlink()
    (obj.parent / library).write_text(mtl)
    obj.write_text(obj.read_text().replace("mtllib quad.mtl", mtllib or f"mtllib {library}"))
    return obj


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    return write_png(tmp_path / "secret.png", QUAD_TEXTURE)


@pytest.mark.parametrize("statement", [
    "Map_Bump {secret}", "BUMP {secret}", "bump {secret}", "disp\t{secret}", "map_Ks -bm 0.5 {secret}",
    'refl -type sphere "{secret}"', "norm ../secret.png", "decal ..\\secret.png", "map_d sub/../../secret.png",
])  # fmt: skip
def test_a_map_outside_the_folder_is_found_in_any_spelling(tmp_path: Path, secret: Path, statement: str) -> None:
    obj = _asset(tmp_path, statement.format(secret=secret))
    found = escaping_reference(obj, obj.parent)
    assert found is not None and found.source.name == "quad.mtl" and found.path.name == "secret.png"


@pytest.mark.parametrize("library", ["x.bin", "quad.png", "NOSUFFIX"])
def test_a_library_is_read_whatever_its_extension(tmp_path: Path, secret: Path, library: str) -> None:
    obj = _asset(tmp_path, f"map_Bump {secret}", library=library)
    found = escaping_reference(obj, obj.parent)
    assert found is not None and found.source.name == library


@pytest.mark.parametrize("mtllib", ["mtllib\t{library}", "MTLLIB {library}", "mtllib ../{name}", "MtlLib\t\t{library}"])
def test_a_library_outside_the_folder_is_refused_unread(tmp_path: Path, mtllib: str) -> None:
    outside = tmp_path / "elsewhere.mtl"
    outside.write_text("newmtl quad\nmap_Kd quad.png\n")
    obj = _asset(tmp_path, "", mtllib=mtllib.format(library=outside, name=outside.name))
    with _recording() as opened:
        found = escaping_reference(obj, obj.parent)
    assert found is not None and found.source == obj and found.path.name == "elsewhere.mtl"
    assert not any(Path(path).name == "elsewhere.mtl" for path in opened), "the check read the library it refused"


def test_a_missing_absolute_path_is_refused_as_an_existing_one_is(tmp_path: Path, secret: Path) -> None:
    """The answer does not depend on existence: a different one would tell what is on the machine."""
    for target in (secret, tmp_path / "no such file.png"):
        obj = _asset(tmp_path / target.stem, f"map_Bump {target}")
        assert escaping_reference(obj, obj.parent) is not None


def test_names_inside_the_folder_pass(tmp_path: Path) -> None:
    obj = _asset(tmp_path, 'map_Bump -bm 0.5 "quad.png"\nbump .\\quad.png\ndisp C:\\Users\\me\\quad.png')
    assert escaping_reference(obj, obj.parent) is None
    assert {reference.source.name for reference in references(obj)} == {"quad.obj", "quad.mtl"}


def test_the_exporter_copies_bump_maps_beside_the_export(tmp_path: Path) -> None:
    """A ``bump`` (or ``BUMP``) map is a file the exporter copies: the reason the check must know the keyword."""
    obj = _asset(tmp_path, "bump -bm 0.5 bumps.png\nBUMP\tbumps.png")
    write_png(obj.parent / "bumps.png", QUAD_TEXTURE)
    mesh = load_mesh(obj, unwrap=False)
    text, copied = mtl_text(mesh, png_names("out", mesh.slots), "out")
    assert copied == {"out_bumps.png": obj.parent / "bumps.png"}
    assert "bump -bm 0.5 out_bumps.png" in text and "BUMP out_bumps.png" in text


# ------------------------------------------------------------------------------------------ the property


@dataclass(frozen=True)
class _Layout:
    root: Path  # the asset's folder: what an upload is
    outside: Path  # a sibling holding a secret image and a library that names it


_MAP_KEYWORDS = ["map_Kd", "map_Bump", "bump", "disp", "decal", "refl", "norm", "map_Ks", "map_d", "illum", "Ns"]
_SPACES = [" ", "\t", "  ", " \t ", "\x0c", "\xa0", "\x1f"]
_BREAKS = ["\n", "\r\n", "\r", "\u2028", "\x0b", "\x85", "\x1c"]
_OPTIONS = ["", "-bm 0.5 ", "-clamp on ", "-o 1 1 1 ", "-imfchan l "]


def _targets(layout: _Layout) -> list[str]:
    secret = layout.outside / "secret.png"
    near = ["quad.png", "bumps.png", "missing.png", "C:\\somewhere\\bumps.png", '"bumps.png"']
    far = [f'"{secret}"', str(secret), "../outside/secret.png", "..\\outside\\secret.png",
           "sub/../../outside/secret.png", "/nonexistent/secret.png"]
    return near * 2 + far  # more names inside than out: a check that misses one spelling of those shows it


def _libraries(layout: _Layout) -> list[str]:
    near = ["lib.mtl", "lib.bin", "lib.png"]
    return near * 3 + [str(layout.outside / "lib.mtl"), "../outside/lib.mtl", "missing.mtl"]


def _random_case(draw: st.DrawFn, word: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(word), max_size=len(word)))
    return "".join(char.upper() if flip else char.lower() for char, flip in zip(word, flips, strict=True))


@st.composite
def _statements(draw: st.DrawFn, targets: list[str]) -> str:
    keyword = _random_case(draw, draw(st.sampled_from(_MAP_KEYWORDS)))
    space = draw(st.sampled_from(_SPACES))
    return f"{keyword}{space}{draw(st.sampled_from(_OPTIONS))}{draw(st.sampled_from(targets))}"


def _write_asset(layout: _Layout, draw: st.DrawFn) -> Path:
    """An OBJ naming one or two libraries, each a material ``m`` with generated map statements."""
    layout.outside.mkdir()
    write_png(layout.outside / "secret.png", QUAD_TEXTURE)
    (layout.outside / "lib.mtl").write_text("newmtl m\nmap_Kd secret.png\nmap_Bump secret.png\nbump secret.png\n")
    obj = textured_quad(layout.root)
    write_png(layout.root / "bumps.png", QUAD_TEXTURE)
    body = draw(st.lists(_statements(_targets(layout)), max_size=6))
    lines = ["newmtl m", "Kd 1 1 1", *body]
    text = "".join(line + draw(st.sampled_from(_BREAKS)) for line in lines)
    for name in ("lib.mtl", "lib.bin", "lib.png"):
        (layout.root / name).write_text(text, encoding="utf-8")
    names = draw(st.lists(st.sampled_from(_libraries(layout)), min_size=1, max_size=2))
    # trimesh, whose materials the loader pairs with the MTL's, reads only a lower-case mtllib: mostly that
    mtllibs = [f"{_mtllib(draw)}{draw(st.sampled_from(_SPACES))}{name}" for name in names]
    geometry = obj.read_text().replace("mtllib quad.mtl\n", "").replace("usemtl quad", "usemtl m")
    obj.write_text("\n".join(mtllibs) + "\n" + geometry, encoding="utf-8")
    return obj


def _mtllib(draw: st.DrawFn) -> str:
    return "mtllib" if draw(st.integers(0, 3)) else _random_case(draw, "mtllib")


def _approved(obj: Path) -> set[Path]:
    """Every file an approved asset's references can lead to: both places each name is looked for."""
    candidates = {c for reference in references(obj) for c in reference_candidates(reference.source.parent,
                                                                                       reference.name)}
    return {candidate.resolve() for candidate in candidates if candidate.is_file()}


def _loaded_and_copied(obj: Path) -> tuple[set[Path], set[Path]]:
    """The files the loader records reading (libraries, textures) and those the exporter would copy."""
    try:
        mesh = load_mesh(obj, unwrap=False)
        copied = set(mtl_text(mesh, png_names("out", mesh.slots), "out")[1].values())
    except RestyleError:
        return set(), set()  # refused: whatever it had opened by then is checked through the recorded opens
    return set(mesh.source_files), {path.resolve() for path in copied}


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_the_loader_and_exporter_never_reach_past_what_the_check_approved(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        layout = _Layout(Path(folder) / "upload", Path(folder) / "outside")
        obj = _write_asset(layout, data.draw)
        with _recording() as opened_by_check:
            escaping = escaping_reference(obj, layout.root)
        assert not any(Path(path).resolve().is_relative_to(layout.outside) for path in opened_by_check)
        if escaping is not None:
            assert not inside(layout.root, escaping.path)
            return
        approved = _approved(obj)
        with _recording() as opened:
            read, copied = _loaded_and_copied(obj)
        assert read <= approved | {obj.resolve()}, "the loader read a file the check never approved"
        assert copied <= approved, "the exporter copies a file the check never approved"
        leaked = [path for path in opened if Path(path).resolve().is_relative_to(Path(folder).resolve())
                  and not Path(path).resolve().is_relative_to(layout.root.resolve())]
        assert not leaked, f"opened outside the approved folder: {leaked}"
