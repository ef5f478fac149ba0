"""The config sections several jobs share: style, losses, palette, optimiser, weights, renders, outputs.

This module imports nothing heavy, so that the CLI can build its help from it quickly.

Each field's help text is what ``restyle ... --help`` shows. ``None`` on a loss weight or loss setting means "the
backbone's recommended value" (see ``restyle.objectives.registry.BACKBONES``); the resolved value is written to
``config.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from restyle.configs import check_ranges, option

Method = Literal["nnfm", "gram"]
Optimizer = Literal["adam", "lbfgs"]
GramNorm = Literal["relative", "plain"]
Reduction = Literal["sum", "mean"]
PrecisionChoice = Literal["auto", "fp32", "bf16", "fp16"]

# Upper bounds of the numeric options: far above any useful value, low enough that a typo (an extra zero or
# three) is an error at once rather than an allocation of hundreds of gigabytes or a run of years. The memory a
# run needs is checked separately, against the machine (restyle.run.preflight).
MAX_SIDE = 16384  # pixels per side of a texture or an image
MAX_VIEWS = 1024
MAX_STEPS = 10_000_000
MAX_COUNT = 2**31 - 1
MAX_SEED = 2**63 - 1  # torch.manual_seed's range
MAX_LR = 1e6  # learning rates are steps in 0..1 colour units (L-BFGS: multiples of its quasi-Newton step)


@dataclass
class StyleConfig:
    method: Method = option(
        "nnfm", flag="--method", help="Style loss: nnfm (nearest-neighbour feature matching) or gram (Gatys)."
    )
    backbone: str = option(
        "auto", help="Feature network for the style loss: clip-rn50 (the paper's), vgg16, vgg19 (real weights "
        "shipped offline), patch (weight-free), or auto (restyle mesh's default): clip-rn50 when its weights and "
        "those of its content network are found locally (or with --download), vgg19 otherwise; config.toml "
        "records the one chosen.",
        flag="--backbone", short="-b",
    )
    content_backbone: str = option(
        "auto", help="Feature network for the content loss: auto (the style backbone when it needs no download: "
        "vgg19, patch; else vgg16), or a name.",
        flag="--content-backbone",
    )
    style_taps: tuple[str, ...] | None = option(
        None, flag="--style-layers", metavar="TAP1,TAP2,...", help="Style layers (default: the backbone's)."
    )
    content_taps: tuple[str, ...] | None = option(
        None, flag="--content-layers", metavar="TAP1,TAP2,...", help="Content layers (default: the content backbone's)."
    )
    style_tap_weights: tuple[float, ...] | None = option(
        None, help="Weight of each style layer, in style_taps order (default: equal); scaled to sum to the number "
        "of layers, so only ratios matter and equal weights change nothing. Image pipeline only.",
        min=0,
        flag="--style-layer-weights", metavar="W1,W2,...",
    )
    content_tap_weights: tuple[float, ...] | None = option(
        None, min=0, help="Weight of each content layer, in content_taps order (default: equal); scaled like "
        "style_tap_weights, so only ratios matter. Image pipeline only.",
        flag="--content-layer-weights", metavar="W1,W2,...",
    )
    style_reduction: Reduction | None = option(
        None, help="How the style layers' terms combine: sum (the CLIP paper's code, so its weights apply) or mean "
        "(the weights of vgg19 and patch were set with it). Default: the style backbone's for nnfm (sum for "
        "clip-rn50 and vgg16, mean for vgg19 and patch), mean for gram (Gatys' 1/L per layer).",
        flag=None,
    )
    content_reduction: Reduction | None = option(
        None, help="How the content layers' terms combine: sum or mean. Default: the content backbone's for nnfm "
        "(sum for vgg16, the paper's relu3_1..relu3_3, and clip-rn50; mean for vgg19 and patch), mean for gram.",
        flag=None,
    )
    gram_norm: GramNorm | None = option(
        None, help="Gram loss of each layer: relative (divided by the style's own Gram energy, so every layer "
        "weighs alike whatever its activation scale) or plain (the mean squared difference); default: the "
        "backbone's (relative for vgg19).",
        flag=None,
    )
    nnfm_chunk: int = option(
        4096, help="NNFM matching chunk (target vectors per block); bounds memory.",
        min=1, max=MAX_COUNT,
        flag=None,
    )
    max_style_vectors: int | None = option(
        None, help="NNFM style vectors kept per layer: a seeded random subset of larger sets bounds the matching "
        "cost (0: all; default: the backbone's).",
        min=0, max=MAX_COUNT,
        flag=None,
    )
    smoothing: float | None = option(
        None, min=0, help="NNFM feature smoothing: the temperature of a softmax over each feature vector's channels, "
        "applied to renders and style before matching (the CLIP paper's); 0 turns it off. Default: the style "
        "backbone's (1 for clip-rn50, off for vgg16, vgg19 and patch).",
        flag="--smoothing",
    )

    def __post_init__(self) -> None:
        check_ranges(self, "style")


@dataclass
class LossWeights:
    style: float | None = option(
        None, flag="--style-weight", min=0, help="Style loss weight (default: the backbone's recommended value)."
    )
    content: float | None = option(
        None, flag="--content-weight", min=0, help="Content loss weight (default: the backbone's recommended value)."
    )
    tv: float = option(
        0.0, flag="--tv-weight", min=0, help="Total-variation weight on the output image or rendered views."
    )


@dataclass
class PaletteConfig:
    source: str = option(
        "none", help="Colour palette: auto (k-means on the first style image), none, a hex list '#aabbcc,#...', "
        "or a palette image file.",
        flag="--palette",
    )
    colors: int = option(
        16, help="Number of palette colours for auto / large palette images (k-means on their distinct colours).",
        min=1, max=256,
        flag="--palette-colors",
    )
    weight: float = option(
        2000.0, min=0, help="Palette loss weight from 75% of the run on; earlier it is higher, see start_factor.",
        flag="--palette-weight",
    )
    start_factor: float = option(
        math.exp(1.5), help="Palette weight at the first step as a multiple of weight; it falls exponentially to "
        "weight at 75% of the run and stays there, so colours settle first and style detail follows (the CLIP "
        "paper's code: e^1.5 = 4.48). 1 keeps the weight constant.",
        min=0, min_exclusive=True,
        flag=None,
    )

    def __post_init__(self) -> None:
        check_ranges(self, "palette")


@dataclass
class OptimConfig:
    iters: int = option(
        300, help="Optimisation steps (one loss evaluation each, for either optimizer).",
        min=0, max=MAX_STEPS,
        flag="--iters",
    )
    optimizer: Optimizer = option(
        "adam", help="adam, or lbfgs (L-BFGS, one loss evaluation per step, no line search; image pipeline only).",
        flag="--optimizer",
    )
    lr: float | None = option(
        None, help="Learning rate (restyle image: 0.05 for adam, 1.0 for lbfgs, whose steps are quasi-Newton steps).",
        min=0, min_exclusive=True, max=MAX_LR,
        flag="--lr",
    )
    lr_decay: float = option(
        0.95, help="Learning-rate multiplier applied every lr_decay_every steps.",
        min=0, min_exclusive=True, max=1,
        flag=None,
    )
    lr_decay_every: int = option(200, min=1, help="Steps between learning-rate decays.", flag=None)
    seed: int = option(
        0, flag="--seed", min=0, max=MAX_SEED, help="Random seed; the same seed gives the same result on CPU."
    )
    log_every: int = option(1, min=1, help="Steps between entries of metrics.jsonl.", flag=None)
    precision: PrecisionChoice = option(
        "auto", help="Arithmetic of the feature networks (VGG, CLIP; the depth network stays fp32): fp32; bf16 "
        "(autocast to bfloat16 with channels-last images: about 4x faster where the hardware has it, gradients "
        "within ~0.3% of fp32's); fp16 (float16 autocast, CUDA only); auto: bf16 on a CUDA GPU with bf16 or a "
        "CPU with AMX-BF16 or AVX512-BF16, fp32 elsewhere. Losses, Gram matrices, nearest-neighbour matching, "
        "the optimiser and the textures stay fp32 whatever the choice; config.toml records the precision used.",
        flag="--precision",
    )


TextEncoderName = Literal["clip-vit-b32"]


@dataclass
class ClipTextConfig:
    """CLIPstyler's text-driven loss (Kwon & Ye 2022; their published values for photos are the defaults; meshes
    have no published values: ``restyle mesh --text`` starts from the same ones)."""

    source: str = option(
        "a Photo", flag="--source-text", help="Source text: the text direction goes from it to the prompt."
    )
    crops: int = option(
        64, flag="--crops", min=1, max=MAX_COUNT, help="Random crops of the output per step for the patch loss."
    )
    crop_size: int = option(
        128, min=1, max=MAX_SIDE, help="Side of the crops in pixels (at most the image's short side; larger is "
        "reduced to it). Each is resized to the CLIP model's input size (224 for ViT-B/32).",
        flag="--crop-size",
    )
    threshold: float = option(
        0.7, min=0, max=2, help="Patch rejection: a crop whose directional loss is below it counts 0.",
        flag=None,
    )
    perspective: float = option(1.0, min=0, max=1, help="Probability of a random perspective warp of each crop "
        "(CLIPstyler warps every one).", flag=None)
    patch_weight: float = option(9000.0, min=0, help="Weight of the patch directional CLIP loss (CLIPstyler's "
        "for photos; meshes have no published value).", flag="--patch-weight")
    directional_weight: float = option(500.0, min=0, help="Weight of the whole-image (whole-view) directional CLIP "
        "loss (CLIPstyler's for photos; meshes have no published value).", flag="--directional-weight")
    encoder: TextEncoderName = option("clip-vit-b32", help="CLIP model for text and images: clip-vit-b32.", flag=None)
    base_channels: int = option(16, min=1, max=256, help="Channels of the U-Net's first level (doubling per level; "
        "images only).", flag=None)
    levels: int = option(3, min=1, max=8, help="Down- (and up-) sampling levels of the U-Net (images only).", flag=None)


@dataclass
class WeightsConfig:
    weights_dir: Path | None = option(
        None, help="Folder with pretrained weight files placed by hand (also RESTYLE_WEIGHTS_DIR).",
        flag="--weights-dir", envvar="RESTYLE_WEIGHTS_DIR",
    )
    download: bool = option(
        False, flag="--download", negatable=True,
        help="Download missing pretrained weights from the hub before running.",
    )


@dataclass
class RenderConfig:
    texture_size: int = option(
        1024, help="Long side of the optimised textures (originals are resampled to it).",
        min=1, max=MAX_SIDE,
        flag="--texture-size",
    )
    render_size: int = option(
        512, flag="--render-size", min=1, max=MAX_SIDE, help="Side of the square training renders in pixels."
    )
    views_per_step: int = option(
        4, help="Views rendered per optimisation step (the paper: 8; its code: 4).",
        min=1, max=MAX_VIEWS,
        flag="--views-per-step",
    )
    views_per_pass: int = option(
        0, help="Views rendered and scored per forward/backward pass; 0: all of a step's views at once (under "
        "torchrun, the rank's share). Fewer lowers peak memory: the passes' gradients add up to the same step. "
        "Must divide the views each process renders per step.",
        min=0, max=MAX_VIEWS,
        flag="--views-per-pass",
    )
    view_pool: int = option(
        0, help="0: fresh random views rasterised every step (the paper). N > 0: N views rasterised once and drawn "
        "from every step, lights still random (cheaper where rasterising is slow; the cameras repeat).",
        min=0, max=MAX_VIEWS,
        flag="--view-pool",
    )
    supersample: int = option(
        1, flag=None, min=1, max=8, help="Supersampling factor of the training renders (anti-aliasing)."
    )
    background: str = option(
        "style", help="Background of the renders seen by the style loss: style (a random style image per view), "
        "primary (always the first style image, the paper's) or a solid colour 'R,G,B' in 0..1.",
        flag="--background",
    )
    backend: str = option(
        "auto", flag=None, help="Rasteriser: auto, embree (CPU), nvdiffrast (CUDA) or torch (reference)."
    )


@dataclass
class OutputConfig:
    turntable: Literal["none", "gif", "mp4"] = option(
        "none", flag="--turntable", help="Turntable of the result: none, gif or mp4."
    )
    sheet_views: int = option(6, min=1, max=MAX_VIEWS, help="Views in the before/after contact sheet.", flag=None)
    preview_size: int = option(
        256, flag=None, min=16, max=MAX_SIDE, help="Size of each view in the contact sheet and turntable."
    )
    checkpoint_every: int = option(500, min=0, help="Steps between checkpoints (also written on Ctrl-C).", flag=None)
    preview_every: int = option(
        0, min=0, help="Write preview.png, the current texture on the contact sheet's views at half preview_size, "
        "every N steps while the run goes (0: never); restyle web shows it.",
        flag=None,
    )
    eval_every: int = option(
        25, min=0, help="Measure the texture on held-out views every N steps (and before the first step and after "
        "the last): Gram and NNFM distances to the style images and the content distance to the original asset, "
        "on VGG19 (the run's own when it has one), written to metrics.jsonl as heldout_* entries and shown in the "
        "progress line (0: never).",
        flag=None,
    )
    eval_views: int = option(
        4, min=1, max=MAX_VIEWS, help="Held-out views of that measurement, drawn once from the run's view "
        "distribution with the seed + 1000.", flag=None,
    )
    eval_size: int = option(
        128, min=32, max=MAX_SIDE, help="Side of each held-out view in pixels; the style images are measured "
        "with their short side at this size.", flag=None,
    )


@dataclass
class RenderAssetConfig:
    mesh: Path | None = option(None, help="The asset to look at (OBJ+MTL, glTF, GLB, PLY).", flag=None)
    output: Path | None = option(None, help="Contact sheet image (.png or .jpg).", flag=None)
    views: int = option(8, min=1, max=MAX_VIEWS, help="Number of views in the contact sheet.", flag="--views")
    size: int = option(256, min=16, max=MAX_SIDE, help="Side of each view in pixels.", flag="--size")
    turntable: Path | None = option(None, help="Also write a turntable animation (.gif or .mp4).", flag="--turntable")
    frames: int = option(36, min=1, max=MAX_VIEWS, help="Frames in the turntable.", flag="--frames")
    seed: int = option(0, min=0, max=MAX_SEED, help="Seed of the view layout.", flag=None)
    rgbd: Path | None = option(
        None, help="Also write each view of the sheet to this folder as an RGB-D pair: view_NN.png (shaded colour) "
        "and view_NN_depth.png (16-bit depth, its scale in the PNG), plus views.json (cameras and the scale).",
        flag="--rgbd",
    )
