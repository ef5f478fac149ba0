from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
import trimesh

from restyle.errors import ConfigError
from restyle.render.geometry import MeshGeometry
from restyle.run.previews import contact_sheet, turntable_frames, write_turntable


@pytest.fixture
def ball() -> MeshGeometry:
    mesh = trimesh.creation.icosphere(subdivisions=2)
    v = mesh.vertices
    uv = np.stack((np.arctan2(v[:, 0], v[:, 2]) / (2 * np.pi) + 0.5, v[:, 1] * 0.5 + 0.5), axis=1)
    return MeshGeometry.from_arrays(v, mesh.faces, uv)


@pytest.fixture
def stripes() -> torch.Tensor:
    """Red and blue vertical stripes: turning the ball changes what the camera sees."""
    texture = torch.zeros(3, 16, 16)
    texture[0, :, ::2] = 1.0
    texture[2, :, 1::2] = 1.0
    return texture


def test_contact_sheet_shape_content_and_determinism(ball: MeshGeometry, stripes: torch.Tensor) -> None:
    sheet = contact_sheet(ball, [stripes], ["repeat"], n_views=3, size=32, seed=1)
    # 3 views -> 2 x 2 grid of 32-pixel tiles with 4-pixel gaps
    assert sheet.shape == (3, 76, 76)
    assert sheet.min() >= 0 and sheet.max() <= 1
    object_pixels = (sheet < 0.95).any(dim=0)
    assert 0.1 < object_pixels.float().mean() < 0.7
    assert sheet[0][object_pixels].mean() > 0.2 and sheet[2][object_pixels].mean() > 0.2  # both stripes shaded
    assert torch.all(sheet[:, 40:, 40:] == 1.0)  # the empty fourth tile is background
    assert torch.equal(sheet, contact_sheet(ball, [stripes], ["repeat"], n_views=3, size=32, seed=1))
    assert not torch.equal(sheet, contact_sheet(ball, [stripes], ["repeat"], n_views=3, size=32, seed=2))


def test_turntable_frames_turn(ball: MeshGeometry, stripes: torch.Tensor) -> None:
    frames = turntable_frames(ball, [stripes], ["repeat"], n_frames=4, size=24, background=(0.0, 0.0, 0.0))
    assert frames.shape == (4, 3, 24, 24)
    assert (frames[0] - frames[1]).abs().max() > 0.1


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_write_turntable_round_trips(tmp_path: Path, suffix: str) -> None:
    frames = torch.zeros(5, 3, 32, 32)
    for index in range(5):
        frames[index, index % 3] = 0.9  # red, green, blue, red, green
    path = write_turntable(frames, tmp_path / f"turn{suffix}", fps=5)
    read = np.stack(imageio.mimread(path))
    assert read.shape[0] == 5 and read.shape[1:3] == (32, 32)
    dominant = read[..., :3].reshape(5, -1, 3).mean(axis=1).argmax(axis=1)
    assert dominant.tolist() == [0, 1, 2, 0, 1]
    assert [p.name for p in tmp_path.iterdir()] == [f"turn{suffix}"]  # no temporary file left behind


def test_write_turntable_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="turn.avi"):
        write_turntable(torch.zeros(1, 3, 8, 8), tmp_path / "turn.avi")
