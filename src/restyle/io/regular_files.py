"""Refusing inputs that are not plain files, before anything opens them.

Opening a named pipe (FIFO) blocks until some other process writes to it, and a device can stream without end:
handed to a reader (Pillow, ffmpeg, torch.load) either hangs the command instead of failing. ``os.stat`` tells
what a path is without opening it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from restyle.errors import InputError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def require_regular_file(path: Path, what: str = "file") -> None:
    """InputError in one line unless ``path`` is (a link to) a regular file; ``what`` names it in the message
    (``model file``: ``<path>: no such model file``)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        broken = path.is_symlink()
        raise InputError(f"{path}: {'a link to a missing file' if broken else f'no such {what}'}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise InputError(f"{path}: is {kind}, not a regular file; save its content to a file first")
