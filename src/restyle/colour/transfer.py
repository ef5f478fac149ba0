"""Colour control for style transfer (Gatys, Bethge, Hertzmann & Shechtman 2016, "Preserving Color in Neural
Artistic Style Transfer").

Two ways to keep the content's colours while taking the style's texture:

* **Luminance-only transfer**: style transfer runs on luminance images (grey, Y replicated to three channels),
  the style's luminance first matched to the content's mean and deviation; the output's luminance is then
  recombined with the content's chrominance. The paper uses YIQ; this uses YUV (kornia), which has the same Y
  and a chroma plane that is only rotated against I/Q, so the recombined image is the same.
* **Colour histogram matching**: each style image is recoloured by the affine map that gives its pixels the
  content's per-channel mean and 3x3 covariance, ``x' = C_c^1/2 C_s^-1/2 (x - mu_s) + mu_c``, before the style
  features are taken (the paper's "image analogies" variant, with symmetric matrix square roots).

Images are ``[3,H,W]`` or ``[B,3,H,W]`` sRGB in 0..1; statistics are taken over every pixel of the tensor. No
result is clamped, so that the identities above hold exactly; callers clamp before display.
"""

from __future__ import annotations

import torch
from kornia.color import rgb_to_yuv, yuv_to_rgb
from torch import Tensor

from restyle.colour.statistics import mean_and_covariance, symmetric_power

# Eigenvalues of a covariance are floored here before the inverse square root: a flat or greyscale image has
# (numerically) zero variance in some colour directions, which would otherwise blow up to infinity.
_MIN_VARIANCE = 1e-8


def _check_rgb(image: Tensor, name: str) -> None:
    if image.ndim not in (3, 4) or image.shape[-3] != 3 or not image.is_floating_point():
        raise ValueError(f"{name} must be a float tensor [3, H, W] or [B, 3, H, W], got {tuple(image.shape)}")


def luminance(image: Tensor) -> Tensor:
    """The Y (luma) channel ``[..., 1, H, W]`` of ``[..., 3, H, W]`` sRGB values."""
    _check_rgb(image, "image")
    return rgb_to_yuv(image)[..., :1, :, :]


def luminance_as_rgb(image: Tensor) -> Tensor:
    """A grey image whose three channels all hold ``image``'s luminance (its own luminance is that value, since
    the luma weights sum to one)."""
    return luminance(image).expand(*image.shape).contiguous()


def match_luminance_statistics(image: Tensor, reference: Tensor) -> Tensor:
    """``image``'s luminance shifted and scaled to ``reference``'s mean and standard deviation, as grey RGB.

    The paper's ``L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c``: without it a dark style would darken the
    content (its luminance histogram is part of what the style loss sees)."""
    source, target = luminance(image), luminance(reference)
    scale = target.std(unbiased=False) / source.std(unbiased=False).clamp_min(_MIN_VARIANCE**0.5)
    matched = (source - source.mean()) * scale + target.mean()
    return matched.expand(*image.shape).contiguous()


def recombine_luminance(luminance_from: Tensor, chroma_from: Tensor) -> Tensor:
    """RGB with the luminance of ``luminance_from`` and the chrominance (U, V) of ``chroma_from`` (same shape)."""
    _check_rgb(chroma_from, "chroma_from")
    if luminance_from.shape != chroma_from.shape:
        raise ValueError(f"shapes differ: {tuple(luminance_from.shape)} vs {tuple(chroma_from.shape)}")
    yuv = torch.cat([luminance(luminance_from), rgb_to_yuv(chroma_from)[..., 1:, :, :]], dim=-3)
    return yuv_to_rgb(yuv)


def _pixels(image: Tensor) -> Tensor:
    """``[..., 3, H, W]`` -> ``[3, N]`` float64 (see ``statistics`` for why float64)."""
    return image.movedim(-3, 0).reshape(3, -1).double()


def match_colour_statistics(image: Tensor, reference: Tensor) -> Tensor:
    """``image`` mapped affinely so that its pixels have ``reference``'s per-channel mean and covariance.

    ``image`` and ``reference`` may differ in size. The map ``C_r^1/2 C_i^-1/2`` is the symmetric one (no
    rotation of the colour axes beyond what the two covariances require)."""
    _check_rgb(image, "image")
    _check_rgb(reference, "reference")
    source, target = _pixels(image), _pixels(reference)
    source_mean, source_cov = mean_and_covariance(source.T)
    target_mean, target_cov = mean_and_covariance(target.T)
    transform = symmetric_power(target_cov, 0.5, _MIN_VARIANCE) @ symmetric_power(source_cov, -0.5, _MIN_VARIANCE)
    matched = transform @ (source - source_mean[:, None]) + target_mean[:, None]
    channels_first = matched.to(image.dtype).reshape(3, *image.shape[:-3], *image.shape[-2:])
    return channels_first.movedim(0, -3).contiguous()
