"""Depth map files -> a normalised depth tensor at an image's size (depth-aware style transfer), and back to PNG.

Reading (format by suffix, case-insensitive):

* ``.png``, ``.tif``/``.tiff``: 16-bit greyscale (NYU Depth v2 and TUM store millimetres, scale 1e-3, or
  1/5000 m, scale 2e-4), 8-bit greyscale (an RGB/RGBA image whose three colour channels are identical counts
  as grey; one whose channels differ is refused as a colour-mapped visualisation), 32-bit float (mode ``F``).
* ``.exr`` (OpenEXR): the channel ``Z``, else ``Y``, else ``R``, else ``depth`` (case-insensitive; a layered
  name such as Blender's ``ViewLayer.Depth.Z`` matches by its last part). Renderers often write the background
  as a huge finite depth (Blender: 1e10), which squeezes min–max normalisation; give ``depth_range`` then.
* ``.npy``: ``[H, W]``, ``[H, W, 1]`` or ``[1, H, W]`` integers or floats (never unpickled).

Scale (file units -> metres): the caller's ``scale`` wins; else the PNG text chunk ``restyle:depth_scale``
that :func:`write_depth_png` stores (so restyle's own RGB-D scenes load without flags); else 1.0 (raw units,
which the default min–max normalisation does not care about).

Holes: 0, NaN, ±inf and negative values carry no depth. They are filled with a smooth continuation of the
valid depths around them (push-pull, as for texture seams) so that the tensor is finite everywhere, and
``DepthMap.valid`` marks them so that a caller may leave them out of a loss.

Every problem with the file is a one-line ``InputError("<path>: <problem>")``; bad options are ``ConfigError``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from restyle.errors import ConfigError, InputError
from restyle.io.atomic import atomic_path
from restyle.io.images import DEFAULT_MAX_PIXELS, open_checked
from restyle.io.texture_padding import dilate_texture

PathLike = str | os.PathLike[str]

SCALE_KEY = "restyle:depth_scale"
SUFFIXES = (".png", ".tif", ".tiff", ".exr", ".npy")
HOLE_MODES = ("fill", "mask")
EXR_CHANNELS = ("Z", "Y", "R", "depth")
ASPECT_TOLERANCE = 0.02  # image sizes are rounded independently, so exact equality would refuse real pairs
PNG_MAX_COUNT = 65535
DEFAULT_TOP_COUNT = 65000  # a little headroom below 65535 for depths a later frame adds beyond today's farthest

_GREY_MODES = ("L", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_COLOUR_MODES = ("RGB", "RGBA", "P", "PA")


@dataclass(frozen=True)
class DepthMap:
    """A depth map aligned with an image, normalised to 0 (nearest) .. 1 (farthest)."""

    depth: torch.Tensor
    """``[1, 1, H, W]`` float32 in 0..1 at the image's size; holes filled from their valid neighbours."""
    valid: torch.Tensor
    """``[1, 1, H, W]`` bool, False where the file had a hole (resized nearest)."""
    near_far: tuple[float, float] | None
    """The depths mapped onto 0 and 1, in metres (or the file's units when no scale is known); None for
    disparity, whose values are no distances."""


# ----------------------------------------------------------------------------------------------- reading


def read_depth(path: PathLike, *, scale: float | None = None) -> tuple[np.ndarray, float]:
    """The file's raw values as float64 ``[H, W]`` times the scale, holes as NaN; and the scale used."""
    path = Path(path)
    reader = _reader_for(path)
    _check_scale(path, scale)
    _check_is_readable_file(path)
    raw, stored_scale = reader(path)
    used_scale = scale if scale is not None else stored_scale if stored_scale is not None else 1.0
    values = raw.astype(np.float64) * used_scale
    values[~_valid_mask(values)] = np.nan
    return values, float(used_scale)


def _reader_for(path: Path) -> Callable[[Path], tuple[np.ndarray, float | None]]:
    readers = {".png": _read_image, ".tif": _read_image, ".tiff": _read_image, ".exr": _read_exr, ".npy": _read_npy}
    suffix = path.suffix.lower()
    if suffix not in readers:
        raise InputError(
            f"{path}: unsupported depth map format '{suffix or '(none)'}' (use one of {', '.join(SUFFIXES)})"
        )
    return readers[suffix]


