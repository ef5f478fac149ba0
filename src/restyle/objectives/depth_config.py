"""The options of depth-aware style transfer (Jamgochian, Lange, Ghiron, "3D Neural Style Transfer", CS231n), for
photos (``[depth]`` of ``restyle image``) and meshes (``[depth]`` of ``restyle mesh``); imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from restyle.configs import option
from restyle.errors import ConfigError
from restyle.objectives.masks import MASK_SPEC_HELP

DepthHoles = Literal["fill", "mask", "far"]
MeshDepthMode = Literal["view", "world"]

STYLE_MASKS_HELP = (
    "One depth mask per style image, in styles order (set by -s FILE@MASK, --style-near and --style-far); "
    "styles with the same mask share one style loss, each mask its own (the report's styles blended by depth). "
    "Overrides style_mask."
)


@dataclass
class ImageDepthConfig:
    """Where the content's depth comes from, the masks made of it, and the depth loss."""

    file: Path | None = option(
        None, help="Depth map of the content: 16-bit PNG, 8-bit PNG, EXR, .npy or float TIFF; holes (0, NaN) are "
        "filled or masked, the map is resized to the content.",
        flag="--depth",
    )
    scale: float | None = option(
        None, min=0, min_exclusive=True,
        help="Metres per stored unit of the depth file (NYU Depth v2: 0.001, TUM RGB-D: 0.0002); default: the scale "
        "restyle render --rgbd stores in its PNGs, else 1. Only matters with near_far.",
        flag="--depth-scale",
    )
    disparity: bool = option(
        False, help="The depth file holds disparity / inverse depth (larger = nearer), e.g. a monocular network's.",
        flag="--disparity",
    )
    near_far: tuple[float, float] | None = option(
        None, min=0, help="Depth in metres (after scale) mapped onto 0 (near) .. 1 (far), clipped; default: the "
        "map's own nearest and farthest valid depth.",
        flag="--depth-range",
    )
    holes: DepthHoles = option(
        "fill", help="Pixels without depth (0, NaN): fill (from their neighbours), mask (no depth-masked style "
        "there, full content) or far (the farthest depth: the background of a render, the sky).",
        flag="--depth-holes",
    )
    estimate: bool = option(
        False, help="Estimate the content's depth with the monocular depth network instead of reading a file.",
        flag="--estimate-depth",
    )
    model: str = option(
        "depth-anything-small", flag="--depth-model", help="Monocular depth network (estimate and the depth loss)."
    )
    model_size: int = option(
        518, min=14, max=4096, help="Short side, in pixels, the depth network sees (Depth Anything: 518; smaller is "
        "faster); rounded to a multiple of 14.",
        flag="--depth-model-size",
    )
    content_mask: str = option(
        "all", flag="--content-mask", help=f"Mask γ_c of the content loss, γ_c ⊙ (F − P): {MASK_SPEC_HELP}"
    )
    style_mask: str = option(
        "all", flag="--style-mask", help="Mask γ_s of the style loss of every style image without its own mask."
    )
    style_masks: list[str] | None = option(None, help=STYLE_MASKS_HELP, flag=None)
    loss_weight: float = option(
        0.0, min=0, help="Weight of the depth loss (1/HW)·‖φ(content) − φ(output)‖², φ the depth network (0: off).",
        flag="--depth-loss",
    )
    keep_unmasked: bool = option(
        True, help="Keep the photo where no style mask reaches: each pixel moves from the photo only as far as the "
        "style masks cover it (output = photo + c·(optimised − photo), c the masks summed, clamped to 0..1), so "
        "with --style-far alone the near part stays the photo. Off: the report's plain masked losses, whose deep "
        "layers carry the style across the mask's edge (on a real RGB-D photo the near part then changed 0.69× "
        "as much as the far part; kept, 0.06×).",
        flag="--keep-unmasked", negatable=True,
    )
    allow_empty_mask: bool = option(
        False, help="Run even when a style mask selects nothing (a mean weight under 0.1% of the photo: a depth "
        "range beyond every depth, a black mask image), with a warning; otherwise such a run is refused before "
        "it starts.",
        flag="--allow-empty-mask",
    )


@dataclass
class MeshDepthConfig:
    """Style loss weighted by the renderer's exact depth and by the view angle (StyleMesh, Höllein et al. 2022)."""

    style_mask: str = option(
        "all", help="Depth mask γ_s of the style loss of every style image without its own mask; the same specs "
        "as restyle image (image: masks excepted).",
        flag="--style-mask",
    )
    style_masks: list[str] | None = option(None, help=STYLE_MASKS_HELP, flag=None)
    mode: MeshDepthMode = option(
        "view", help="How render depth becomes 0..1: view (each view's own nearest and farthest visible point) or "
        "world (near_far in the mesh's units).",
        flag="--depth-mode",
    )
    near_far: tuple[float, float] | None = option(
        None, min=0, help="With mode world: the camera distances, in the mesh's units, mapped onto 0 .. 1.",
        flag="--depth-range",
    )
    angle_power: float = option(
        0.0, min=0, max=16, help="Weight each pixel's style loss by cos(angle between surface and view)^P, so "
        "patterns are not learnt from stretched, grazing views (0: off; StyleMesh uses 1).",
        flag="--angle-weight",
    )


def check_near_far(near_far: tuple[float, float] | None) -> None:
    if near_far is not None and not near_far[0] < near_far[1]:
        raise ConfigError(f"--depth-range NEAR FAR needs NEAR < FAR; got {near_far[0]:g} {near_far[1]:g}")
