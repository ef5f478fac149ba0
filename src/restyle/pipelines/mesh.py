"""``restyle mesh``: CLIP-based neural neighbour style transfer for 3D assets (Mishra & Granskog), end to end.

A residual style texture per slot (zero at start) is added to the fixed original texture and clamped. Each step
draws a batch of views from a pool of rasterised views (fresh random lights), renders them once, composites the
renders over the style image for the style loss and over black for the content loss (the CLIP paper's two
renders, from one shading pass), and adds a colour-palette loss on the covered texels of the summed texture.

Shapes: textures ``[3,Ht,Wt]``; renders ``[B,3,H,W]`` with B = ``render.views_per_step``.
"""

from __future__ import annotations

import dataclasses
import pickle
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from restyle.backbones.base import MIN_IMAGE_SIZE
from restyle.configs import option
from restyle.errors import ConfigError, InputError
from restyle.io.atomic import atomic_path
from restyle.io.export import export_glb, export_obj
from restyle.io.images import load_image, resize_long_side, save_image
from restyle.io.meshes import load_mesh
from restyle.io.texture_padding import dilate_texture
from restyle.losses.palette import palette_loss
from restyle.losses.tv import tv_loss
from restyle.palettes import palette_swatch, resolve_palette
from restyle.params.pixels import ResidualTexture
from restyle.pipelines.config import (
    LossWeights,
    OptimConfig,
    OutputConfig,
    PaletteConfig,
    RenderConfig,
    StyleConfig,
    WeightsConfig,
)
from restyle.pipelines.loop import (
    MetricsLog,
    StepCallback,
    StepInfo,
    as_floats,
    learning_rate,
    palette_weight,
    refuse_overwriting_inputs,
    resolve_device,
    set_learning_rate,
    weighted_total,
    write_config,
)
from restyle.pipelines.networks import build_networks, build_style_objective, resolve_loss_defaults, resolve_taps
from restyle.pipelines.objectives import content_objective
from restyle.pipelines.preview import contact_sheet, turntable_frames, write_turntable
from restyle.pipelines.render_asset import geometry_and_textures
from restyle.render.shading import RenderOutput, ShadingConfig, render, texel_coverage
from restyle.render.views import GBufferCache, ViewConfig, ViewSampler


@dataclass
class MeshConfig:
    """Everything ``restyle mesh`` can be told; ``config.toml`` in the output folder holds it fully resolved."""

    mesh: Path | None = option(None, help="The asset to stylise (OBJ+MTL, glTF, GLB, PLY).")
    styles: list[Path] = option(factory=list, help="One or more style images (their features are pooled).")
    output: Path | None = option(None, help="Output folder.")
    text: str | None = option(None, help="Text prompt instead of style images (CLIPstyler; not available yet).")
    unwrap: bool = option(True, help="Unwrap meshes without UVs automatically (xatlas) instead of refusing them.")
    device: str = option("auto", help="auto, cpu, cuda or cuda:N.")
    style: StyleConfig = option(factory=StyleConfig, help="Style loss.")
    weights: LossWeights = option(factory=LossWeights, help="Loss weights.")
    palette: PaletteConfig = option(factory=lambda: PaletteConfig(source="auto"), help="Colour palette loss.")
    optim: OptimConfig = option(
        factory=lambda: OptimConfig(iters=15000, lr=0.0095, log_every=10), help="Optimiser."
    )
    render: RenderConfig = option(factory=RenderConfig, help="Training renders.")
    views: ViewConfig = option(factory=ViewConfig, help="Random cameras and lights.")
    shading: ShadingConfig = option(factory=ShadingConfig, help="Shading model.")
    outputs: OutputConfig = option(factory=OutputConfig, help="What is written besides the asset.")
    pretrained: WeightsConfig = option(factory=WeightsConfig, help="Pretrained weight files.")


