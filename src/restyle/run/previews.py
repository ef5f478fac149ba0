"""Previews of a textured mesh: a contact sheet of fixed views and turntable animations (GIF / MP4).

Everything here takes tensors; mesh loading and the ``restyle render`` command are wired elsewhere.
Views and lights are fixed (derived from ``seed`` only), so two previews of the same texture are identical.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch
from torch import Tensor

from restyle.errors import ConfigError
from restyle.io.atomic import atomic_path
from restyle.render.camera import Cameras
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.shading import render
from restyle.render.views import key_lights, orbit_cameras

# Views shaded per batch: bounds memory for long turntables at large sizes.
_BATCH = 8
# Contact-sheet views alternate between these elevations (degrees) to show the top and the sides.
_SHEET_ELEVATIONS = (15.0, 40.0)
_SHEET_GAP = 4  # pixels between tiles
_FOV = 40.0  # degrees
# Camera distance (bounding radii) at which the whole bounding sphere, plus 5%, fits in the frame.
_FRAMING_DISTANCE = 1.05 / math.sin(math.radians(_FOV) / 2)
VIDEO_SUFFIXES = (".gif", ".mp4")


def render_views(
    geometry: MeshGeometry,
    textures: Sequence[Tensor],
    wraps: Sequence[str],
    cameras: Cameras,
    *,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    supersample: int = 2,
    backend: str = "auto",
) -> Tensor:
    """Shaded, anti-aliased views ``[B, 3, H, W]`` under a fixed key light, without gradients."""
    background_t = torch.tensor(background, dtype=torch.float32, device=geometry.device)
    frames = []
    with torch.no_grad():
        for start in range(0, cameras.batch_size, _BATCH):
            batch = cameras.select(range(start, min(start + _BATCH, cameras.batch_size)))
            fine = batch.resized(batch.width * supersample, batch.height * supersample)
            gbuffer = rasterize(geometry, fine, backend=backend)
            lights = key_lights(geometry, batch)
            output = render(
                geometry,
                gbuffer,
                batch,
                textures,
                wraps,
                lights,
                background=background_t,
                supersample=supersample,
            )
            frames.append(output.images.clamp(0, 1))
    return torch.cat(frames)


def contact_sheet(
    geometry: MeshGeometry,
    textures: Sequence[Tensor],
    wraps: Sequence[str],
    *,
    n_views: int = 8,
    size: int = 256,
    seed: int = 0,
    background: Sequence[float] = (1.0, 1.0, 1.0),
) -> Tensor:
    """A grid ``[3, H, W]`` of ``n_views`` orbit views, ``size`` pixels square; ``seed`` turns the orbit."""
    cameras = sheet_cameras(geometry, n_views=n_views, size=size, seed=seed)
    views = render_views(geometry, textures, wraps, cameras, background=background)
    return tile_views(views, background)


def sheet_cameras(geometry: MeshGeometry, *, n_views: int = 8, size: int = 256, seed: int = 0) -> Cameras:
    """The contact sheet's ``n_views`` orbit cameras around ``geometry``, ``size`` pixels square, looking at its
    bounding-box centre from the framing distance; ``seed`` turns the orbit."""
    if n_views < 1:
        raise ConfigError(f"contact sheet needs at least 1 view, got {n_views}")
    start = float(torch.rand(1, generator=torch.Generator().manual_seed(seed))) * 360.0 / n_views
    elevations = [_SHEET_ELEVATIONS[i % 2] for i in range(n_views)]
    return orbit_cameras(geometry, n_views, elevations, _FRAMING_DISTANCE, _FOV, size, size, azimuth_offset=start)


def tile_views(views: Tensor, background: Sequence[float] = (1.0, 1.0, 1.0)) -> Tensor:
    """Views ``[N, 3, h, w]`` to a near-square grid ``[3, H, W]`` filled with ``background``."""
    count, _, height, width = views.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    sheet = torch.tensor(background, dtype=views.dtype, device=views.device)[:, None, None]
    sheet = sheet.repeat(1, rows * height + (rows + 1) * _SHEET_GAP, cols * width + (cols + 1) * _SHEET_GAP)
    for index in range(count):
        top = _SHEET_GAP + (index // cols) * (height + _SHEET_GAP)
        left = _SHEET_GAP + (index % cols) * (width + _SHEET_GAP)
        sheet[:, top : top + height, left : left + width] = views[index]
    return sheet


def turntable_frames(
    geometry: MeshGeometry,
    textures: Sequence[Tensor],
    wraps: Sequence[str],
    *,
    n_frames: int = 36,
    size: int = 256,
    elevation: float = 20.0,
    background: Sequence[float] = (1.0, 1.0, 1.0),
) -> Tensor:
    """``[N, 3, size, size]`` frames of one full turn around the mesh."""
    if n_frames < 1:
        raise ConfigError(f"turntable needs at least 1 frame, got {n_frames}")
    cameras = orbit_cameras(geometry, n_frames, elevation, _FRAMING_DISTANCE, _FOV, size, size)
    return render_views(geometry, textures, wraps, cameras, background=background)


def write_turntable(frames: Tensor, path: str | os.PathLike[str], *, fps: int = 12) -> Path:
    """Write frames ``[N, 3, H, W]`` (0..1) as an animated GIF or an MP4, chosen by the suffix, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ConfigError(f"{path}: turntable format must be one of {', '.join(VIDEO_SUFFIXES)}")
    pixels = _to_uint8(frames)
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            # duration is per frame in milliseconds; loop=0 repeats forever
            imageio.mimwrite(tmp, list(pixels), format="GIF", duration=1000.0 / fps, loop=0)
        else:
            # H.264 needs even sizes; macro_block_size=2 pads at most one pixel instead of rescaling to 16
            imageio.mimwrite(tmp, list(pixels), format="FFMPEG", fps=fps, codec="libx264", macro_block_size=2)
    return path


def _to_uint8(frames: Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` floats in 0..1 to ``[N, H, W, 3]`` uint8."""
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"frames must be a non-empty [N, 3, H, W] tensor, got {tuple(frames.shape)}")
    scaled = (frames.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()
