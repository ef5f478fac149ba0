"""xatlas unwrapping runs in a child process so that Ctrl-C stops it promptly."""

from __future__ import annotations

import _thread
import multiprocessing
import os
import signal
import threading

import numpy as np
import pytest
import trimesh
from meshes_fixtures import uv_less_obj

from restyle.errors import InputError
from restyle.io import unwrap
from restyle.io.meshes import load_mesh
from restyle.io.unwrap import parametrize


def test_ctrl_c_stops_a_long_unwrap_promptly(monkeypatch, request) -> None:
    """Ctrl-C during a 15-second unwrap kills the xatlas process mid-unwrap (a Ctrl-C that waited for the
    unwrap to finish would kill nothing) and leaves no process behind."""
    killed = []
    original_kill = multiprocessing.process.BaseProcess.kill

    def kill(process: multiprocessing.process.BaseProcess) -> None:
        killed.append(process.pid)
        original_kill(process)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "kill", kill)
    # a shell starts background jobs with SIGINT ignored, and Python then leaves it so: give Ctrl-C its usual meaning
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    sphere = trimesh.creation.icosphere(subdivisions=5)  # 20k faces: about 15 s of xatlas
    timer = threading.Timer(1.0, _thread.interrupt_main)  # what Ctrl-C does to the main thread
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        parametrize(sphere.vertices, sphere.faces)
    assert killed
    for child in multiprocessing.active_children():
        child.join(10)
    assert not multiprocessing.active_children()


def test_small_meshes_unwrap_in_process_with_valid_uvs() -> None:
    box = trimesh.creation.box()
    vmapping, faces, uv = parametrize(box.vertices, box.faces)
    assert faces.shape == (12, 3) and uv.shape == (len(vmapping), 2)
    assert (uv >= 0).all() and (uv <= 1).all()


def _die(*args: object) -> None:
    os._exit(11)  # what a segfault in xatlas does to the child: no exception, just a dead process


def test_xatlas_crash_is_one_input_error_naming_the_file(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(unwrap, "_xatlas_parametrize", _die)
    monkeypatch.setattr(unwrap, "_IN_PROCESS_FACES", 0)  # the child process even for a tetrahedron
    with pytest.raises(InputError) as caught:
        load_mesh(uv_less_obj(tmp_path))
    assert str(caught.value) == (f"{tmp_path / 'tetra.obj'}: automatic UV unwrapping failed (xatlas crashed); "
                                 "give the mesh UVs in a modelling tool")


def test_adopted_options_give_every_face_valid_uvs() -> None:
    sphere = trimesh.creation.icosphere(subdivisions=3)  # 1,280 faces: in process, quick
    noisy = sphere.vertices * (1 + 0.05 * np.random.default_rng(0).standard_normal((len(sphere.vertices), 1)))
    vmapping, faces, uv = parametrize(noisy, sphere.faces)
    assert faces.shape == sphere.faces.shape and uv.shape == (len(vmapping), 2)
    assert (uv >= 0).all() and (uv <= 1).all()
    corners = uv[faces.astype(np.int64)]
    edge_a, edge_b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    areas = np.abs(edge_a[:, 0] * edge_b[:, 1] - edge_a[:, 1] * edge_b[:, 0]) / 2
    assert (areas > 0).all()
    assert areas.sum() <= 1.0  # charts that overlapped much could sum past the unit square
    # every face is where the input put it: the atlas only splits vertices along seams
    assert np.array_equal(vmapping[faces.astype(np.int64)], sphere.faces)
