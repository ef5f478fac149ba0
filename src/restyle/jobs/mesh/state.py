"""The data of one ``restyle mesh`` run: every part built from the config, and the state the optimisation changes.

The step (``step``), the checkpoint (``checkpoint``) and the export (``outputs``) read this state and change it
only through its methods; ``run`` sets their order. Nothing here imports them.

A residual style texture per slot (zero at start; optionally a Laplacian pyramid) is added to the fixed start
texture (the original, or the original recoloured to the style's colours as in ARF, see ``TextureConfig``) and
kept in 0..1. Coverage, per slot, is the texels the rendered views have read so far (see ``views``).

Shapes: textures ``[3,Ht,Wt]``; coverage and islands ``[Ht,Wt]`` (bool); renders ``[P,3,H,W]``; style images
``[1,3,S,S]``.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import torch

from restyle.backbones.base import MIN_IMAGE_SIZE
from restyle.colour.palettes import resolve_palette
from restyle.colour.recolour import ColourMap, fit_colour_map
from restyle.errors import ConfigError
from restyle.io.images import resize_long_side, square_style
from restyle.io.meshes import load_mesh
from restyle.io.uv_islands import mesh_island_masks
from restyle.jobs.mesh.config import MeshConfig, TextureConfig
from restyle.jobs.mesh.depth import MeshStyleLoss, check_mesh_depth
from restyle.jobs.mesh.text import load_text, network_style, text_defaults
from restyle.jobs.mesh.views import add_seen_texels, job_views, no_coverage, solid_background
from restyle.losses.palette import palette_loss
from restyle.objectives.networks import build_networks, choose_backbone, resolve_loss_defaults
from restyle.params.textures import residual_texture
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import geometry_and_textures
from restyle.render.shading import Lights, RenderOutput, SurfaceSamples, render
from restyle.render.views import ViewSampler
from restyle.run.loop import (
    MetricsLog,
    PhaseCallback,
    learning_rate,
    refuse_image_only_options,
    report,
    resolve_device,
    set_learning_rate,
)
from restyle.run.precision import LossScaler, resolve_precision
from restyle.run.preflight import check_memory, check_writable, mesh_bytes
from restyle.run.ranks import Ranks

# --------------------------------------------------------------------------------------------- set-up


def resolve_defaults(config: MeshConfig, on_phase: PhaseCallback | None = None) -> MeshConfig:
    """Fill every "backbone default" (None, ``auto``) with the value actually used; ``on_phase`` is told which
    backbone ``auto`` chose."""
    config = text_defaults(config)
    refuse_image_only_options(config.optim, config.style)
    named, note = choose_backbone(config.style, config.pretrained)
    style, weights = resolve_loss_defaults(named, config.weights)
    # One pass serves both losses only when one network computes both. With two (a preset's shared pass under a
    # backbone auto resolved to clip-rn50 + vgg16), the content loss takes its own pass over black renders, the
    # paper's: config.toml records false. A config cannot tell a preset's true from the user's, so no error.
    shared = config.texture.shared_content_pass and style.content_backbone == style.backbone
    precision = resolve_precision(config.optim.precision, resolve_device(config.device))
    if note is not None:  # after every check here: a refused config prints its error alone
        report(on_phase, note)
    return dataclasses.replace(config, style=style, weights=weights,
                               texture=dataclasses.replace(config.texture, shared_content_pass=shared),
                               optim=dataclasses.replace(config.optim, precision=precision.name))


def check_inputs(config: MeshConfig) -> tuple[Path, list[Path], Path]:
    """The mesh, the style images and the output folder of ``config``, after every check that needs no file
    loaded (a ConfigError names what is missing or out of range)."""
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


# --------------------------------------------------------------------------------------------- the state


class MeshState:
    """One stylisation run's data: every part built from the config, and a resumable state (``state_dict``)."""

    def __init__(self, config: MeshConfig, on_phase: PhaseCallback | None = None, ranks: Ranks | None = None) -> None:
        mesh_path, style_paths, self.output = check_inputs(config)
        self.ranks = ranks or Ranks()  # one process, or this rank's share of a torchrun run (``run.ranks``)
        self.passes = self.ranks.passes(config.render.views_per_step, config.render.views_per_pass)  # checked early
        config = resolve_defaults(config, on_phase)
        self.device = resolve_device(config.device)
        torch.manual_seed(config.optim.seed)
        size = config.render.render_size

        report(on_phase, f"loading {mesh_path.name}")
        self.mesh = load_mesh(mesh_path, unwrap=config.unwrap, on_unwrap=lambda faces: report(
            on_phase, f"unwrapping {mesh_path.name} ({faces:,} faces)"))
        style_size = round(size * config.texture.style_scale)
        report(on_phase, f"loading {len(style_paths)} style image{'s' if len(style_paths) != 1 else ''}")
        self.styles = [square_style(p, style_size, self.device, config.texture.style_fit) for p in style_paths]
        self.precision = resolve_precision(config.optim.precision, self.device)
        report(on_phase, f"loading networks ({self.precision.describe()})")
        self.text = load_text(config, self.device, self.precision)  # None without --text
        # without style images (--text alone) the content backbone stands in for the style one
        self.nets = build_networks(network_style(config), config.pretrained, self.device, precision=self.precision)
        self.config = config
        self.background = solid_background(config.render.background)
        self._build_scene(on_phase)
        self._build_optimisation()

    def _build_scene(self, on_phase: PhaseCallback | None) -> None:
        """Geometry, views, the loaded textures, their UV islands and (empty) coverage, and the colour maps."""
        config = self.config
        geometry, loaded, self.wraps = geometry_and_textures(self.mesh)
        self.geometry = geometry.to(self.device)
        self.sampler = ViewSampler(self.geometry, config.views, seed=config.optim.seed)
        pool = config.render.view_pool
        report(on_phase, f"rasterising {pool} views" if pool else "preparing")
        self.views = job_views(self.geometry, self.sampler, config.render)
        self.loaded_textures = _resized(loaded, config.render.texture_size, self.device)
        shapes = [tuple(t.shape[-2:]) for t in self.loaded_textures]
        self.islands = [torch.from_numpy(m).to(self.device) for m in mesh_island_masks(self.mesh, shapes)]
        self.coverage = no_coverage(self.islands)  # grows with every view rendered (see add_coverage)
        # kept so that export applies the same recolouring to the full-resolution originals
        self.colour_maps = _colour_maps(self.loaded_textures, self.islands, self.styles, config.texture)

    def _build_optimisation(self) -> None:
        """The residual textures, the palette, the style objective, the optimiser and the run's counters."""
        config = self.config
        starts = [t if m is None else m.apply(t) for t, m in zip(self.loaded_textures, self.colour_maps, strict=True)]
        texture = config.texture
        self.params = torch.nn.ModuleList(
            [residual_texture(t, texture.parameterisation, texture.residual_levels) for t in starts]
        ).to(self.device)
        palette = resolve_palette(
            config.palette.source, [s[0] for s in self.styles], k=config.palette.colors, seed=config.optim.seed
        )
        self.palette = None if palette is None else palette.to(self.device)
        # no style loss with --text alone
        self.style_objective = MeshStyleLoss(config, self.nets, self.styles) if self.styles else None
        self.optimizer = torch.optim.Adam(self.params.parameters(), lr=config.optim.lr)
        self.scaler = LossScaler(self.precision)  # fp16's gradient scaling; fp32, bf16: a pass-through
        self.style_pick = random.Random(config.optim.seed)  # which style image (and crop) is behind each view
        self.metrics = MetricsLog()
        self.step_count = 0
        self._rng_at_step_start: dict[str, Any] | None = None  # set while a step is in flight (see state_dict)

    # -- what a step reads ---------------------------------------------------------------------------

    def textures(self) -> list[torch.Tensor]:
        """Per slot the current texture ``[3,Ht,Wt]``: start + residual, clamped to 0..1."""
        return [param() for param in self.params]

    def originals(self) -> list[torch.Tensor]:
        """The start textures (what the content loss keeps): the loaded ones, or those recoloured."""
        return [param.original for param in self.params]

    def unclamped_textures(self) -> list[torch.Tensor]:
        """``original + residual`` without the clamp: what the palette loss sees (the paper's), so that a texel
        pushed past 0 or 1 is still pulled towards the palette rather than looking like its clamped value."""
        return [param.original + param.residual for param in self.params]

    def render_batch(self, textures: list[torch.Tensor], cameras: Cameras, lights: Lights,
                     gbuffer: GBuffer) -> RenderOutput:
        """``textures`` on the mesh in the views of ``gbuffer`` (images ``[P,3,H,W]``, premultiplied over black)."""
        return render(
            self.geometry, gbuffer, cameras, textures, self.wraps, lights,
            shading=self.config.shading, supersample=self.config.render.supersample,
        )

    def style_backgrounds(self, batch: int, size: int) -> torch.Tensor:
        """Per view, a ``size``-square crop of a style image ``[B,3,size,size]`` (or the solid colour,
        ``[B,3,1,1]``) to put behind the render."""
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

    # -- what a step changes -------------------------------------------------------------------------

    def begin_step(self) -> float:
        """Before a step's gradients: note the random state (a step cut short is redone from it), set the
        scheduled learning rate and clear the gradients. Returns that learning rate."""
        self._rng_at_step_start = self._rng_state()
        lr = learning_rate(self.config.optim, self.step_count)
        set_learning_rate(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        return lr

    def add_coverage(self, surface: SurfaceSamples) -> None:
        """Mark the texels the render of ``surface`` read as covered (inside the islands)."""
        self.coverage = add_seen_texels(self.coverage, self.islands, surface, self.wraps)

    def share_coverage(self) -> None:
        """Under torchrun, make the coverage the union of every rank's, so that all ranks hold the same map."""
        self.coverage = self.ranks.union_coverage(self.coverage)

    def backward(self, loss: torch.Tensor) -> None:
        """Add ``loss``'s gradients to the textures' (scaled under fp16: see ``end_step``)."""
        self.scaler.backward(loss)

    def end_step(self) -> None:
        """Apply the gradients: one optimiser step, the residuals projected back into range, one more step done.
        Under fp16 the gradients are unscaled first, and a step whose gradients overflowed moves nothing (its loss
        was finite: not a divergence) but still counts, so the schedule and the step numbers go on."""
        self.scaler.step(self.optimizer)
        for param in self.params:
            param.project()
        self.step_count += 1
        self._rng_at_step_start = None

    # -- resumable state -----------------------------------------------------------------------------

    def _rng_state(self) -> dict[str, Any]:
        return {
            "sampler": self.sampler.state_dict(),
            "style_pick": self.style_pick.getstate(),
            "torch_rng": torch.get_rng_state(),
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly. A step cut short (Ctrl-C) is redone from its start on resume,
        so the random state saved is the one from before that step."""
        rng = self._rng_at_step_start or self._rng_state()
        return {
            "step": self.step_count,
            "params": self.params.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "metrics": self.metrics.entries,
            "coverage": self.coverage,
            **rng,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = state["step"]
        self.params.load_state_dict(state["params"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state.get("scaler", {}))  # absent from checkpoints before fp16 scaling
        self.sampler.load_state_dict(state["sampler"])
        self.style_pick.setstate(state["style_pick"])
        torch.set_rng_state(state["torch_rng"])
        self.metrics.entries = list(state["metrics"])
        self.coverage = [covered.to(self.device) for covered in state["coverage"]]
