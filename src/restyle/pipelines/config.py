"""Config dataclasses of the pipelines: style, losses, palette, optimiser, weights, renders, outputs.

This module imports nothing heavy, so that the CLI can build its help from it quickly.

Each field's help text is what ``restyle ... --help`` shows. ``None`` on a loss weight means "the backbone's
recommended value" (see ``restyle.registry.BACKBONES``); the resolved number is written to ``config.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from restyle.configs import option

Method = Literal["nnfm", "gram"]
Optimizer = Literal["adam", "lbfgs"]
GramNorm = Literal["relative", "plain"]


@dataclass
class StyleConfig:
    method: Method = option("nnfm", help="Style loss: nnfm (nearest-neighbour feature matching) or gram (Gatys).")
    backbone: str = option(
        "clip-rn50", help="Feature network for the style loss: clip-rn50, vgg16, vgg19 (real weights shipped "
        "offline), or patch (weight-free)."
    )
    content_backbone: str = option(
        "auto", help="Feature network for the content loss: auto (the style backbone when it needs no download: "
        "vgg19, patch; else vgg16), or a name."
    )
    style_taps: tuple[str, ...] | None = option(None, help="Style layers (default: the backbone's).")
    content_taps: tuple[str, ...] | None = option(None, help="Content layers (default: the content backbone's).")
    style_tap_weights: tuple[float, ...] | None = option(
        None, help="Weight of each style layer, in style_taps order (default: equal); the style loss is the "
        "weighted mean over layers, so only ratios matter. Image pipeline only."
    )
    content_tap_weights: tuple[float, ...] | None = option(
        None, help="Weight of each content layer, in content_taps order (default: equal); a weighted mean, so "
        "only ratios matter. Image pipeline only."
    )
    gram_norm: GramNorm | None = option(
        None, help="Gram loss of each layer: relative (divided by the style's own Gram energy, so every layer "
        "weighs alike whatever its activation scale) or plain (the mean squared difference); default: the "
        "backbone's (relative for vgg19)."
    )
    nnfm_chunk: int = option(4096, help="NNFM matching chunk (target vectors per block); bounds memory.")
    max_style_vectors: int | None = option(
        None, help="NNFM style vectors kept per layer: a seeded random subset of larger sets bounds the matching "
        "cost (0: all; default: the backbone's)."
    )
    smoothing: float | None = option(
        None, help="NNFM softmax smoothing temperature over channels (the CLIP paper's); none to disable."
    )


@dataclass
class LossWeights:
    style: float | None = option(None, help="Style loss weight (default: the backbone's recommended value).")
    content: float | None = option(None, help="Content loss weight (default: the backbone's recommended value).")
    tv: float = option(0.0, help="Total-variation weight on the output image or rendered views.")


@dataclass
class PaletteConfig:
    source: str = option(
        "none", help="Colour palette: auto (k-means on the first style image), none, a hex list '#aabbcc,#...', "
        "or a palette image file."
    )
    colors: int = option(6, help="Number of palette colours for auto / large palette images.")
    weight: float = option(2000.0, help="Palette loss weight at the start (decays, see decay).")
    decay: float = option(0.9, help="Palette weight multiplier applied every optim.lr_decay_every steps.")


@dataclass
class OptimConfig:
    iters: int = option(300, help="Optimisation steps (one loss evaluation each, for either optimizer).")
    optimizer: Optimizer = option(
        "adam", help="adam, or lbfgs (L-BFGS, one loss evaluation per step, no line search; image pipeline only)."
    )
    lr: float | None = option(
        None, help="Learning rate (restyle image: 0.05 for adam, 1.0 for lbfgs, whose steps are quasi-Newton steps)."
    )
    lr_decay: float = option(0.95, help="Learning-rate multiplier applied every lr_decay_every steps.")
    lr_decay_every: int = option(200, help="Steps between learning-rate (and palette weight) decays.")
    seed: int = option(0, help="Random seed; the same seed gives the same result on CPU.")
    log_every: int = option(1, help="Steps between entries of metrics.jsonl.")


@dataclass
class WeightsConfig:
    weights_dir: Path | None = option(
        None, help="Folder with pretrained weight files placed by hand (also RESTYLE_WEIGHTS_DIR)."
    )
    download: bool = option(False, help="Download missing pretrained weights from the hub before running.")


@dataclass
class RenderConfig:
    texture_size: int = option(1024, help="Long side of the optimised textures (originals are resampled to it).")
    render_size: int = option(512, help="Side of the square training renders in pixels.")
    views_per_step: int = option(4, help="Views rendered per optimisation step (the paper: 8; its code: 4).")
    view_pool: int = option(64, help="Views rasterised once and drawn from every step (lights stay random).")
    supersample: int = option(1, help="Supersampling factor of the training renders (anti-aliasing).")
    background: str = option(
        "style", help="Background of the renders seen by the style loss: style (the style image, as in the "
        "paper) or a solid colour 'R,G,B' in 0..1."
    )
    backend: str = option("auto", help="Rasteriser: auto, embree (CPU), nvdiffrast (CUDA) or torch (reference).")


@dataclass
class OutputConfig:
    turntable: Literal["none", "gif", "mp4"] = option("none", help="Turntable of the result: none, gif or mp4.")
    sheet_views: int = option(6, help="Views in the before/after contact sheet.")
    preview_size: int = option(256, help="Size of each view in the contact sheet and turntable.")
    checkpoint_every: int = option(500, help="Steps between checkpoints (also written on Ctrl-C).")


@dataclass
class RenderAssetConfig:
    mesh: Path | None = option(None, help="The asset to look at (OBJ+MTL, glTF, GLB, PLY).")
    output: Path | None = option(None, help="Contact sheet image (.png or .jpg).")
    views: int = option(8, help="Number of views in the contact sheet.")
    size: int = option(256, help="Side of each view in pixels.")
    turntable: Path | None = option(None, help="Also write a turntable animation (.gif or .mp4).")
    frames: int = option(36, help="Frames in the turntable.")
    seed: int = option(0, help="Seed of the view layout.")