MESH_PRESETS: dict[str, dict] = {
    # The paper's setting (texture 1024, render 512, 15,000 steps; batch 4 as in its public code).
    "paper": {
        "render": {"texture_size": 1024, "render_size": 512, "views_per_step": 4},
        "optim": {"iters": 15000, "lr": 0.0095},
    },
    # Small enough to finish on 2 CPU cores in minutes with clip-rn50 + vgg16.
    "preview": {
        "render": {"texture_size": 512, "render_size": 224, "views_per_step": 2, "view_pool": 24},
        "optim": {"iters": 300, "lr": 0.02, "lr_decay_every": 100, "log_every": 5},
        "outputs": {"checkpoint_every": 100},
    },
    # A quick look at where a style is going.
    "draft": {
        "render": {"texture_size": 256, "render_size": 128, "views_per_step": 1, "view_pool": 12},
        "optim": {"iters": 60, "lr": 0.03, "lr_decay_every": 30, "log_every": 5},
        "outputs": {"checkpoint_every": 30, "sheet_views": 4, "preview_size": 192},
    },
}

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class MeshResult:
    textures: list[torch.Tensor]  # per slot [3,Ht,Wt] stylised (original + residual, clamped, dilated), CPU
    output: Path  # the output folder
    glb: Path
    obj: Path
    config: MeshConfig  # fully resolved
    steps: int  # optimisation steps done in total (including resumed ones)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: a checkpoint was written and the run can be resumed."""

    def __init__(self, output: Path, step: int) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint written; continue with --resume {output}")
        self.output, self.step = output, step


# --------------------------------------------------------------------------------------------- set-up


def resolve_defaults(config: MeshConfig) -> MeshConfig:
    """Fill every "backbone default" (None) with the value actually used."""
    if config.text is not None:
        raise ConfigError("--text (CLIPstyler text-driven stylisation) is not available yet; give -s STYLE")
    style, weights = resolve_loss_defaults(config.style, config.weights)
    return dataclasses.replace(config, style=style, weights=weights)


def _check_inputs(config: MeshConfig) -> tuple[Path, list[Path], Path]:
    if config.mesh is None:
        raise ConfigError("no mesh given")
    if not config.styles:
        raise ConfigError("no style image given (use -s STYLE)")
    if config.output is None:
        raise ConfigError("no output folder given (use -o OUTDIR)")
    if config.output.exists() and not config.output.is_dir():
        raise ConfigError(f"{config.output}: output must be a folder, and this is a file")
    if config.render.render_size < MIN_IMAGE_SIZE:
        raise ConfigError(f"render.render_size must be at least {MIN_IMAGE_SIZE} pixels (the backbones need it)")
    refuse_overwriting_inputs([config.output], [config.mesh, *config.styles])
    return config.mesh, list(config.styles), config.output


def _background(spec: str, style: torch.Tensor) -> torch.Tensor:
    """The background colour ``[3]`` or the style image ``[3,H,W]`` used behind style-loss renders."""
    if spec == "style":
        return style
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigError(f"render.background must be 'style' or 'R,G,B' in 0..1; got {spec!r}")
    return torch.tensor(values)


