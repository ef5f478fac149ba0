"""``restyle render``: a contact sheet (and optional turntable) of any asset, for looking before and after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from restyle.errors import ConfigError
from restyle.io.images import SAVE_FORMATS, save_image
from restyle.io.meshes import MissingUVsError, TexturedMesh, load_mesh
from restyle.io.untextured import untextured_mesh
from restyle.pipelines.config import RenderAssetConfig
from restyle.pipelines.loop import PhaseCallback, report
from restyle.pipelines.preflight import check_image_output, check_writable
from restyle.pipelines.preview import VIDEO_SUFFIXES, contact_sheet, turntable_frames, write_turntable
from restyle.pipelines.run_files import refuse_overlap
from restyle.render.geometry import MeshGeometry


@dataclass(frozen=True)
class RenderAssetResult:
    sheet: Path
    turntable: Path | None


def geometry_and_textures(mesh: TexturedMesh) -> tuple[MeshGeometry, list[torch.Tensor], list[str]]:
    """A loaded asset as render-ready tensors: geometry, per-slot textures ``[3,Ht,Wt]`` and wrap modes."""
    # re-centred: float32 cannot hold the shape of a model far from the world origin (see MeshGeometry)
    geometry = MeshGeometry.from_arrays(mesh.vertices, mesh.faces, mesh.uv, mesh.face_slot, recentre=True)
    textures = [torch.from_numpy(np.ascontiguousarray(s.image)).permute(2, 0, 1).float() for s in mesh.slots]
    return geometry, textures, [s.wrap for s in mesh.slots]


def check_outputs(config: RenderAssetConfig) -> list[Path]:
    """The sheet (and turntable) paths, once their formats and folders are known good: a typo in a suffix or a
    read-only folder is reported at once, before the asset is loaded and rendered."""
    if config.mesh is None or config.output is None:
        raise ConfigError("restyle render needs a mesh and -o SHEET.png")
    check_image_output(config.output, tuple(SAVE_FORMATS))
    if config.turntable is None:
        return [config.output]
    if config.turntable.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"{config.turntable}: turntable must end in {' or '.join(VIDEO_SUFFIXES)}")
    check_writable(config.turntable, folder=False)
    return [config.output, config.turntable]


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
    sheet = contact_sheet(geometry, textures, wraps, n_views=config.views, size=config.size, seed=config.seed)
    save_image(sheet, config.output)
    if config.turntable is not None:
        report(on_phase, f"rendering {config.frames} turntable frames")
        frames = turntable_frames(geometry, textures, wraps, n_frames=config.frames, size=config.size)
        write_turntable(frames, config.turntable)
    return RenderAssetResult(config.output, config.turntable)