def _check_scale(path: Path, scale: float | None) -> None:
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"{path}: depth scale must be a positive finite number, got {scale}")


def _check_is_readable_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: is a directory or special file, not a depth map file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")


def _check_pixel_count(path: Path, height: int, width: int) -> None:
    if height * width > DEFAULT_MAX_PIXELS:
        raise InputError(f"{path}: {width}x{height} has more than the {DEFAULT_MAX_PIXELS:,} pixel limit")


def _valid_mask(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values > 0)


def _read_image(path: Path) -> tuple[np.ndarray, float | None]:
    """PNG/TIFF via Pillow: ``[H, W]`` raw values and the stored scale, if any."""
    with open_checked(path, DEFAULT_MAX_PIXELS) as image:
        stored_scale = _stored_scale(path, image)
        # the photo's loader applies EXIF orientation; the depth map must turn with it to stay aligned
        return _grey_values(path, ImageOps.exif_transpose(image)), stored_scale


def _stored_scale(path: Path, image: Image.Image) -> float | None:
    text = image.info.get(SCALE_KEY)
    if text is None:
        return None
    try:
        scale = float(text)
    except (TypeError, ValueError):
        scale = math.nan
    if not (math.isfinite(scale) and scale > 0):
        raise InputError(f"{path}: its {SCALE_KEY} text chunk is not a positive number ({str(text)[:40]!r})")
    return scale


def _grey_values(path: Path, image: Image.Image) -> np.ndarray:
    if image.mode == "1":
        image = image.convert("L")
    if image.mode in _GREY_MODES:
        return np.asarray(image)
    if image.mode == "LA":
        return np.asarray(image.getchannel("L"))
    if image.mode in _COLOUR_MODES:
        return _grey_from_colour(path, np.asarray(image.convert("RGB")))
    raise InputError(
        f"{path}: image mode {image.mode} is not a depth map (expected 8- or 16-bit greyscale or 32-bit float)"
    )


def _grey_from_colour(path: Path, rgb: np.ndarray) -> np.ndarray:
    """Some tools save greyscale as RGB; a false-colour rendering of depth cannot be turned back into depth."""
    if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
        raise InputError(f"{path}: a colour image, not a depth map (a colour-mapped visualisation?)")
    return rgb[..., 0]


def _read_exr(path: Path) -> tuple[np.ndarray, None]:
    import OpenEXR  # only EXR users pay for the import

    try:
        header = OpenEXR.File(str(path), header_only=True).header()
    except (RuntimeError, OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable EXR file ({_one_line(error)})") from None
    low, high = header["dataWindow"]
    height, width = int(high[1] - low[1] + 1), int(high[0] - low[0] + 1)
    _check_pixel_count(path, height, width)
    name = _pick_exr_channel(path, [channel.name for channel in header["channels"]])
    try:
        pixels = OpenEXR.File(str(path), separate_channels=True).channels()[name].pixels
    except (RuntimeError, OSError, ValueError, KeyError) as error:
        raise InputError(f"{path}: truncated or corrupt EXR data ({_one_line(error)})") from None
    if pixels.shape != (height, width):
        raise InputError(
            f"{path}: channel {name} is {pixels.shape[1]}x{pixels.shape[0]} (subsampled), "
            f"not the image's {width}x{height}"
        )
    return np.asarray(pixels), None


def _pick_exr_channel(path: Path, names: list[str]) -> str:
    """Z, Y, R, depth in that order; for each, an exact name before a layered ``<layer>.<name>``."""
    for wanted in EXR_CHANNELS:
        wanted = wanted.lower()
        exact = [name for name in names if name.lower() == wanted]
        layered = [name for name in names if name.lower().endswith("." + wanted)]
        if exact:
            return exact[0]
        if len(layered) > 1:
            raise InputError(f"{path}: several channels could hold the depth ({', '.join(layered)})")
        if layered:
            return layered[0]
    raise InputError(
        f"{path}: no depth channel ({', '.join(EXR_CHANNELS)}) among its channels: {', '.join(names) or '(none)'}"
    )


def _read_npy(path: Path) -> tuple[np.ndarray, None]:
    with open(path, "rb") as handle:
        if handle.read(6) != b"\x93NUMPY":
            raise InputError(f"{path}: not a NumPy .npy file")
    try:
        # memory-mapped first, so that the shape and dtype are checked before a large array is read
        array = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"{path}: truncated or corrupt .npy file ({_one_line(error)})") from None
    if array.dtype.kind not in "iuf":
        raise InputError(f"{path}: depth array has dtype {array.dtype}; expected integers or floats")
    values = _squeeze_depth_shape(path, array)
    _check_pixel_count(path, *values.shape)
    return np.array(values), None


