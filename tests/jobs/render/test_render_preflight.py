"""`restyle render` checks its outputs before loading or rendering anything, like the other commands: a sheet or
turntable format it cannot write, or a place it cannot write to, is one line and exit 2, and nothing is written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from restyle import cli
from restyle.errors import ConfigError
from restyle.jobs.render import run as render_asset
from restyle.sections import RenderAssetConfig


@pytest.fixture
def no_loading(monkeypatch) -> None:
    # the check must come first: a refused run never gets as far as reading the asset
    def refuse(*args, **kwargs):
        raise AssertionError("the asset was loaded before the outputs were checked")

    monkeypatch.setattr(render_asset, "load_mesh", refuse)


@pytest.mark.parametrize(
    ("sheet", "turntable", "message"),
    [
        ("sheet.pdf", None, r"sheet\.pdf: unsupported output format '\.pdf'"),
        ("sheet", None, r"unsupported output format '\(none\)'"),
        ("sheet.png", "spin.avi", r"spin\.avi: turntable must end in \.gif or \.mp4"),
    ],
)
def test_unsupported_output_formats_are_refused_up_front(box, tmp_path, no_loading, sheet, turntable, message):
    config = RenderAssetConfig(mesh=box, output=tmp_path / sheet,
                               turntable=tmp_path / turntable if turntable else None)
    with pytest.raises(ConfigError, match=message):
        render_asset.run(config)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["sheet", "turntable"])
def test_an_unwritable_output_folder_is_refused_up_front(box, tmp_path, monkeypatch, no_loading, which) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # chmod does not stop root (CI containers): make the folder read-only as os.access reports it instead
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    sheet = locked / "sheet.png" if which == "sheet" else tmp_path / "sheet.png"
    spin = locked / "spin.gif" if which == "turntable" else None
    with pytest.raises(ConfigError, match="locked is not writable"):
        render_asset.run(RenderAssetConfig(mesh=box, output=sheet, turntable=spin))
    assert list(locked.iterdir()) == [] and not (tmp_path / "sheet.png").exists()


def test_an_output_below_a_file_is_refused_up_front(box, tmp_path, no_loading) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"notes\.txt is a file, not a folder"):
        render_asset.run(RenderAssetConfig(mesh=box, output=tmp_path / "notes.txt" / "sheet.png"))


def test_cli_render_bad_suffix_is_one_line_exit_2(monkeypatch, capsys, box, tmp_path, no_loading) -> None:
    monkeypatch.setattr(sys, "argv", ["restyle", "render", str(box), "-o", str(tmp_path / "sheet.pdf")])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "sheet.pdf" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
