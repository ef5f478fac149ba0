"""What ``restyle mesh`` can be told: its config dataclass, the mesh-only sections, and the presets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from restyle.configs import check_ranges, option
from restyle.errors import ConfigError
from restyle.objectives.depth_config import MeshDepthConfig
from restyle.render.shading import ShadingConfig
from restyle.render.views import ViewConfig
from restyle.run.files import OVERWRITE_RUN_HELP
from restyle.sections import (
    ClipTextConfig,
    LossWeights,
    OptimConfig,
    OutputConfig,
    PaletteConfig,
    RenderConfig,
    StyleConfig,
    WeightsConfig,
)


@dataclass
class TextureConfig:
    """How the optimised texture starts and how the optimiser moves it."""

    residual_levels: int = option(
        1, help="Levels of the residual texture: 1 is one full-resolution residual (the paper); L > 1 sums L "
        "layers at full, 1/2, 1/4, ... resolution (a Laplacian pyramid), so regions move together and the "
        "result has strokes instead of per-texel speckle. Only with parameterisation = pixels.",
        min=1, max=16,
    )
    parameterisation: Literal["pixels", "fourier", "fourier-rgb"] = option(
        "pixels", help="What the optimiser moves: pixels (a texel grid, or the pyramid of residual_levels), "
        "fourier (the residual's 2D spectrum, each frequency f scaled by 1/f so that large smooth structures move "
        "first, in ImageNet's decorrelated colour space: Mordvintsev et al. 2018, the 3D style transfer of "
        "'Differentiable Image Parameterizations') or fourier-rgb (the same spectrum in plain R, G, B). Both "
        "fourier kinds are normalised so that a learning rate moves texels about as much per step as on pixels."
    )
    recolour: Literal["none", "style"] = option(
        "none", help="Start from the original texture recoloured to the style images' colour mean and covariance "
        "(ARF's colour transfer), measured on the texels the views see: none or style. Without it, NNFM leaves "
        "regions alone that already match some style feature (a white body matches the painting's stars)."
    )
    style_scale: float = option(
        1.0, help="Size of the style images, as the style loss sees them, relative to the render size (their "
        "short side is render_size x this). Above 1 the style's strokes cover more render pixels, so the relu3/4 "
        "features see strokes rather than the whole painting; the style background of each view is then a "
        "random render-sized crop.",
        min=1, max=16,
    )
    style_fit: Literal["crop", "squash"] = option(
        "crop", help="How a non-square style image becomes the square the style loss sees: crop (resized to cover "
        "the square, centre-cropped: no distortion, but a 4:3 painting loses a quarter of its width) or squash "
        "(resized to the square whatever its aspect: nothing lost, strokes stretched; the paper's)."
    )
    shared_content_pass: bool = option(
        False, help="Take the content features from the same backbone pass as the style features (renders over "
        "the style background, the reference over the same background) instead of a second pass over black "
        "renders. Applies only when the style and content backbones are one network (with two it is off, and "
        "config.toml says false); saves about a third of a step."
    )

    def __post_init__(self) -> None:
        check_ranges(self, "texture")
        if self.parameterisation != "pixels" and self.residual_levels != 1:
            raise ConfigError(f"texture.residual_levels {self.residual_levels} is a pixels option; set it to 1 with "
                              f"texture.parameterisation {self.parameterisation}")


@dataclass
class MeshConfig:
    """Everything ``restyle mesh`` can be told; ``config.toml`` in the output folder holds it fully resolved."""

    mesh: Path | None = option(None, help="The asset to stylise (OBJ+MTL, glTF, GLB, PLY).", flag=None)
    styles: list[Path] = option(factory=list, help="One or more style images (their features are pooled).", flag=None)
    output: Path | None = option(None, help="Output folder.", flag=None)
    text: str | None = option(
        None, help="Text prompt (CLIPstyler's directional and patch CLIP losses on the renders): alone instead of "
        "style images, or with them for both losses together.",
        flag="--text",
    )
    unwrap: bool = option(
        True, flag="--unwrap", negatable=True,
        help="Unwrap meshes without UVs automatically (xatlas) instead of refusing them.",
    )
    device: str = option("auto", help="auto, cpu, cuda or cuda:N.", flag="--device")
    overwrite: bool = option(False, help=OVERWRITE_RUN_HELP, flag="--overwrite")
    style: StyleConfig = option(
        omit_flags=("style_taps", "content_taps", "style_tap_weights", "content_tap_weights"),
        factory=StyleConfig, help="Style loss.",
    )
    weights: LossWeights = option(factory=LossWeights, help="Loss weights.")
    palette: PaletteConfig = option(factory=lambda: PaletteConfig(source="auto"), help="Colour palette loss.")
    optim: OptimConfig = option(
        factory=lambda: OptimConfig(iters=15000, lr=0.0095, log_every=10), help="Optimiser.",
        omit_flags=("optimizer",),
    )
    render: RenderConfig = option(factory=RenderConfig, help="Training renders.")
    texture: TextureConfig = option(factory=TextureConfig, help="Texture parameterisation and start.", flags=False)
    views: ViewConfig = option(factory=ViewConfig, help="Random cameras and lights.")
    shading: ShadingConfig = option(factory=ShadingConfig, help="Shading model.", flags=False)
    outputs: OutputConfig = option(factory=OutputConfig, help="What is written besides the asset.")
    depth: MeshDepthConfig = option(factory=MeshDepthConfig, help="Style by depth and view angle.")
    pretrained: WeightsConfig = option(factory=WeightsConfig, help="Pretrained weight files.")
    clip_text: ClipTextConfig = option(
        factory=ClipTextConfig, help="Text-driven (CLIPstyler) losses, with --text; the U-Net options do not apply."
    )


# In order of run time, longest first (the web app lists them so); ``--preset none`` applies none (the bare field
# defaults) and no preset at all picks one by device (DEVICE_PRESETS).
# The texture options of the CPU presets (see below). Measured without the palette loss: the recolouring already
# gives the style's colours (``--palette auto`` adds the paper's palette loss back).
_CPU_TEXTURE = {"recolour": "style", "style_scale": 2.0, "shared_content_pass": True}
_NO_PALETTE = {"source": "none"}

MESH_PRESETS: dict[str, dict] = {
    # The paper's method (Mishra & Granskog; README "Where restyle differs from the paper" for the rest): texture
    # 1024, render 512, batch 8 (its text; its code's 4 is the preview's business), 15,000 steps, fresh views
    # over the whole sphere with anti-aliased edges, the primary style image squashed to the square render as the
    # background, its light (power 2 with the 1/pi of its Lambert term folded in, no ambient) and its weak,
    # nearly flat specular (PBR with F0 0.04 and roughness clamped to 1: about 1% of the diffuse), cameras at its
    # distance (radius 4 for Spot scaled to extent 1.5 as in its README run: 4.22 bounding radii; translation
    # +-0.35 of those units: 0.37 radii), a 16-colour palette from 2000 x e^1.5 down to 2000.
    "paper": {
        "render": {"texture_size": 1024, "render_size": 512, "views_per_step": 8, "supersample": 2,
                   "background": "primary"},
        "texture": {"style_fit": "squash"},
        "views": {"distance": [4.22, 4.22], "translation": 0.37, "light_power": 0.64, "ambient": 0.0},
        "shading": {"specular": 0.01, "shininess": 1.0},
        "palette": {"colors": 16, "weight": 2000.0},
        "optim": {"iters": 15000, "lr": 0.0095},
    },
    # The CPU presets share what the measurements support (benchmarks/bench_quality.py --only mesh, Spot + The
    # Starry Night, held-out sphere views; README "Presets"): the texture starts recoloured to the style, the style
    # is seen at twice the render size, style and content come from one backbone pass, and a pool of views is
    # rasterised once. More steps at one setting plateau within ~60 (170 and 340 steps of the demo config: Gram
    # 0.746 and 0.744); the presets differ in sizes, not length.
    "quality": {
        "render": {"texture_size": 1024, "render_size": 224, "views_per_step": 4, "view_pool": 64},
        "texture": _CPU_TEXTURE,
        "palette": _NO_PALETTE,
        "optim": {"iters": 400, "lr": 0.05, "lr_decay_every": 100, "log_every": 10},
        "outputs": {"checkpoint_every": 100},
    },
    "preview": {
        "render": {"texture_size": 512, "render_size": 192, "views_per_step": 2, "view_pool": 48},
        "texture": _CPU_TEXTURE,
        "palette": _NO_PALETTE,
        "optim": {"iters": 160, "lr": 0.05, "lr_decay_every": 40, "log_every": 5},
        "outputs": {"checkpoint_every": 80},
    },
    # Where a style is going, with strokes, in about a minute.
    "draft": {
        "render": {"texture_size": 256, "render_size": 128, "views_per_step": 2, "view_pool": 32},
        "texture": _CPU_TEXTURE,
        "palette": _NO_PALETTE,
        "optim": {"iters": 60, "lr": 0.05, "lr_decay_every": 20, "log_every": 5},
        "outputs": {"checkpoint_every": 30, "sheet_views": 4, "preview_size": 192},
    },
}

# The preset of a run given none (and not resumed), by the kind of device it runs on: (preset, why, the other
# choice), for the line that says so. Any other kind of device (mps) takes the CPU's.
DEVICE_PRESETS: dict[str, tuple[str, str, str]] = {
    "cpu": ("preview", "CPU; about 5 minutes", "--preset paper for the paper's settings"),
    "cuda": ("paper", "CUDA GPU; the paper's settings", "--preset preview for a quick look"),
}
