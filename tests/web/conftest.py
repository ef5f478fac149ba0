"""A running ``restyle web`` app for the web tests: its own data directory, a free port, this process."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from restyle.io.images import save_image


@dataclass
class RunningApp:
    url: str
    data_dir: Path
    app: object  # restyle.web.app.WebApp


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    from restyle.web.app import launch

    data_dir = tmp_path_factory.mktemp("web-data")
    blocks, app, url = launch(data_dir, port=_free_port(), block=False)
    try:
        yield RunningApp(url, data_dir, app)
    finally:
        app.runner.shutdown()
        blocks.close()


@pytest.fixture(scope="module")
def style_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ramp = torch.arange(64.0)
    stripes = (((ramp[:, None] + ramp[None, :]) // 5) % 2).float()
    path = tmp_path_factory.mktemp("styles") / "stripes.png"
    save_image(torch.stack([stripes, 0.3 * stripes, 1 - stripes]), path)
    return path


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """Where the "browser" puts files: each in its own folder, as Gradio does, with the user's base name."""
    folder = tmp_path / "gradio"
    folder.mkdir()
    return folder
