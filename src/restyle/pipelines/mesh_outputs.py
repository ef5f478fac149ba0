"""What a ``restyle mesh`` run writes: the stylised asset (GLB, OBJ+MTL+PNG), residual and coverage maps, the
palette swatch, before/after previews, the resolved config and the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from restyle.io.export import export_glb, export_obj
from restyle.io.images import save_image
from restyle.io.texture_padding import dilate_texture
from restyle.palettes import palette_swatch
from restyle.params.residual import ResidualTexture
from restyle.pipelines.loop import write_config
from restyle.pipelines.mesh_config import MeshConfig
from restyle.pipelines.preview import contact_sheet, turntable_frames, write_turntable

if TYPE_CHECKING:
    from restyle.pipelines.mesh import MeshJob


@dataclass(frozen=True)
class MeshResult:
    textures: list[torch.Tensor]  # per slot [3,Ht,Wt] stylised (start + residual, clamped, dilated), CPU
    output: Path  # the output folder
    glb: Path
    obj: Path
    config: MeshConfig  # fully resolved
    steps: int  # optimisation steps done in total (including resumed ones)


def final_textures(params: Sequence[ResidualTexture], coverage: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Start + residual per slot ``[3,Ht,Wt]``, with the residual push-pull padded beyond the covered texels
    (no seams)."""
    finals = []
    for param, covered in zip(params, coverage, strict=True):
        residual = param.residual.detach().permute(1, 2, 0).cpu().numpy()
        padded = dilate_texture(residual, covered.cpu().numpy())
        final = param.original.detach().cpu() + torch.from_numpy(np.asarray(padded)).permute(2, 0, 1)
        finals.append(final.clamp(0, 1).float())
    return finals


def write_outputs(job: MeshJob) -> MeshResult:
    out, config = job.output, job.config
    finals = final_textures(job.params, job.coverage)
    name = config.mesh.stem if config.mesh else "asset"
    arrays = [t.permute(1, 2, 0).numpy() for t in finals]
    glb = out / f"{name}_stylized.glb"
    obj = out / "obj" / f"{name}_stylized.obj"
    export_glb(job.mesh, arrays, glb)
    export_obj(job.mesh, arrays, obj)
    for index, (param, covered) in enumerate(zip(job.params, job.coverage, strict=True)):
        # the signed residual stored as 0.5 + r/2 so that 0 is mid-grey
        save_image((param.residual.detach().cpu() * 0.5 + 0.5).clamp(0, 1), out / f"residual_{index}.png")
        save_image(covered.float().cpu()[None].expand(3, -1, -1), out / f"coverage_{index}.png")
    if job.palette is not None:
        save_image(palette_swatch(job.palette.cpu()), out / "palette.png")
    _write_previews(job, finals)
    write_config(config, out / "config.toml")
    job.metrics.write(out / "metrics.jsonl")
    return MeshResult(finals, out, glb, obj, config, job.step_count)


def _write_previews(job: MeshJob, finals: list[torch.Tensor]) -> None:
    """``before_after.png`` (the asset as loaded, then the result) and the turntable when asked."""
    outputs, geometry = job.config.outputs, job.geometry.to("cpu")
    sheet_args = {"n_views": outputs.sheet_views, "size": outputs.preview_size, "seed": job.config.optim.seed}
    before = contact_sheet(geometry, [t.cpu() for t in job.loaded_textures], job.wraps, **sheet_args)
    after = contact_sheet(geometry, finals, job.wraps, **sheet_args)
    save_image(torch.cat([before, after], dim=1), job.output / "before_after.png")
    if outputs.turntable != "none":
        frames = turntable_frames(geometry, finals, job.wraps, size=outputs.preview_size)
        write_turntable(frames, job.output / f"turntable.{outputs.turntable}")
