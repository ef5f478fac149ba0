"""Inputs that are not regular files are refused from ``os.stat`` alone, never opened (a FIFO would block)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from restyle.errors import InputError
from restyle.io.regular_files import require_regular_file


def test_a_regular_file_and_a_link_to_one_pass(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"x")
    (tmp_path / "link.pt").symlink_to(tmp_path / "model.pt")
    require_regular_file(tmp_path / "model.pt")
    require_regular_file(tmp_path / "link.pt")


def test_special_files_are_named_for_what_they_are(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "clip.mp4")
    with pytest.raises(InputError, match=r"clip\.mp4: is a named pipe \(FIFO\), not a regular file"):
        require_regular_file(tmp_path / "clip.mp4")
    if Path("/dev/null").exists():
        with pytest.raises(InputError, match=r"/dev/null: is a character device, not a regular file"):
            require_regular_file(Path("/dev/null"))


def test_missing_paths_folders_and_broken_links_say_which(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"gone\.pt: no such model file"):
        require_regular_file(tmp_path / "gone.pt", "model file")
    with pytest.raises(InputError, match=r"is a folder, not a model file"):
        require_regular_file(tmp_path, "model file")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(InputError, match=r"dangling\.png: a link to a missing file"):
        require_regular_file(tmp_path / "dangling.png")
