"""``restyle render``: a contact sheet (and optional turntable) of any asset, for looking before and after; and,
with ``rgbd``, each view of the sheet as an RGB-D pair with its camera, for depth-aware style transfer."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from restyle.errors import ConfigError
from restyle.io.atomic import write_text_atomic
from restyle.io.depth import DEFAULT_TOP_COUNT, SCALE_KEY, write_depth_png
from restyle.io.images import SAVE_FORMATS, save_image
from restyle.io.meshes import MissingUVsError, TexturedMesh, load_mesh
from restyle.io.untextured import untextured_mesh
from restyle.render.camera import Cameras
from restyle.render.geometry import MeshGeometry, geometry_and_textures
from restyle.render.views import rasterize_views
from restyle.run.files import refuse_overlap, refuse_shared_outputs
from restyle.run.loop import PhaseCallback, report
from restyle.run.preflight import check_image_output, check_writable
from restyle.run.previews import (
    VIDEO_SUFFIXES,
    render_views,
    sheet_cameras,
    tile_views,
    turntable_frames,
    write_turntable,
)
from restyle.sections import RenderAssetConfig

BACKGROUND = (1.0, 1.0, 1.0)  # of the sheet and of the RGB-D colour views
SCENE_FILE = "views.json"


@dataclass(frozen=True)
class RenderAssetResult:
    sheet: Path
    turntable: Path | None
    rgbd: Path | None = None
    """The RGB-D folder (``view_NN.png``, ``view_NN_depth.png``, ``views.json``), when asked for."""


def check_outputs(config: RenderAssetConfig) -> list[Path]:
    """Every file the command writes, once their formats and folders are known good and no two are one path: a
    typo in a suffix, a read-only folder or a sheet named like one of the RGB-D views is reported at once, before
    the asset is loaded and rendered."""
    if config.mesh is None or config.output is None:
        raise ConfigError("restyle render needs a mesh and -o SHEET.png")
    check_image_output(config.output, tuple(SAVE_FORMATS))
    outputs = [("sheet", config.output)]
    if config.turntable is not None:
        if config.turntable.suffix.lower() not in VIDEO_SUFFIXES:
            raise ConfigError(f"{config.turntable}: turntable must end in {' or '.join(VIDEO_SUFFIXES)}")
        check_writable(config.turntable, folder=False)
        outputs.append(("turntable", config.turntable))
    if config.rgbd is not None:
        outputs += check_rgbd_folder(config.rgbd, config.views)
    # the folder itself too: a sheet at the folder's path would make the folder impossible to create
    refuse_shared_outputs([*outputs, *([("RGB-D folder", config.rgbd)] if config.rgbd is not None else [])])
    return [path for _, path in outputs]


def check_rgbd_folder(folder: Path, n_views: int) -> list[tuple[str, Path]]:
    """The files of an RGB-D scene of ``n_views`` in ``folder`` with their roles, once the folder is known
    writable and holds no scene yet. ``views.json`` is written last, so a folder without it holds at most an
    interrupted scene, which is overwritten."""
    check_writable(folder, folder=True)
    if (folder / SCENE_FILE).exists():
        raise ConfigError(f"{folder}: already holds an RGB-D scene ({SCENE_FILE}); choose another folder")
    views = [
        (f"{kind} of RGB-D view {index}", path)
        for index in range(n_views)
        for kind, path in zip(("colour", "depth"), _view_files(folder, index), strict=True)
    ]
    return [*views, ("RGB-D scene description", folder / SCENE_FILE)]


def _view_files(folder: Path, index: int) -> tuple[Path, Path]:
    return folder / f"view_{index:02d}.png", folder / f"view_{index:02d}_depth.png"


def _viewable_mesh(path: Path) -> TexturedMesh:
    """The asset as stored; one without UVs (or with vertex colours) in flat per-face colours, never unwrapped:
    a look at a mesh should not cost a minute of xatlas."""
    try:
        return load_mesh(path, unwrap=False)
    except MissingUVsError:
        return untextured_mesh(path)


def run(config: RenderAssetConfig, on_phase: PhaseCallback | None = None) -> RenderAssetResult:
    outputs = check_outputs(config)
    report(on_phase, f"loading {config.mesh.name}")
    mesh = _viewable_mesh(config.mesh)
    refuse_overlap(outputs, [("mesh file", p) for p in list(mesh.source_files) or [config.mesh]])
    geometry, textures, wraps = geometry_and_textures(mesh)
    report(on_phase, f"rendering {config.views} views")
    cameras = sheet_cameras(geometry, n_views=config.views, size=config.size, seed=config.seed)
    views = render_views(geometry, textures, wraps, cameras, background=BACKGROUND)
    save_image(tile_views(views, BACKGROUND), config.output)
    if config.rgbd is not None:
        report(on_phase, f"writing {config.views} RGB-D views to {config.rgbd}")
        write_rgbd_scene(config.rgbd, geometry, cameras, views, mesh_name=config.mesh.name)
    if config.turntable is not None:
        report(on_phase, f"rendering {config.frames} turntable frames")
        frames = turntable_frames(geometry, textures, wraps, n_frames=config.frames, size=config.size)
        write_turntable(frames, config.turntable)
    return RenderAssetResult(config.output, config.turntable, config.rgbd)


def write_rgbd_scene(
    folder: Path, geometry: MeshGeometry, cameras: Cameras, views: torch.Tensor, *, mesh_name: str
) -> Path:
    """Write ``views [B, 3, H, W]`` (shaded by ``cameras``) as colour PNGs, the exact depth of each view as 16-bit
    PNGs sharing one scale (so depths compare across views), and ``views.json`` last."""
    depths = exact_depths(geometry, cameras)
    largest = float(depths.max(initial=0.0))
    scale = largest / DEFAULT_TOP_COUNT if largest > 0 else 1.0
    for index in range(cameras.batch_size):
        colour, depth = _view_files(folder, index)
        save_image(views[index], colour)
        write_depth_png(depth, depths[index], scale=scale)
    scene = _scene_description(folder, geometry, cameras, scale, mesh_name)
    write_text_atomic(folder / SCENE_FILE, json.dumps(scene, indent=2) + "\n")
    return folder


def exact_depths(geometry: MeshGeometry, cameras: Cameras) -> np.ndarray:
    """``[B, H, W]`` float64 view-space depth of ``cameras``' pixel centres, 0 on background: one rasterisation
    without supersampling, so no pixel mixes the depths of a silhouette's two sides."""
    with torch.no_grad():
        return rasterize_views(geometry, cameras).depth.double().cpu().numpy()


