"""What a ``restyle mesh`` run writes: the stylised asset (GLB, OBJ+MTL+PNG), residual and coverage maps, the
palette swatch, before/after previews, the resolved config and the metrics; and how long writing them will take
(:func:`export_seconds`), measured before the first step so that the run's ETA includes it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from restyle.colour.palettes import palette_swatch
from restyle.colour.recolour import ColourMap
from restyle.io.export import export_glb, export_obj
from restyle.io.images import save_image
from restyle.io.meshes import TexturedMesh
from restyle.io.texture_padding import dilate_texture
from restyle.io.uv_islands import mesh_island_masks
from restyle.jobs.mesh.config import MeshConfig
from restyle.jobs.mesh.state import MeshState
from restyle.params.residual import ResidualTexture
from restyle.run.files import (
    BEFORE_AFTER_NAME,
    CONFIG_NAME,
    FIXED_RUN_FILES,
    METRICS_NAME,
    OBJ_FOLDER,
    PALETTE_NAME,
    PREVIEW_NAME,
    TURNTABLE_SUFFIXES,
    palette_file,
    turntable_name,
)
from restyle.run.loop import write_config
from restyle.run.previews import contact_sheet, render_views, sheet_cameras, turntable_frames, write_turntable

TURNTABLE_FRAMES = 36
# The export's work on the textures (padding, resampling, PNG and GLB writing) as a multiple of the padding and
# resampling alone, which export_seconds times: the PNG encoding of the results costs about as much again.
TEXTURE_WORK_FACTOR = 2.0


@dataclass(frozen=True)
class MeshResult:
    textures: list[torch.Tensor]  # per slot [3,Ht,Wt] as exported, at the original's resolution, CPU
    output: Path  # the output folder
    glb: Path
    obj: Path
    config: MeshConfig  # fully resolved
    steps: int  # optimisation steps done in total (including resumed ones)


def export_bases(mesh: TexturedMesh, optimised: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per slot, the texture export builds on, ``[3,Ht,Wt]`` on the CPU: a material's own texture at its own
    resolution, however small (the README promises it, and its alpha, never optimised, comes back as loaded); for a
    material without one (a texture-less material's 8x8 colour, baked vertex colours) the larger of its image and
    the resample the optimisation started from, so that the style is not thrown away by a downsample."""
    bases = []
    for index, (slot, small) in enumerate(zip(mesh.slots, optimised, strict=True)):
        original = torch.from_numpy(np.ascontiguousarray(slot.image)).permute(2, 0, 1).float()
        keep = _had_texture(mesh, index) or max(original.shape[-2:]) >= max(small.shape[-2:])
        bases.append(original if keep else small.detach().cpu())
    return bases


def _had_texture(mesh: TexturedMesh, slot: int) -> bool:
    return slot < len(mesh.source_materials) and mesh.source_materials[slot].textured


def padded_residual(param: ResidualTexture, covered: torch.Tensor) -> torch.Tensor:
    """The residual ``[3,Ht,Wt]`` (optimised size, CPU) with its uncovered texels push-pull filled from the
    covered ones, so that seams and texels no view saw continue the style instead of showing the original."""
    residual = param.residual.detach().permute(1, 2, 0).cpu().numpy()
    padded = dilate_texture(residual, covered.cpu().numpy())
    return torch.from_numpy(np.asarray(padded)).permute(2, 0, 1)


def final_texture(
    base: torch.Tensor, colour_map: ColourMap | None, residual: torch.Tensor, island: torch.Tensor
) -> torch.Tensor:
    """``base [3,Ht,Wt]`` (recoloured by ``colour_map``) plus ``residual`` resampled bilinearly to its size,
    inside ``island [Ht,Wt]``; outside, the base unchanged, bit for bit."""
    start = base if colour_map is None else colour_map.apply(base)
    if residual.shape[-2:] != base.shape[-2:]:
        # onto an original smaller than --texture-size: average the residual's texels instead of skipping some
        shrink = any(r > b for r, b in zip(residual.shape[-2:], base.shape[-2:], strict=True))
        residual = F.interpolate(residual[None], size=base.shape[-2:], mode="bilinear", align_corners=False,
                                 antialias=shrink)[0]
    stylised = (start + residual).clamp(0, 1).float()
    return torch.where(island, stylised, base)


def final_textures(job: MeshState) -> list[torch.Tensor]:
    """Per slot the exported texture ``[3,Ht,Wt]`` at the original's resolution (see :func:`export_bases`)."""
    bases = export_bases(job.mesh, job.loaded_textures)
    islands = mesh_island_masks(job.mesh, [tuple(b.shape[-2:]) for b in bases])
    finals = []
    for index, (base, param) in enumerate(zip(bases, job.params, strict=True)):
        # pad only from texels inside the islands: outside them the export keeps the original anyway
        covered = job.coverage[index] & job.islands[index]
        residual = padded_residual(param, covered)
        finals.append(final_texture(base, job.colour_maps[index], residual, torch.from_numpy(islands[index])))
    return finals


def asset_files(config: MeshConfig, out: Path) -> tuple[Path, Path]:
    """The stylised asset's GLB and OBJ in ``out``, named after the mesh."""
    name = config.mesh.stem if config.mesh else "asset"
    return out / f"{name}_stylized.glb", out / OBJ_FOLDER / f"{name}_stylized.obj"


