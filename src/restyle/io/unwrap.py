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
# xatlas's chart growing refines the charts over ``max_iterations`` passes (default 1); skipping the refinement is
# several times faster (benchmarks/results/unwrap.json) for about 10% more charts. Block-aligned packing keeps the
# packing step from eating that gain back. The atlas still fits 0..1 with every face in one chart.
CHART_OPTIONS = {"max_iterations": 0}
PACK_OPTIONS = {"blockAlign": True}


class UnwrapCrashed(RuntimeError):
    """The xatlas child process died (xatlas segfaults on some meshes, e.g. an icosphere of 82k faces)."""


def parametrize(
    vertices: np.ndarray, faces: np.ndarray, chart_options: dict | None = None, pack_options: dict | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas's ``(vmapping [V'], faces [F, 3], uv [V', 2])`` for ``vertices [V, 3]``, ``faces [F, 3]``.
    Raises :class:`UnwrapCrashed` when xatlas kills its process; the options are for benchmarks."""
    positions = np.ascontiguousarray(vertices, dtype=np.float32)
    indices = np.ascontiguousarray(faces, dtype=np.uint32)
    if len(indices) < _IN_PROCESS_FACES:
        return _xatlas_parametrize(positions, indices, chart_options, pack_options)
    # spawn, not fork: forking a process that holds torch's thread pools can deadlock the child
    executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        future = executor.submit(_xatlas_parametrize, positions, indices, chart_options, pack_options)
        while True:
            try:
                return future.result(timeout=_POLL_SECONDS)
            except FutureTimeout:
                continue
    except BrokenProcessPool as error:  # the loader names the file (it knows it; this module does not)
        raise UnwrapCrashed("xatlas crashed while unwrapping") from error
    except KeyboardInterrupt:
        for process in list(getattr(executor, "_processes", {}).values()):
            process.kill()  # the only way to stop xatlas mid-unwrap
        raise
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def _xatlas_parametrize(
    positions: np.ndarray,
    indices: np.ndarray,
    chart_options: dict | None = None,
    pack_options: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """xatlas with restyle's options (``None``: :data:`CHART_OPTIONS`, :data:`PACK_OPTIONS`; ``{}``: xatlas's)."""
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(positions, indices)
    atlas.generate(
        _options(xatlas.ChartOptions(), CHART_OPTIONS if chart_options is None else chart_options),
        _options(xatlas.PackOptions(), PACK_OPTIONS if pack_options is None else pack_options),
    )
    return atlas[0]


def _options(options: object, values: dict) -> object:
    for name, value in values.items():
        setattr(options, name, value)
    return options
