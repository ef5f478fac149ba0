"""``FILE@MASK`` style specs on the command line and in the API: one parser (the one manifests use too), split at
the last ``@`` and only before a mask, so paths with an ``@`` in a folder's or a file's name work."""

from __future__ import annotations

import sys
from pathlib import Path

from restyle import api

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


def test_the_api_keeps_an_at_sign_in_a_folder_and_splits_the_mask() -> None:
    config = api.mesh_config(None, ["my@styles/far.png@far", "my@styles/near.png", "me@home.png"])
    assert config.styles == [Path("my@styles/far.png"), Path("my@styles/near.png"), Path("me@home.png")]
    assert config.depth.style_masks == ["far", "all", "all"]


def test_the_command_line_keeps_an_at_sign_in_a_folder_and_splits_the_mask(run_cli, tmp_path) -> None:
    folder = tmp_path / "my@styles"
    code, stdout, err = run_cli("image", tmp_path / "photo.png", "-s", f"{folder / 'far.png'}@far",
                                "--style-near", folder / "near.png", "--print-config")
    assert code == 0, err
    resolved = tomllib.loads(stdout)
    assert resolved["styles"] == [str(folder / "far.png"), str(folder / "near.png")]
    assert resolved["depth"]["style_masks"] == ["far", "near"]