def output_files(config: MeshConfig, out: Path, slots: int) -> tuple[list[Path], list[Path]]:
    """Every file a run writes into ``out``, and the folders it owns outright (``obj/``: the exporter names
    its textures after the slots), so that none of them can be an input (see ``run_files.refuse_overlap``)."""
    # FIXED_RUN_FILES: written by every run whatever its settings; the rest depends on the mesh name, the slots and
    # the turntable
    files = [asset_files(config, out)[0], *(out / n for n in FIXED_RUN_FILES)]
    files += [out / f"{kind}_{index}.png" for kind in ("residual", "coverage") for index in range(slots)]
    files += [out / turntable_name(suffix) for suffix in TURNTABLE_SUFFIXES]  # also the one a later run might pick
    return files, [out / OBJ_FOLDER]


def input_files(job: MeshState, config_file: Path | None, resume: bool) -> list[tuple[str, Path]]:
    """Every file the run reads, with its role for messages. A resumed run's own config.toml is its to rewrite."""
    inputs = [("mesh file", path) for path in job.mesh.source_files]
    inputs += [("style image", path) for path in job.config.styles]
    palette = palette_file(job.config.palette.source)
    if palette is not None:
        inputs.append(("palette image", palette))
    if config_file is not None and not resume:
        inputs.append(("config file", config_file))
    return inputs


def result(job: MeshState, finals: list[torch.Tensor]) -> MeshResult:
    """The run's result: ``finals`` (per slot ``[3,Ht,Wt]``, see :func:`final_textures`) and the files it names."""
    glb, obj = asset_files(job.config, job.output)
    return MeshResult(finals, job.output, glb, obj, job.config, job.step_count)


def write_outputs(job: MeshState) -> MeshResult:
    """Export the asset (GLB, OBJ) and write every side output: residual and coverage maps, the palette swatch,
    the previews, the resolved config and the metrics."""
    out, config = job.output, job.config
    finals = final_textures(job)
    arrays = [t.permute(1, 2, 0).numpy() for t in finals]
    glb, obj = asset_files(config, out)
    export_glb(job.mesh, arrays, glb)
    export_obj(job.mesh, arrays, obj)
    for index, (param, covered) in enumerate(zip(job.params, job.coverage, strict=True)):
        # the signed residual stored as 0.5 + r/2 so that 0 is mid-grey
        save_image((param.residual.detach().cpu() * 0.5 + 0.5).clamp(0, 1), out / f"residual_{index}.png")
        save_image(covered.float().cpu()[None].expand(3, -1, -1), out / f"coverage_{index}.png")
    if job.palette is not None:
        save_image(palette_swatch(job.palette.cpu()), out / PALETTE_NAME)
    _write_previews(job, finals)
    write_config(config, out / CONFIG_NAME)
    job.metrics.write(out / METRICS_NAME)
    return result(job, finals)


@torch.no_grad()
def write_progress_preview(job: MeshState) -> Path:
    """``preview.png``: the current textures on the contact sheet's views at half the preview size, to watch a run
    as it goes (written whole or not at all, like every image)."""
    outputs = job.config.outputs
    textures = [texture.detach().cpu() for texture in job.textures()]
    sheet = contact_sheet(job.geometry.to("cpu"), textures, job.wraps, n_views=outputs.sheet_views,
                          size=max(16, outputs.preview_size // 2), seed=job.config.optim.seed)
    save_image(sheet, job.output / PREVIEW_NAME)
    return job.output / PREVIEW_NAME


def _write_previews(job: MeshState, finals: list[torch.Tensor]) -> None:
    """``before_after.png`` (the asset as loaded, then the result) and the turntable when asked."""
    outputs, geometry = job.config.outputs, job.geometry.to("cpu")
    sheet_args = {"n_views": outputs.sheet_views, "size": outputs.preview_size, "seed": job.config.optim.seed}
    before = contact_sheet(geometry, export_bases(job.mesh, job.loaded_textures), job.wraps, **sheet_args)
    after = contact_sheet(geometry, finals, job.wraps, **sheet_args)
    save_image(torch.cat([before, after], dim=1), job.output / BEFORE_AFTER_NAME)
    if outputs.turntable != "none":
        frames = turntable_frames(geometry, finals, job.wraps, n_frames=TURNTABLE_FRAMES, size=outputs.preview_size)
        write_turntable(frames, job.output / turntable_name(outputs.turntable))


@torch.no_grad()
def export_seconds(job: MeshState) -> float:
    """About how long :func:`write_outputs` will take, timed on the start state: one contact-sheet view of the
    original textures at the preview size (rendered twice, the second timed: the first warms the renderer up) times
    the views the export renders (the before and after sheets, the turntable's frames), plus the texture work
    (:func:`final_textures` timed once, times :data:`TEXTURE_WORK_FACTOR` for the files written)."""
    outputs, geometry = job.config.outputs, job.geometry.to("cpu")
    bases = export_bases(job.mesh, job.loaded_textures)
    camera = sheet_cameras(geometry, n_views=1, size=outputs.preview_size, seed=job.config.optim.seed)
    render_views(geometry, bases, job.wraps, camera)
    start = time.perf_counter()
    render_views(geometry, bases, job.wraps, camera)
    view_s = time.perf_counter() - start
    start = time.perf_counter()
    final_textures(job)
    texture_s = time.perf_counter() - start
    views = 2 * outputs.sheet_views + (TURNTABLE_FRAMES if outputs.turntable != "none" else 0)
    return views * view_s + TEXTURE_WORK_FACTOR * texture_s
