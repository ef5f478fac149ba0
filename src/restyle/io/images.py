"""Image files <-> tensors (``[3, H, W]`` float32 sRGB in 0..1, channels first; see ``conventions``).

Reading (PNG, JPEG, WebP, TIFF, BMP, and anything else Pillow opens; multi-frame files give frame 0):

* EXIF orientation is applied (``ImageOps.exif_transpose``), so pixels come out the way viewers show them.
* 8-bit modes go through Pillow's own conversions: ``RGB`` /255; ``L`` and ``1`` -> grey copied to all
  three channels; ``P`` -> its palette colours; ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` -> Pillow's RGB
  conversion (no ICC colour management).
* Alpha: ``RGBA``, ``LA`` (grey rgb + alpha), ``PA``, ``P`` or ``L``/``RGB`` with a ``transparency``
  entry, and the premultiplied ``RGBa``/``La`` all give rgb + alpha ``[1, H, W]``; the colour is
  *not* premultiplied (Pillow un-premultiplies ``RGBa``). :func:`load_image` drops the alpha and
  keeps the colour as stored (no compositing over a background).
* 16-bit greyscale (``I;16`` and its byte orders) is scaled by 1/65535. ``I`` (32-bit integer, which
  is how Pillow stores some 16-bit greyscale files) is also scaled by 1/65535 and clipped to 0..1.
  ``F`` (32-bit float) is taken as already in 0..1 and clipped; NaN becomes 0.
* A pixel limit (``max_pixels``) is checked on the header size *before* decoding, against
  decompression bombs; Pillow's own bomb check (about 179 MP) also applies and is reported the same way.
* Failures raise ``InputError("<path>: <problem>")``: missing file, a directory, an empty file, a
  file Pillow does not recognise (e.g. text named ``.png``), truncated or corrupt pixel data (the
  image is fully decoded on load to find it), too many pixels.

Writing: :func:`save_image` picks the format from the suffix and writes atomically.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from restyle.errors import ConfigError, InputError
from restyle.io.atomic import atomic_path

DEFAULT_MAX_PIXELS = 80_000_000

# suffix -> (Pillow format, can store alpha)
SAVE_FORMATS: dict[str, tuple[str, bool]] = {
    ".png": ("PNG", True),
    ".jpg": ("JPEG", False),
    ".jpeg": ("JPEG", False),
    ".webp": ("WEBP", True),
    ".tif": ("TIFF", True),
    ".tiff": ("TIFF", True),
    ".bmp": ("BMP", False),
}

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

PathLike = str | os.PathLike[str]


# ----------------------------------------------------------------------------------------------- reading


def _check_is_readable_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")


def open_checked(path: Path, max_pixels: int) -> Image.Image:
    """Open (header only), enforce the pixel limit, then decode fully so truncation shows up here."""
    try:
        with warnings.catch_warnings():
            # We enforce our own limit below; Pillow's warning band (89..179 MP) would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a recognised image file") from None
    except Image.DecompressionBombError:
        raise InputError(f"{path}: too many pixels (Pillow's decompression-bomb limit)") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise InputError(f"{path}: {width}x{height} has more than the {max_pixels:,} pixel limit")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        image.close()
        raise InputError(f"{path}: truncated or corrupt image data ({error})") from None
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or "transparency" in image.info


def _sixteen_bit_to_float(image: Image.Image) -> np.ndarray:
    grey = np.asarray(image).astype(np.float32) / 65535.0
    return np.clip(grey, 0.0, 1.0)[..., None].repeat(3, axis=-1)


def _float_mode_to_float(image: Image.Image) -> np.ndarray:
    grey = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
    return np.clip(grey, 0.0, 1.0)[..., None].repeat(3, axis=-1)


def _pixels_as_float(image: Image.Image) -> np.ndarray:
    """``[H, W, 3]`` or ``[H, W, 4]`` float32 in 0..1; see the module docstring for each mode."""
    if image.mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_float(image)
    if image.mode == "F":
        return _float_mode_to_float(image)
    target_mode = "RGBA" if _has_alpha(image) else "RGB"
    return np.asarray(image.convert(target_mode), dtype=np.float32) / 255.0


def from_pil_rgba(image: Image.Image) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A decoded Pillow image to rgb ``[3, H, W]`` and alpha ``[1, H, W]`` (``None`` without alpha)."""
    pixels = torch.from_numpy(np.ascontiguousarray(_pixels_as_float(image))).permute(2, 0, 1).contiguous()
    if pixels.shape[0] == 4:
        return pixels[:3].contiguous(), pixels[3:].contiguous()
    return pixels, None