def _squeeze_depth_shape(path: Path, array: np.ndarray) -> np.ndarray:
    if array.size == 0:
        raise InputError(f"{path}: depth array is empty (shape {tuple(array.shape)})")
    if array.ndim == 2:
        return array
    if array.ndim == 3 and array.shape[2] == 1:
        return array[:, :, 0]
    if array.ndim == 3 and array.shape[0] == 1:
        return array[0]
    raise InputError(f"{path}: depth array has shape {tuple(array.shape)}; expected [H, W], [H, W, 1] or [1, H, W]")


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# ----------------------------------------------------------------------------------------------- loading


def load_depth(
    path: PathLike,
    size: tuple[int, int],
    *,
    scale: float | None = None,
    disparity: bool = False,
    depth_range: tuple[float, float] | None = None,
    holes: str = "fill",
) -> DepthMap:
    """Read a depth map and bring it to the image it belongs to, ``size = (H, W)``.

    Normalisation onto 0 (near) .. 1 (far):

    * default: min–max of the valid depths;
    * ``depth_range=(near, far)`` in metres (after ``scale``): ``(z - near) / (far - near)``, clipped to 0..1,
      so that several frames or photos share one mapping;
    * ``disparity=True`` for disparity / inverse-depth maps (what monocular depth networks output; larger is
      nearer): ``1 - minmax(values)``. Not ``1 / x``: monocular disparity is known only up to an unknown scale
      and shift, and the reciprocal of a shifted disparity is not depth, so only the order is kept.

    ``holes``: ``"fill"`` (holes get the push-pull continuation of their valid neighbours and are meant to be
    used as depth) or ``"mask"`` (the values are filled the same way, so the tensor is finite, but the caller
    leaves ``valid == False`` pixels out). ``valid`` is the real hole mask in both modes.

    The filled, normalised map is resized bilinearly (antialiased when shrinking); ``valid`` with nearest
    (pixel-centre aligned, "nearest-exact").
    A depth map whose aspect ratio differs from the image's by more than 2% is refused.
    """
    path = Path(path)
    _check_load_options(path, scale, disparity, depth_range, holes)
    values, _ = read_depth(path, scale=scale)
    valid = _valid_mask(values)
    _check_aspect(path, values.shape, size)
    _check_has_depth_contrast(path, values, valid)
    filled = dilate_texture(np.where(valid, values, 0.0), valid)  # holes are 0, not NaN: NaN*0 would spread
    normalised, near_far = _normalise(filled, valid, disparity, depth_range)
    depth = _resize_bilinear(torch.from_numpy(normalised).to(torch.float32)[None, None], size)
    return DepthMap(
        depth=depth.clamp(0.0, 1.0),
        valid=_resize_nearest(torch.from_numpy(valid)[None, None], size),
        near_far=near_far,
    )


def _check_load_options(
    path: Path, scale: float | None, disparity: bool, depth_range: tuple[float, float] | None, holes: str
) -> None:
    if holes not in HOLE_MODES:
        raise ConfigError(f"{path}: holes must be one of {', '.join(HOLE_MODES)}, got {holes!r}")
    _check_scale(path, scale)
    if depth_range is None:
        return
    if disparity:
        raise ConfigError(f"{path}: a depth range cannot be given for a disparity map (its values are not distances)")
    near, far = depth_range
    if not (math.isfinite(near) and math.isfinite(far) and near < far):
        raise ConfigError(f"{path}: depth range needs finite near < far, got near={near}, far={far}")


