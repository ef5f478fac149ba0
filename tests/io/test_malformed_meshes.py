"""Property tests: malformed OBJ, MTL and glTF text is either loaded or refused with a one-line InputError, never
a traceback of another kind, and the files given are never modified."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from meshes_fixtures import textured_quad

from restyle.errors import RestyleError
from restyle.io.meshes import TexturedMesh, load_mesh

REPO = Path(__file__).resolve().parents[2]
BOX_GLTF = REPO / "assets/meshes/box_textured/gltf_separate"

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Tokens a broken exporter or a hand edit could leave in an OBJ/MTL line.
TOKENS = st.sampled_from([
    "v", "vt", "vn", "f", "usemtl", "mtllib", "newmtl", "map_Kd", "Kd", "d", "Tr", "o", "g", "s", "#",
    "1", "-1", "0", "2/2/2", "1//1", "99999", "-99999", "nan", "inf", "1e309", "x", "../../etc/passwd",
    "missing.png", "quad.png", "quad.mtl", "\t", "", "3/", "/", "1.5.2", "-clamp", "on",
])


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _load_or_refuse(path: Path) -> None:
    """The contract: a TexturedMesh, or a RestyleError with a one-line message naming the file."""
    try:
        mesh = load_mesh(path, unwrap=False)
    except RestyleError as exc:
        message = str(exc)
        assert "\n" not in message
        assert path.name in message or str(path.parent.name) in message or "mtl" in message.lower()
        return
    assert isinstance(mesh, TexturedMesh)


def _mutate_lines(text: str, data: st.DataObject) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        index = data.draw(st.integers(0, max(len(lines) - 1, 0)))
        if action == "delete" and lines:
            del lines[index]
        elif action == "insert":
            lines.insert(index, " ".join(data.draw(st.lists(TOKENS, min_size=1, max_size=5))))
        elif action == "replace" and lines:
            words = lines[index].split()
            if words:
                words[data.draw(st.integers(0, len(words) - 1))] = data.draw(TOKENS)
            lines[index] = " ".join(words)
        elif action == "truncate":
            joined = "\n".join(lines)
            return joined[: data.draw(st.integers(0, len(joined)))]
    return "\n".join(lines) + "\n"


@SETTINGS
@given(data=st.data(), target=st.sampled_from(["quad.obj", "quad.mtl"]))
def test_malformed_obj_or_mtl_is_loaded_or_refused_in_one_line(tmp_path_factory, data, target) -> None:
    folder = textured_quad(tmp_path_factory.mktemp("quad")).parent
    path = folder / target
    path.write_text(_mutate_lines(path.read_text(), data))
    before = _digest(folder)
    _load_or_refuse(folder / "quad.obj")
    assert _digest(folder) == before


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _set(document: object, path: tuple, value: object) -> None:
    node = document
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value


_DELETE = object()


@SETTINGS
@given(data=st.data())
def test_malformed_gltf_is_loaded_or_refused_in_one_line(tmp_path_factory, data) -> None:
    folder = tmp_path_factory.mktemp("gltf")
    for file in BOX_GLTF.iterdir():
        shutil.copy(file, folder / file.name)
    path = folder / "BoxTextured.gltf"
    document = json.loads(path.read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(document)
        target = data.draw(st.sampled_from(paths))
        value = data.draw(st.one_of(JSON_VALUES, st.just(_DELETE)))
        _set(document, target, value)
    text = json.dumps(document)
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, len(text)))]
    path.write_text(text)
    before = _digest(folder)
    _load_or_refuse(path)
    assert _digest(folder) == before


@pytest.mark.parametrize("payload", [b"", b"\0" * 64, b"glTF" + b"\xff" * 40, b"v 1 2\nf 1 2 3\n"])
def test_garbage_files_are_refused_in_one_line(tmp_path, payload) -> None:
    for suffix in (".obj", ".glb", ".gltf", ".ply"):
        path = tmp_path / f"broken{suffix}"
        path.write_bytes(payload)
        _load_or_refuse(path)
        assert path.read_bytes() == payload
