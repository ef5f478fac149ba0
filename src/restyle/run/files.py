"""What a run may write: the names of its files, the files it declares against the files it reads, earlier runs,
other runs, and the hash an input is known by.

Every pipeline lists every file it will write and every file it reads; any overlap is refused before anything is
written, so that no user file is ever replaced without being asked. An output folder holding a run is refused
unless the run is resumed or ``--overwrite`` is given, and a lock file keeps two runs out of one folder. The jobs,
``restyle web`` and ``restyle batch`` all know a run's files by the names declared here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from restyle.errors import ConfigError

LOCK_NAME = ".restyle.lock"
# The files of a mesh run's folder (an image run writes OUT.config.toml and OUT.metrics.jsonl beside its OUT).
CONFIG_NAME = "config.toml"  # the fully resolved config; --config and --resume read it back
METRICS_NAME = "metrics.jsonl"
CHECKPOINT_NAME = "checkpoint.pt"
PALETTE_NAME = "palette.png"
BEFORE_AFTER_NAME = "before_after.png"
PREVIEW_NAME = "preview.png"
OBJ_FOLDER = "obj"  # the OBJ+MTL+PNG export
FIXED_RUN_FILES = (CONFIG_NAME, METRICS_NAME, CHECKPOINT_NAME, PALETTE_NAME, BEFORE_AFTER_NAME, PREVIEW_NAME)
RUN_MARKERS = (CONFIG_NAME, CHECKPOINT_NAME)  # a folder with either holds a run (finished or interrupted)
TURNTABLE_SUFFIXES = ("gif", "mp4")


def turntable_name(suffix: str) -> str:
    """``gif`` -> ``turntable.gif``: the turntable a run with ``outputs.turntable = suffix`` writes."""
    return f"turntable.{suffix}"


# Every name a mesh run writes into its folder (``mesh_outputs.output_files`` declares each run's own; a test keeps
# the two together) and, in its ``obj/`` folder, the exporter's ``<stem>_stylized.obj/.mtl`` and ``<stem>_stylized_*``
# textures. Replacing a run removes the previous one's files by these names, so a file restyle does not write is
# never removed.
RUN_FILE_NAME = re.compile("|".join([
    *map(re.escape, FIXED_RUN_FILES), rf"turntable\.({'|'.join(TURNTABLE_SUFFIXES)})", r"(residual|coverage)_\d+\.png",
    r".+_stylized\.glb",
]))
OBJ_FILE_NAME = re.compile(r".+_stylized(\.obj|\.mtl|_.+)")
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


def previous_run_files(folder: Path, keep: Iterable[Path] = ()) -> list[Path]:
    """The files of the run ``folder`` holds, found by the names a run writes; none when it holds no run (no
    config.toml or checkpoint.pt), so that a folder of the user's own files is never touched. ``keep``: files
    never to list (the next run's inputs, which may carry a run file's name)."""
    if not any((folder / marker).is_file() for marker in RUN_MARKERS):
        return []
    found = [path for path in folder.iterdir() if RUN_FILE_NAME.fullmatch(path.name)]
    if (folder / OBJ_FOLDER).is_dir():
        found += [path for path in (folder / OBJ_FOLDER).iterdir() if OBJ_FILE_NAME.fullmatch(path.name)]
    kept = {path.resolve() for path in keep}
    return sorted(path for path in found if path.is_file() and path.resolve() not in kept)


def remove_previous_run(folder: Path, keep: Iterable[Path] = ()) -> None:
    """Before a run replaces the one in ``folder`` (``--overwrite``): remove the old run's files, so that none
    it will not rewrite (another mesh's GLB and OBJ, a turntable no longer asked for, a slot's residual) is left
    looking like part of the new run. The ``obj/`` folder goes too when nothing else is in it."""
    for path in previous_run_files(folder, keep):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (the user's files), or not there
        (folder / OBJ_FOLDER).rmdir()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks: what a resume and a batch know an input by."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def refuse_shared_outputs(outputs: Sequence[tuple[str, Path]], remedy: str = "choose another output path") -> None:
    """ConfigError naming both roles when two of the ``(role, path)`` outputs are one path (after resolving
    ``..`` and links): the second write would replace the first, as a sheet named ``view_00.png`` inside the
    RGB-D folder would be replaced by view 0."""
    seen: dict[Path, str] = {}
    for role, path in outputs:
        other = seen.setdefault(path.resolve(), role)
        if other != role:
            raise ConfigError(f"{path}: both the {other} and the {role} would be written there; {remedy}")
