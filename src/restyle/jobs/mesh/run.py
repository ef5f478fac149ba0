"""``restyle mesh``: CLIP-based neural neighbour style transfer for 3D assets (Mishra & Granskog), end to end.

A residual style texture per slot (zero at start; optionally a Laplacian pyramid) is added to the fixed start
texture (the original, or the original recoloured to the style's colours as in ARF, see ``TextureConfig``) and
kept in 0..1. Each step draws a batch of fresh random views (or, with ``render.view_pool``, views from a pool
rasterised once), renders them once, composites the renders over the style image (a random crop when it is larger
than the render) for the style loss and over black for the content loss (the CLIP paper's two renders, from one
shading pass; or both losses from one backbone pass over the style composite), and adds a colour-palette loss on
the covered texels (those the views have read so far). ``--text`` adds CLIPstyler's text losses on the renders
(``mesh_text``), with the style images or instead of them.

Shapes: textures ``[3,Ht,Wt]``; renders ``[P,3,H,W]`` per pass of P = ``render.views_per_pass`` views (by
default all B = ``render.views_per_step``; see ``mesh_step``).
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import torch

from restyle.backbones.base import MIN_IMAGE_SIZE
from restyle.colour.palettes import resolve_palette
from restyle.colour.recolour import ColourMap, fit_colour_map
from restyle.errors import ConfigError, DivergedError
from restyle.io.images import resize_long_side, square_style
from restyle.io.meshes import load_mesh
from restyle.io.uv_islands import mesh_island_masks
from restyle.jobs.mesh import checkpoint as mesh_checkpoint
from restyle.jobs.mesh.checkpoint import CHECKPOINT, load_resume_config
from restyle.jobs.mesh.config import MESH_PRESETS, MeshConfig, TextureConfig
from restyle.jobs.mesh.depth import MeshStyleLoss, check_mesh_depth
from restyle.jobs.mesh.outputs import MeshResult, input_files, output_files, write_outputs, write_progress_preview
from restyle.jobs.mesh.step import step_gradients
from restyle.jobs.mesh.text import load_text, network_style, text_defaults
from restyle.jobs.mesh.views import job_views, no_coverage, solid_background
from restyle.losses.palette import palette_loss
from restyle.objectives.networks import (
    build_networks,
    resolve_loss_defaults,
)
from restyle.params.residual import ResidualTexture
from restyle.render.geometry import geometry_and_textures
from restyle.render.shading import RenderOutput, render
from restyle.render.views import ViewSampler
from restyle.run.files import refuse_overlap, remove_previous_run
from restyle.run.loop import (
    MetricsLog,
    PhaseCallback,
    StepCallback,
    StepInfo,
    check_finite,
    learning_rate,
    refuse_image_only_options,
    report,
    resolve_device,
    set_learning_rate,
    write_config,
)
from restyle.run.preflight import check_memory, check_writable, mesh_bytes
from restyle.run.ranks import Ranks, follow, session

__all__ = [
    "CHECKPOINT", "MESH_PRESETS", "Interrupted", "MeshConfig", "MeshJob", "MeshResult", "TextureConfig",
    "load_resume_config", "run",
]

class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: a checkpoint was written and the run can be resumed."""

    def __init__(self, output: Path, step: int) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint written; continue with --resume {output}")
        self.output, self.step = output, step


# --------------------------------------------------------------------------------------------- set-up


def resolve_defaults(config: MeshConfig) -> MeshConfig:
    """Fill every "backbone default" (None) with the value actually used."""
    config = text_defaults(config)
    refuse_image_only_options(config.optim, config.style)
    style, weights = resolve_loss_defaults(config.style, config.weights)
    if config.texture.shared_content_pass and style.content_backbone != style.backbone:
        raise ConfigError(
            f"texture.shared_content_pass needs one network for style and content; got style {style.backbone!r}"
            f" and content {style.content_backbone!r}"
        )
    return dataclasses.replace(config, style=style, weights=weights)