def _check_aspect(path: Path, shape: tuple[int, ...], size: tuple[int, int]) -> None:
    (height, width), (image_height, image_width) = shape, size
    if image_height < 1 or image_width < 1:
        raise ValueError(f"size must be (H, W) with both >= 1, got {size}")
    ratio = (width / height) / (image_width / image_height) if height and width else 0.0
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        raise InputError(
            f"{path}: depth map is {width}×{height} but the image is {image_width}×{image_height}: "
            "their aspect ratios differ (is it the depth of another photo?)"
        )


def _check_has_depth_contrast(path: Path, values: np.ndarray, valid: np.ndarray) -> None:
    if not valid.any():
        raise InputError(f"{path}: no valid depth (every pixel is 0, negative, NaN or infinite)")
    if np.min(values[valid]) == np.max(values[valid]):
        raise InputError(f"{path}: every pixel has the same depth: nothing to tell near from far")


def _normalise(
    filled: np.ndarray, valid: np.ndarray, disparity: bool, depth_range: tuple[float, float] | None
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """``[H, W]`` float64 onto 0 (near) .. 1 (far), and the range that was mapped (None for disparity)."""
    if depth_range is not None:
        near, far = float(depth_range[0]), float(depth_range[1])
        return np.clip((filled - near) / (far - near), 0.0, 1.0), (near, far)
    # filled values are averages of valid ones, so the valid extremes bound the whole map
    low, high = float(filled[valid].min()), float(filled[valid].max())
    unit = np.clip((filled - low) / (high - low), 0.0, 1.0)
    if disparity:
        return 1.0 - unit, None
    return unit, (low, high)


def _resize_bilinear(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[1, 1, h, w]`` -> ``[1, 1, H, W]``; bilinear keeps values inside the input range, unlike bicubic."""
    if tuple(depth.shape[-2:]) == tuple(size):
        return depth
    shrinking = size[0] < depth.shape[-2] or size[1] < depth.shape[-1]
    return F.interpolate(depth, size=size, mode="bilinear", align_corners=False, antialias=shrinking)


def _resize_nearest(valid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[1, 1, h, w]`` bool -> ``[1, 1, H, W]`` bool; "nearest-exact" samples pixel centres as bilinear does
    (plain "nearest" is shifted by half a pixel)."""
    if tuple(valid.shape[-2:]) == tuple(size):
        return valid
    return F.interpolate(valid.to(torch.uint8), size=size, mode="nearest-exact").to(torch.bool)


# ----------------------------------------------------------------------------------------------- writing


def write_depth_png(path: PathLike, depth: np.ndarray, *, scale: float | None = None) -> float:
    """Write a ``[H, W]`` float depth as a 16-bit PNG; returns the scale used (units per count).

    Each pixel stores ``round(depth / scale)``. 0, NaN, ±inf and negative depths mean "no depth" and are written
    as 0; a valid depth below ``scale / 2`` is written as 1 count, so that it never turns into a hole. The default
    scale maps the largest depth onto ~65000 counts. The scale is stored in the text chunk
    ``restyle:depth_scale`` (the ``repr`` of the float), which :func:`read_depth` uses when not given one.
    The write is atomic (a temporary file beside the target, then a rename).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"{path}: a depth map is written as 16-bit PNG; use a .png name")
    values = np.asarray(depth, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"depth must be [H, W], got shape {values.shape}")
    valid = _valid_mask(values)
    _check_scale(path, scale)
    if scale is None:
        scale = float(values[valid].max()) / DEFAULT_TOP_COUNT if valid.any() else 1.0
    counts = np.zeros(values.shape, dtype=np.float64)
    counts[valid] = np.maximum(np.rint(values[valid] / scale), 1.0)
    if counts.max(initial=0.0) > PNG_MAX_COUNT:
        raise ConfigError(
            f"{path}: the largest depth, {values[valid].max():g}, needs {counts.max():.0f} counts at scale "
            f"{scale:g}, more than a 16-bit PNG holds ({PNG_MAX_COUNT}); use a larger scale"
        )
    info = PngInfo()
    info.add_text(SCALE_KEY, repr(float(scale)))  # float(): numpy 2 would write "np.float64(...)"
    with atomic_path(path) as tmp:
        Image.fromarray(counts.astype(np.uint16)).save(tmp, format="PNG", pnginfo=info)
    return float(scale)
