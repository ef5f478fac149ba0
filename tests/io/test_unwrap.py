"""xatlas unwrapping runs in a child process so that Ctrl-C stops it promptly."""

from __future__ import annotations

import _thread
import threading
import time

import pytest
import trimesh

from restyle.io.unwrap import parametrize


def test_ctrl_c_stops_a_long_unwrap_promptly() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=5)  # 20k faces: about 15 s of xatlas
    timer = threading.Timer(1.0, _thread.interrupt_main)  # what Ctrl-C does to the main thread
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        parametrize(sphere.vertices, sphere.faces)
    assert time.perf_counter() - start < 4.0


def test_small_meshes_unwrap_in_process_with_valid_uvs() -> None:
    box = trimesh.creation.box()
    vmapping, faces, uv = parametrize(box.vertices, box.faces)
    assert faces.shape == (12, 3) and uv.shape == (len(vmapping), 2)
    assert (uv >= 0).all() and (uv <= 1).all()