def _check_inputs(config: MeshConfig) -> tuple[Path, list[Path], Path]:
    if config.mesh is None:
        raise ConfigError("no mesh given")
    if not config.styles and config.text is None:
        raise ConfigError("no style image given (use -s STYLE or --text PROMPT)")
    text_defaults(config)  # the prompt's checks, before any file is written
    check_mesh_depth(config)
    if config.output is None:
        raise ConfigError("no output folder given (use -o OUTDIR)")
    check_writable(config.output, folder=True)
    render = config.render
    check_memory(mesh_bytes(render.texture_size, config.texture.residual_levels, render.views_per_step,
                            render.render_size, render.supersample), str(resolve_device(config.device)),
                 "this mesh run")
    if config.render.render_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"render.render_size must be at least {MIN_IMAGE_SIZE} pixels (the backbones need it)")
    return config.mesh, list(config.styles), config.output


def _resized(textures: list[torch.Tensor], size: int, device: torch.device) -> list[torch.Tensor]:
    """Each ``[3,Ht,Wt]`` texture with its long side resampled to ``size``."""
    return [resize_long_side(t, size).clamp(0, 1).to(device) for t in textures]


def _colour_maps(
    loaded: list[torch.Tensor], coverage: list[torch.Tensor], styles: list[torch.Tensor], texture: TextureConfig
) -> list[ColourMap | None]:
    """Per slot, the map taking the loaded texture to the styles' colours, or None to start from it as loaded."""
    if texture.recolour == "none":
        return [None] * len(loaded)
    return [fit_colour_map(t, covered, styles) for t, covered in zip(loaded, coverage, strict=True)]


# --------------------------------------------------------------------------------------------- the job


