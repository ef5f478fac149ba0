"""What a run may write: the files it declares against the files it reads, earlier runs, and other runs.

Every pipeline lists every file it will write and every file it reads; any overlap is refused before anything is
written, so that no user file is ever replaced without being asked. An output folder holding a run is refused
unless the run is resumed or ``--overwrite`` is given, and a lock file keeps two runs out of one folder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from restyle.errors import ConfigError

LOCK_NAME = ".restyle.lock"
RUN_MARKERS = ("config.toml", "checkpoint.pt")  # a folder with either holds a run (finished or interrupted)
# The help of the ``overwrite`` options, here so that the CLI can show the mesh one without importing torch.
OVERWRITE_RUN_HELP = (
    "Replace a finished or interrupted run in the output folder (one holding config.toml or checkpoint.pt) "
    "instead of refusing; input files are never overwritten. Never saved as true."
)
OVERWRITE_FILE_HELP = (
    "Replace an existing output image (and its sidecars) instead of refusing; input files are never "
    "overwritten. Never saved as true."
)


def palette_file(spec: str) -> Path | None:
    """The palette image a ``palette.source`` names, or None (auto, none, a hex list)."""
    if spec in ("auto", "none") or not Path(spec).is_file():
        return None
    return Path(spec)


def refuse_overlap(
    outputs: Sequence[Path], inputs: Iterable[tuple[str, Path]], owned_folders: Sequence[Path] = ()
) -> None:
    """ConfigError naming both paths when an output is one of the ``(role, path)`` inputs, or an input lies in
    a folder the run owns (its OBJ folder: the exporter's texture names depend on the slots)."""
    written = {p.resolve(): p for p in outputs}
    folders = [f.resolve() for f in owned_folders]
    for role, path in inputs:
        resolved = path.resolve()
        out = written.get(resolved) or next((f for f in folders if f in resolved.parents), None)
        if out is not None:
            raise ConfigError(f"{out}: output would overwrite an input ({role} {path}); choose another output path")


def refuse_existing_run(folder: Path, *, resume: bool, overwrite: bool) -> None:
    """An output folder already holding a run is only written into with ``--resume`` or ``--overwrite``."""
    if resume or overwrite:
        return
    found = [name for name in RUN_MARKERS if (folder / name).exists()]
    if found:
        raise ConfigError(f"{folder}: already holds a run ({found[0]}); continue it with --resume {folder} or "
                          "replace it with --overwrite")


def refuse_existing_file(path: Path, *, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise ConfigError(f"{path}: output exists; replace it with --overwrite or choose another output path")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:  # e.g. Windows refuses signal 0 for some processes: assume alive, never steal
        return True
    return True


def _lock_holder(lock: Path) -> int | None:
    """The PID written in ``lock``, or None when it cannot be read (a holder killed before writing it)."""
    try:
        return int(lock.read_text().strip())
    except (OSError, ValueError):
        return None


def _try_lock(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    return True


def acquire_lock(lock: Path) -> None:
    """Create ``lock`` atomically with this PID in it; a lock of a dead process is taken over."""
    for _ in range(3):  # a takeover can race another one: try again, then give up
        if _try_lock(lock):
            return
        pid = _lock_holder(lock)
        if pid is not None and _pid_alive(pid):
            raise ConfigError(f"{lock.parent}: in use by PID {pid} (lock file {lock.name}); wait for it or choose "
                              "another output")
        lock.unlink(missing_ok=True)  # stale: its process is gone (killed, power cut)
    raise ConfigError(f"{lock.parent}: could not take the lock {lock.name}; try again")


@contextlib.contextmanager
def locked_output(folder: Path, lock_name: str = LOCK_NAME) -> Iterator[Path]:
    """Hold ``folder/lock_name`` for the run; released on success, errors and Ctrl-C. A folder made here and
    left empty by a failed run is removed again, so that a bad input leaves nothing behind."""
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / lock_name
    try:
        acquire_lock(lock)
    except BaseException:
        _remove_if_made_and_empty(folder, made)
        raise
    try:
        yield folder
    finally:
        if _lock_holder(lock) == os.getpid():
            lock.unlink(missing_ok=True)
        _remove_if_made_and_empty(folder, made)


def _remove_if_made_and_empty(folder: Path, made: bool) -> None:
    if made:
        with contextlib.suppress(OSError):
            folder.rmdir()