def _scene_description(
    folder: Path, geometry: MeshGeometry, cameras: Cameras, scale: float, mesh_name: str
) -> dict[str, object]:
    files = [_view_files(folder, index) for index in range(cameras.batch_size)]
    return {
        "format": "restyle RGB-D scene",
        "version": 1,
        "mesh": mesh_name,
        "units": f"lengths and depths are in the units of {mesh_name}, in its own coordinates",
        "depth_scale": scale,
        "depth": f"view_NN_depth.png: 16-bit grey; depth = value * depth_scale, the distance along the camera's "
        f"viewing axis (view-space z, not along the ray) to the surface seen at the pixel centre, unaveraged; "
        f"0 = background. Each PNG also holds its scale in the text chunk '{SCALE_KEY}'.",
        "colour": "view_NN.png: 8-bit sRGB, shaded under a fixed key light, anti-aliased (2x supersampled) over "
        f"the background colour {list(BACKGROUND)}, so its silhouette pixels blend with the background.",
        "cameras": "pinhole, OpenGL convention: x right, y up, the camera looks down -z; world_to_camera maps "
        "the mesh's coordinates to the camera's; pixel (row i, column j) samples its centre, row 0 at the top.",
        "views": [
            {"colour": colour.name, "depth": depth.name, **_camera_description(geometry, cameras, index)}
            for index, (colour, depth) in enumerate(files)
        ],
    }


def _camera_description(geometry: MeshGeometry, cameras: Cameras, index: int) -> dict[str, object]:
    """One camera in the mesh's own coordinates (the renderer's frame is shifted by ``geometry.origin``)."""
    origin = geometry.origin.double().cpu()
    rotation = cameras.rotation[index].double().cpu()  # rows: right, up, backward
    eye = cameras.eye[index].double().cpu() + origin
    forward = -rotation[2]
    centre = geometry.center.double().cpu() + origin
    # the sheet's cameras look at the centre; its projection on the axis is the look-at point of any camera
    target = eye + forward * torch.dot(centre - eye, forward)
    world_to_camera = torch.eye(4, dtype=torch.float64)
    world_to_camera[:3, :3], world_to_camera[:3, 3] = rotation, -(rotation @ eye)
    return {
        "eye": eye.tolist(),
        "target": target.tolist(),
        "forward": forward.tolist(),
        "up": rotation[1].tolist(),
        "fov_y_degrees": math.degrees(float(cameras.fov_y[index])),
        "width": cameras.width,
        "height": cameras.height,
        "world_to_camera": world_to_camera.tolist(),
    }