def from_pil(image: Image.Image) -> torch.Tensor:
    """A decoded Pillow image to rgb ``[3, H, W]`` float32 in 0..1 (any alpha dropped)."""
    return from_pil_rgba(image)[0]


def load_image_rgba(
    path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Read an image file as rgb ``[3, H, W]`` and alpha ``[1, H, W]`` (``None`` when it has no alpha)."""
    path = Path(path)
    _check_is_readable_file(path)
    with open_checked(path, max_pixels) as image:
        return from_pil_rgba(ImageOps.exif_transpose(image))


def load_image(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Read an image file as rgb ``[3, H, W]`` float32 sRGB in 0..1; alpha, if any, is dropped."""
    return load_image_rgba(path, max_pixels=max_pixels)[0]


# ----------------------------------------------------------------------------------------------- writing


def _to_hwc_uint8(image: torch.Tensor) -> np.ndarray:
    values = torch.nan_to_num(image.detach().to("cpu", torch.float32), nan=0.0).clamp(0.0, 1.0)
    return (values * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def _as_chw(image: torch.Tensor) -> torch.Tensor:
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] not in (3, 4) or not image.is_floating_point():
        raise ValueError(
            f"image must be a float tensor [3, H, W], [1, 3, H, W] or [4, H, W] (rgba), got {tuple(image.shape)}"
        )
    return image


def to_pil(image: torch.Tensor) -> Image.Image:
    """``[3, H, W]``, ``[1, 3, H, W]`` or ``[4, H, W]`` (rgba) floats in 0..1 to an 8-bit RGB/RGBA image."""
    return Image.fromarray(_to_hwc_uint8(_as_chw(image)))  # [H, W, 3|4] uint8 -> RGB | RGBA


def _save_format(path: Path, has_alpha: bool) -> str:
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ConfigError(
            f"{path}: unsupported image format '{suffix or '(none)'}' (use one of {', '.join(SAVE_FORMATS)})"
        )
    image_format, stores_alpha = SAVE_FORMATS[suffix]
    if has_alpha and not stores_alpha:
        raise ConfigError(f"{path}: {image_format} cannot store an alpha channel (use .png, .webp or .tif)")
    return image_format


def _save_options(image_format: str, quality: int) -> dict[str, int]:
    if image_format in ("JPEG", "WEBP"):
        return {"quality": quality}
    return {}


def save_image(image: torch.Tensor, path: PathLike, *, quality: int = 95) -> None:
    """Write ``[3, H, W]``, ``[1, 3, H, W]`` or ``[4, H, W]`` (rgba) sRGB floats in 0..1 as 8-bit.

    The format follows the suffix (png, jpg/jpeg, webp, tif/tiff, bmp; alpha only in png/webp/tif);
    ``quality`` applies to JPEG and WebP. The file is written atomically: an error leaves no file behind.
    """
    path = Path(path)
    image = _as_chw(image)
    image_format = _save_format(path, has_alpha=image.shape[0] == 4)
    pil_image = to_pil(image)
    with atomic_path(path) as tmp:
        pil_image.save(tmp, format=image_format, **_save_options(image_format, quality))


# ----------------------------------------------------------------------------------------------- resizing


def resize_long_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``[..., C, H, W]`` so that ``max(H, W) == size``, keeping the aspect ratio.

    Bilinear with antialiasing (so downscaling does not alias, and values stay inside the input range,
    unlike bicubic). Sides are rounded and kept at least 1 pixel. Returns the input when already that size.
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if image.ndim < 3 or not image.is_floating_point():
        raise ValueError(f"image must be a float tensor [..., C, H, W], got {tuple(image.shape)} {image.dtype}")
    height, width = image.shape[-2:]
    scale = size / max(height, width)
    new_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if new_size == (height, width):
        return image
    flat = image.reshape(-1, *image.shape[-3:])
    resized = F.interpolate(flat, size=new_size, mode="bilinear", align_corners=False, antialias=True)
    return resized.reshape(*image.shape[:-2], *new_size)


def square_style(path: Path, size: int, device: torch.device, fit: str = "crop") -> torch.Tensor:
    """A style image as a ``[1,3,size,size]`` square: resized to cover it and centre-cropped (``crop``), or
    resized to it whatever its aspect ratio (``squash``, the paper's: nothing of the painting is lost)."""
    image = load_image(path)
    if fit == "squash":
        return F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True,
                             align_corners=False).to(device)
    scale = size / min(image.shape[-2:])
    resized = F.interpolate(image[None], scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
    top = (resized.shape[-2] - size) // 2
    left = (resized.shape[-1] - size) // 2
    return resized[..., top : top + size, left : left + size].to(device)
