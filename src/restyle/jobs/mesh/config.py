"""What ``restyle mesh`` can be told: its config dataclass, the mesh-only sections, and the presets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from restyle.configs import check_ranges, option
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
        "result has strokes instead of per-texel speckle.",
        min=1, max=16,
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
        "renders. Only when the style and content backbones are one network; saves about a third of a step."
    )

    def __post_init__(self) -> None:
        check_ranges(self, "texture")


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
    # Small enough to finish on 2 CPU cores in minutes with clip-rn50 + vgg16.
    "preview": {
        "render": {"texture_size": 512, "render_size": 224, "views_per_step": 2},
        "optim": {"iters": 300, "lr": 0.02, "lr_decay_every": 100, "log_every": 5},
        "outputs": {"checkpoint_every": 100},
    },
    # A quick look at where a style is going.
    "draft": {
        "render": {"texture_size": 256, "render_size": 128, "views_per_step": 1},
        "optim": {"iters": 60, "lr": 0.03, "lr_decay_every": 30, "log_every": 5},
        "outputs": {"checkpoint_every": 30, "sheet_views": 4, "preview_size": 192},
    },
}