class MeshJob:
    """One stylisation run: every part built from the config, a ``step()`` and a resumable state."""

    def __init__(self, config: MeshConfig, on_phase: PhaseCallback | None = None, ranks: Ranks | None = None) -> None:
        mesh_path, style_paths, self.output = _check_inputs(config)
        self.ranks = ranks or Ranks()  # one process, or this rank's share of a torchrun run (``distributed``)
        self.passes = self.ranks.passes(config.render.views_per_step, config.render.views_per_pass)  # checked early
        config = resolve_defaults(config)
        self.device = resolve_device(config.device)
        torch.manual_seed(config.optim.seed)
        size = config.render.render_size

        report(on_phase, f"loading {mesh_path.name}")
        self.mesh = load_mesh(mesh_path, unwrap=config.unwrap, on_unwrap=lambda faces: report(
            on_phase, f"unwrapping {mesh_path.name} ({faces:,} faces)"))
        style_size = round(size * config.texture.style_scale)
        report(on_phase, f"loading {len(style_paths)} style image{'s' if len(style_paths) != 1 else ''}")
        self.styles = [square_style(p, style_size, self.device, config.texture.style_fit) for p in style_paths]
        report(on_phase, "loading networks")
        self.text = load_text(config, self.device)  # None without --text
        self.nets = build_networks(network_style(config), config.pretrained, self.device)  # style net: not text-only
        self.config = config
        self.background = solid_background(config.render.background)

        geometry, loaded, self.wraps = geometry_and_textures(self.mesh)
        self.geometry = geometry.to(self.device)
        self.sampler = ViewSampler(self.geometry, config.views, seed=config.optim.seed)
        pool = config.render.view_pool
        report(on_phase, f"rasterising {pool} views" if pool else "preparing")
        self.views = job_views(self.geometry, self.sampler, config.render)
        self.loaded_textures = _resized(loaded, config.render.texture_size, self.device)
        shapes = [tuple(t.shape[-2:]) for t in self.loaded_textures]
        self.islands = [torch.from_numpy(m).to(self.device) for m in mesh_island_masks(self.mesh, shapes)]
        self.coverage = no_coverage(self.islands)  # grows with every view rendered (see mesh_step)
        # kept so that export applies the same recolouring to the full-resolution originals
        self.colour_maps = _colour_maps(self.loaded_textures, self.islands, self.styles, config.texture)
        starts = [t if m is None else m.apply(t) for t, m in zip(self.loaded_textures, self.colour_maps, strict=True)]
        levels = config.texture.residual_levels
        self.params = torch.nn.ModuleList([ResidualTexture(t, levels) for t in starts]).to(self.device)
        self.palette = resolve_palette(
            config.palette.source, [s[0] for s in self.styles], k=config.palette.colors, seed=config.optim.seed
        )
        if self.palette is not None:
            self.palette = self.palette.to(self.device)
        # no style loss with --text alone
        self.style_objective = MeshStyleLoss(config, self.nets, self.styles) if self.styles else None
        self.optimizer = torch.optim.Adam(self.params.parameters(), lr=config.optim.lr)
        self.style_pick = random.Random(config.optim.seed)  # which style image (and crop) is behind each view
        self.metrics = MetricsLog()
        self.step_count = 0
        self._rng_at_step_start: dict | None = None  # set while a step is in flight (see state_dict)
        self.provenance: dict | None = None  # what ties a checkpoint to this run (see mesh_checkpoint)

    # -- one step ------------------------------------------------------------------------------------

    def textures(self) -> list[torch.Tensor]:
        return [param() for param in self.params]

    def originals(self) -> list[torch.Tensor]:
        """The start textures (what the content loss keeps): the loaded ones, or those recoloured."""
        return [param.original for param in self.params]

    def unclamped_textures(self) -> list[torch.Tensor]:
        """``original + residual`` without the clamp: what the palette loss sees (the paper's), so that a texel
        pushed past 0 or 1 is still pulled towards the palette rather than looking like its clamped value."""
        return [param.original + param.residual for param in self.params]

    def render_batch(self, textures: list[torch.Tensor], cameras, lights, gbuffer) -> RenderOutput:
        return render(
            self.geometry, gbuffer, cameras, textures, self.wraps, lights,
            shading=self.config.shading, supersample=self.config.render.supersample,
        )

    def style_backgrounds(self, batch: int, size: int) -> torch.Tensor:
        """Per view, a ``size``-square crop of a style image (or the solid colour) to put behind the render."""
        if self.background is not None:
            return self.background.to(self.device)[None, :, None, None].expand(batch, 3, 1, 1)
        crops = []
        for _ in range(batch):
            # "primary": the first style image behind every view (the paper); "style": a random one per view
            pick = 0 if self.config.render.background == "primary" else self.style_pick.randrange(len(self.styles))
            style = self.styles[pick]
            top = self.style_pick.randrange(style.shape[-2] - size + 1)
            left = self.style_pick.randrange(style.shape[-1] - size + 1)
            crops.append(style[..., top : top + size, left : left + size])
        return torch.cat(crops)

    def covered_palette_loss(self, textures: list[torch.Tensor]) -> torch.Tensor:
        """The palette loss of ``textures`` over their covered texels, averaged over the slots that have any."""
        losses = [
            palette_loss(texture, self.palette, mask=covered[None].float())
            for texture, covered in zip(textures, self.coverage, strict=True)
            if covered.any()
        ]
        if not losses:  # nothing seen yet (a render that missed the mesh): no texel to pull
            return torch.zeros((), device=self.device)
        return torch.stack(losses).mean()

    def step(self) -> StepInfo:
        self._rng_at_step_start = self._rng_state()
        lr = learning_rate(self.config.optim, self.step_count)
        set_learning_rate(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        losses = step_gradients(self)
        check_finite(losses, self.step_count + 1)  # before the optimiser moves the textures
        self.optimizer.step()
        for param in self.params:
            param.project()
        self.step_count += 1
        self._rng_at_step_start = None
        info = StepInfo(self.step_count, self.config.optim.iters, lr, losses)
        self.metrics.record(info, self.config.optim.log_every)
        return info

    # -- resumable state -----------------------------------------------------------------------------

    def _rng_state(self) -> dict:
        return {
            "sampler": self.sampler.state_dict(),
            "style_pick": self.style_pick.getstate(),
            "torch_rng": torch.get_rng_state(),
        }

    def state_dict(self) -> dict:
        """Everything needed to continue exactly. A step cut short (Ctrl-C) is redone from its start on resume,
        so the random state saved is the one from before that step."""
        rng = self._rng_at_step_start or self._rng_state()
        return {
            "step": self.step_count,
            "params": self.params.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "metrics": self.metrics.entries,
            "coverage": self.coverage,
            **rng,
        }

    def load_state_dict(self, state: dict) -> None:
        self.step_count = state["step"]
        self.params.load_state_dict(state["params"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.style_pick.setstate(state["style_pick"])
        torch.set_rng_state(state["torch_rng"])
        self.metrics.entries = list(state["metrics"])
        self.coverage = [covered.to(self.device) for covered in state["coverage"]]

    def save_checkpoint(self) -> Path:
        # a finite loss can still come with an infinite gradient; its NaN step must not replace a good checkpoint
        if not all(bool(torch.isfinite(p).all()) for p in self.params.parameters()):
            raise DivergedError(f"the run diverged at step {self.step_count}: the textures hold NaN or infinite "
                                "values; the last good checkpoint is kept (try a lower lr)")
        if self.provenance is None:  # hashed once: the inputs do not change during a run
            self.provenance = mesh_checkpoint.provenance(self)
        return mesh_checkpoint.save(self, self.provenance)

    def write_outputs(self) -> MeshResult:
        return write_outputs(self)


# --------------------------------------------------------------------------------------------- running


def run(
    config: MeshConfig,
    on_step: StepCallback | None = None,
    *,
    resume: bool = False,
    config_file: Path | None = None,
    on_phase: PhaseCallback | None = None,
) -> MeshResult:
    """Stylise ``config.mesh``; writes the asset and every side output into ``config.output``.

    With ``resume``, the checkpoint in the output folder is loaded first and the run continues where it
    stopped; the result equals an uninterrupted run with the same seed on the CPU. Ctrl-C writes a checkpoint
    and raises :class:`Interrupted`. A folder holding another run is refused unless ``resume`` or
    ``config.overwrite``; a folder in use by a live run is refused; no input file is ever written over.
    ``on_phase`` is told each stage of the preparation and the export (see :data:`PhaseCallback`).
    """
    output = _check_inputs(config)[2]
    with session() as ranks, ranks.output_folder(output, resume=resume, overwrite=config.overwrite):
        on_phase, on_step = (on_phase, on_step) if ranks.is_main else (None, None)
        # a permission of this invocation, not a setting of the run: the config.toml written must not carry it
        # into a later run that reuses it with --config or --resume
        job = MeshJob(dataclasses.replace(config, overwrite=False, device=ranks.device(config.device)), on_phase,
                      ranks)
        files, owned = output_files(job.config, job.output, len(job.mesh.slots))
        inputs = input_files(job, config_file, resume)
        refuse_overlap(files, inputs, owned)
        if config.overwrite and not resume and ranks.is_main:  # every check passed: the old run may go
            remove_previous_run(output, keep=[path for _, path in inputs])
        job.provenance = mesh_checkpoint.provenance(job)
        if resume:
            mesh_checkpoint.resume(job, job.provenance)
        report(on_phase, f"optimising ({job.config.optim.iters - job.step_count} steps)")
        return _optimise(job, on_step, on_phase)


def _optimise(job: MeshJob, on_step: StepCallback | None, on_phase: PhaseCallback | None = None) -> MeshResult:
    if not job.ranks.is_main:  # the other ranks of a torchrun run only compute
        return follow(job)
    write_config(job.config, job.output / "config.toml")
    job.metrics.open(job.output / "metrics.jsonl")  # appended as the run goes
    every, preview = job.config.outputs.checkpoint_every, job.config.outputs.preview_every
    # under torchrun, signals that arrive while the checkpoint is written are only noted: it is written whole
    with job.ranks.stops_between_steps() as check_stop:
        try:
            while job.step_count < job.config.optim.iters:
                info = job.step()
                check_stop()  # under torchrun: a Ctrl-C or SIGTERM to any rank stops all after the same step
                if every and job.step_count % every == 0:
                    job.save_checkpoint()
                if preview and job.step_count % preview == 0:
                    write_progress_preview(job)
                if on_step is not None:
                    on_step(info)
        except KeyboardInterrupt:
            job.save_checkpoint()
            raise Interrupted(job.output, job.step_count) from None
    job.save_checkpoint()
    job.ranks.finish()  # under torchrun: all ranks leave together; the export needs no other rank
    report(on_phase, f"exporting to {job.output}")
    return job.write_outputs()