def _square_style(path: Path, size: int, device: torch.device) -> torch.Tensor:
    """A style image resized to cover the square render and centre-cropped: ``[1,3,size,size]``."""
    image = load_image(path)
    scale = size / min(image.shape[-2:])
    resized = F.interpolate(image[None], scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
    top = (resized.shape[-2] - size) // 2
    left = (resized.shape[-1] - size) // 2
    return resized[..., top : top + size, left : left + size].to(device)


def _resized(textures: list[torch.Tensor], size: int, device: torch.device) -> list[torch.Tensor]:
    """Each ``[3,Ht,Wt]`` texture with its long side resampled to ``size``."""
    return [resize_long_side(t, size).clamp(0, 1).to(device) for t in textures]


# --------------------------------------------------------------------------------------------- the job


class MeshJob:
    """One stylisation run: every part built from the config, a ``step()`` and a resumable state."""

    def __init__(self, config: MeshConfig) -> None:
        mesh_path, style_paths, self.output = _check_inputs(config)
        config = resolve_defaults(config)
        self.device = resolve_device(config.device)
        torch.manual_seed(config.optim.seed)
        size = config.render.render_size

        self.mesh = load_mesh(mesh_path, unwrap=config.unwrap)
        self.styles = [_square_style(p, size, self.device) for p in style_paths]
        self.nets = build_networks(config.style, config.pretrained, self.device)
        self.config = config = dataclasses.replace(config, style=resolve_taps(config.style, self.nets))
        self.background = _background(config.render.background, self.styles[0][0])

        geometry, originals, self.wraps = geometry_and_textures(self.mesh)
        self.geometry = geometry.to(self.device)
        self.sampler = ViewSampler(self.geometry, config.views, seed=config.optim.seed)
        self.views = GBufferCache(
            self.geometry, self.sampler, config.render.view_pool, size, size,
            supersample=config.render.supersample, backend=config.render.backend,
        )
        originals = _resized(originals, config.render.texture_size, self.device)
        self.params = torch.nn.ModuleList([ResidualTexture(t) for t in originals]).to(self.device)
        self.coverage = [
            c.to(self.device)
            for c in texel_coverage(
                self.geometry, self.views.gbuffer, self.views.cameras, [t.shape[-2:] for t in originals], self.wraps
            )
        ]
        self.palette = resolve_palette(
            config.palette.source, [s[0] for s in self.styles], k=config.palette.colors, seed=config.optim.seed
        )
        if self.palette is not None:
            self.palette = self.palette.to(self.device)
        self.style_objective = build_style_objective(config.style, self.nets, self.styles, seed=config.optim.seed)
        self.optimizer = torch.optim.Adam(self.params.parameters(), lr=config.optim.lr)
        self.style_pick = random.Random(config.optim.seed)  # which style image is the background of each view
        self.metrics = MetricsLog()
        self.step_count = 0
        self._rng_at_step_start: dict | None = None  # set while a step is in flight (see state_dict)

    # -- one step ------------------------------------------------------------------------------------

    def textures(self) -> list[torch.Tensor]:
        return [param() for param in self.params]

    def originals(self) -> list[torch.Tensor]:
        return [param.original for param in self.params]

    def render_batch(self, textures: list[torch.Tensor], cameras, lights, gbuffer) -> RenderOutput:
        return render(
            self.geometry, gbuffer, cameras, textures, self.wraps, lights,
            shading=self.config.shading, supersample=self.config.render.supersample,
        )

    def style_backgrounds(self, batch: int) -> torch.Tensor:
        """Per view, a style image (or the solid colour) to composite behind the style-loss render."""
        if self.background.ndim == 1:
            return self.background.to(self.device)[None, :, None, None].expand(batch, 3, 1, 1)
        picks = [self.style_pick.randrange(len(self.styles)) for _ in range(batch)]
        return torch.cat([self.styles[i] for i in picks])

    def loss_terms(self) -> dict[str, torch.Tensor]:
        config, weights = self.config, self.config.weights
        cameras, lights, gbuffer = self.views.sample(config.render.views_per_step)
        textures = self.textures()
        out = self.render_batch(textures, cameras, lights, gbuffer)
        # Shading over black is premultiplied colour, so either composite is one multiply-add away.
        over_style = out.images + (1 - out.mask) * self.style_backgrounds(out.images.shape[0])
        terms = {"style": weights.style * self.style_objective(self.nets.style(over_style, config.style.style_taps))}
        if weights.content:
            with torch.no_grad():
                reference = self.render_batch(self.originals(), cameras, lights, gbuffer).images
                targets = self.nets.content(reference, config.style.content_taps)
            features = self.nets.content(out.images, config.style.content_taps)
            terms["content"] = weights.content * content_objective(features, targets)
        if weights.tv:
            terms["tv"] = weights.tv * tv_loss(out.images)
        if self.palette is not None:
            weight = palette_weight(config.palette, config.optim, self.step_count)
            terms["palette"] = weight * self._palette_loss(textures)
        return terms

    def _palette_loss(self, textures: list[torch.Tensor]) -> torch.Tensor:
        losses = [
            palette_loss(texture, self.palette, mask=covered[None].float())
            for texture, covered in zip(textures, self.coverage, strict=True)
            if covered.any()
        ]
        return torch.stack(losses).mean()

    def step(self) -> StepInfo:
        self._rng_at_step_start = self._rng_state()
        lr = learning_rate(self.config.optim, self.step_count)
        set_learning_rate(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        terms = self.loss_terms()
        total = weighted_total(terms)
        total.backward()
        self.optimizer.step()
        self.step_count += 1
        self._rng_at_step_start = None
        info = StepInfo(self.step_count, self.config.optim.iters, lr, as_floats(terms, total))
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

    def save_checkpoint(self) -> Path:
        path = self.output / CHECKPOINT
        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return path

    # -- outputs -------------------------------------------------------------------------------------

    def final_textures(self) -> list[torch.Tensor]:
        """Original + residual with the residual push-pull padded beyond the covered texels (no seams)."""
        finals = []
        for param, covered in zip(self.params, self.coverage, strict=True):
            residual = param.residual.detach().permute(1, 2, 0).cpu().numpy()
            padded = dilate_texture(residual, covered.cpu().numpy())
            final = param.original.detach().cpu() + torch.from_numpy(np.asarray(padded)).permute(2, 0, 1)
            finals.append(final.clamp(0, 1).float())
        return finals

    def write_outputs(self) -> MeshResult:
        out, config = self.output, self.config
        finals = self.final_textures()
        name = config.mesh.stem if config.mesh else "asset"
        arrays = [t.permute(1, 2, 0).numpy() for t in finals]
        glb = out / f"{name}_stylized.glb"
        obj = out / "obj" / f"{name}_stylized.obj"
        export_glb(self.mesh, arrays, glb)
        export_obj(self.mesh, arrays, obj)
        for index, (param, covered) in enumerate(zip(self.params, self.coverage, strict=True)):
            # the signed residual stored as 0.5 + r/2 so that 0 is mid-grey
            save_image((param.residual.detach().cpu() * 0.5 + 0.5).clamp(0, 1), out / f"residual_{index}.png")
            save_image(covered.float().cpu()[None].expand(3, -1, -1), out / f"coverage_{index}.png")
        if self.palette is not None:
            save_image(palette_swatch(self.palette.cpu()), out / "palette.png")
        self._write_previews(finals)
        write_config(config, out / "config.toml")
        self.metrics.write(out / "metrics.jsonl")
        return MeshResult(finals, out, glb, obj, config, self.step_count)

    def _write_previews(self, finals: list[torch.Tensor]) -> None:
        outputs, geometry = self.config.outputs, self.geometry.to("cpu")
        sheet_args = {"n_views": outputs.sheet_views, "size": outputs.preview_size, "seed": self.config.optim.seed}
        before = contact_sheet(geometry, [t.cpu() for t in self.originals()], self.wraps, **sheet_args)
        after = contact_sheet(geometry, finals, self.wraps, **sheet_args)
        save_image(torch.cat([before, after], dim=1), self.output / "before_after.png")
        if outputs.turntable != "none":
            frames = turntable_frames(geometry, finals, self.wraps, size=outputs.preview_size)
            write_turntable(frames, self.output / f"turntable.{outputs.turntable}")


# --------------------------------------------------------------------------------------------- running


def load_resume_config(folder: Path) -> Path:
    """The ``config.toml`` of a run folder to resume, or an InputError saying what is missing."""
    for needed in ("config.toml", CHECKPOINT):
        if not (folder / needed).is_file():
            raise InputError(f"{folder}: cannot resume, no {needed} in this folder")
    return folder / "config.toml"


def _resume(job: MeshJob) -> None:
    path = job.output / CHECKPOINT
    try:
        job.load_state_dict(torch.load(path, weights_only=False, map_location=job.device))
    except (RuntimeError, KeyError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot resume from this checkpoint with this config ({reason})") from None


def run(config: MeshConfig, on_step: StepCallback | None = None, *, resume: bool = False) -> MeshResult:
    """Stylise ``config.mesh``; writes the asset and every side output into ``config.output``.

    With ``resume``, the checkpoint in the output folder is loaded first and the run continues where it
    stopped; the result equals an uninterrupted run with the same seed on the CPU. Ctrl-C writes a checkpoint
    and raises :class:`Interrupted`.
    """
    job = MeshJob(config)
    job.output.mkdir(parents=True, exist_ok=True)
    if resume:
        _resume(job)
    write_config(job.config, job.output / "config.toml")
    every = job.config.outputs.checkpoint_every
    try:
        while job.step_count < job.config.optim.iters:
            info = job.step()
            if on_step is not None:
                on_step(info)
            if every and job.step_count % every == 0:
                job.save_checkpoint()
    except KeyboardInterrupt:
        job.save_checkpoint()
        raise Interrupted(job.output, job.step_count) from None
    job.save_checkpoint()
    return job.write_outputs()
