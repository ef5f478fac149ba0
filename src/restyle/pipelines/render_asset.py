"""``restyle render``: a contact sheet (and optional turntable) of any asset, for looking before and after."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from restyle.errors import ConfigError
from restyle.io.images import save_image
from restyle.io.meshes import TexturedMesh, load_mesh
from restyle.pipelines.config import RenderAssetConfig
from restyle.pipelines.preview import contact_sheet, turntable_frames, write_turntable
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


def run(config: RenderAssetConfig) -> RenderAssetResult:
    if config.mesh is None or config.output is None:
        raise ConfigError("restyle render needs a mesh and -o SHEET.png")
    if config.turntable is not None and config.turntable.suffix.lower() not in (".gif", ".mp4"):
        raise ConfigError(f"{config.turntable}: turntable must end in .gif or .mp4")
    outputs = [config.output] + ([config.turntable] if config.turntable else [])
    mesh = load_mesh(config.mesh)
    refuse_overlap(outputs, [("mesh file", p) for p in list(mesh.source_files) or [config.mesh]])
    geometry, textures, wraps = geometry_and_textures(mesh)
    sheet = contact_sheet(geometry, textures, wraps, n_views=config.views, size=config.size, seed=config.seed)
    save_image(sheet, config.output)
    if config.turntable is not None:
        frames = turntable_frames(geometry, textures, wraps, n_frames=config.frames, size=config.size)
        write_turntable(frames, config.turntable)
    return RenderAssetResult(config.output, config.turntable)
