"""UV unwrapping with xatlas, in a child process so that Ctrl-C stops it promptly.

xatlas holds the GIL for the whole unwrap (a minute or more for a 70k-face mesh), so neither a signal
handler nor a worker thread could interrupt it in-process; the parent waits on the child in short slices
and kills it on KeyboardInterrupt.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

import numpy as np

_POLL_SECONDS = 0.2  # how long Ctrl-C may wait to be noticed
_IN_PROCESS_FACES = 2_000  # below this an unwrap takes well under a second: not worth a process start


def parametrize(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas's ``(vmapping [V'], faces [F, 3], uv [V', 2])`` for ``vertices [V, 3]``, ``faces [F, 3]``."""
    positions = np.ascontiguousarray(vertices, dtype=np.float32)
    indices = np.ascontiguousarray(faces, dtype=np.uint32)
    if len(indices) < _IN_PROCESS_FACES:
        return _xatlas_parametrize(positions, indices)
    # spawn, not fork: forking a process that holds torch's thread pools can deadlock the child
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        future = executor.submit(_xatlas_parametrize, positions, indices)
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except FutureTimeout:
                continue
    except BrokenProcessPool as error:  # xatlas segfaults on some meshes (e.g. an icosphere of 82k faces)
        raise RuntimeError("xatlas crashed while unwrapping this mesh; give it UVs in a 3D tool") from error
    except KeyboardInterrupt:
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()  # the only way to stop xatlas mid-unwrap
        raise
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _xatlas_parametrize(positions: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import xatlas

    return xatlas.parametrize(positions, indices)
