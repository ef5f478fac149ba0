"""Atomic writes are durable in the right order: the data reaches the disk under the temporary name before the rename,
and the rename reaches the disk (the folder is fsynced) after it. A power cut at any point then leaves either the old
file or the whole new one under the target's name, never an empty one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from restyle.io.atomic import atomic_path, write_bytes_atomic


def _record_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    """Patch os.fsync and os.replace to log ``(what, inode, size)``: the inode tells the temporary file (which
    becomes the target) from the folder, the size says whether the data was written before the fsync."""
    calls: list[tuple[str, int, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        calls.append(("fsync folder" if stat.S_ISDIR(info.st_mode) else "fsync file", info.st_ino, info.st_size))
        real_fsync(fd)

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        info = os.stat(source)
        calls.append(("replace", info.st_ino, info.st_size))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


def test_write_flushes_and_fsyncs_the_temporary_then_renames_then_fsyncs_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    calls = _record_calls(monkeypatch)
    write_bytes_atomic(target, b"new content")
    written = target.stat().st_ino  # the temporary's inode: the rename moved it onto the target's name
    folder = tmp_path.stat().st_ino
    assert calls == [("fsync file", written, 11), ("replace", written, 11), ("fsync folder", folder, calls[2][2])]
    assert target.read_bytes() == b"new content"


def test_a_failed_write_neither_renames_nor_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    calls = _record_calls(monkeypatch)
    with pytest.raises(OSError, match="disk full"), atomic_path(target) as temporary:
        temporary.write_bytes(b"half")
        raise OSError("disk full")
    assert calls == []
    assert target.read_bytes() == b"old"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.bin"]
