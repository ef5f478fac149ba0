"""Conventions every module shares, defined once.

Images
    float32 tensors ``[B, 3, H, W]``, sRGB-encoded, values in ``0..1``, channels first.
    Masks are ``[B, 1, H, W]`` in ``0..1``. Depth maps are ``[B, 1, H, W]``, camera-space distance
    along the view axis, ``0`` where nothing was hit.
Textures
    float32 tensors ``[3, Ht, Wt]`` (sRGB, 0..1); row 0 is the *top* of the image file.
UV coordinates
    OpenGL / OBJ convention: origin at the bottom-left of the texture, ``v`` pointing up.
    (glTF stores ``v`` pointing down; the mesh loader converts at the I/O boundary.)
Shading
    Lighting is computed in linear light; textures and outputs are sRGB.
Feature vocabulary
    B batch, C channels, H/W image size, Ht/Wt texture size, V vertices, F faces, N feature vectors.
Precision
    Feature networks may run in bf16/fp16 (``restyle.backbones.precision``); every sum that decides a result
    (Gram matrices, nearest-neighbour matching, loss reductions) runs in float32 (:func:`float32_sums`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import ExitStack
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")
REDUCED_DTYPES = (torch.bfloat16, torch.float16)

_SRGB_THRESHOLD = 0.04045
_LINEAR_THRESHOLD = 0.0031308


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values in 0..1 to linear light (IEC 61966-2-1)."""
    x = x.clamp(0.0, 1.0)
    low = x / 12.92
    # clamp_min keeps the unused branch finite so its gradient cannot poison the result with NaN
    high = ((x.clamp_min(_SRGB_THRESHOLD) + 0.055) / 1.055) ** 2.4
    return torch.where(x <= _SRGB_THRESHOLD, low, high)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear light in 0..1 to sRGB-encoded values (IEC 61966-2-1)."""
    x = x.clamp(0.0, 1.0)
    low = x * 12.92
    high = 1.055 * x.clamp_min(_LINEAR_THRESHOLD) ** (1.0 / 2.4) - 0.055
    return torch.where(x <= _LINEAR_THRESHOLD, low, high)


def uv_to_grid(uv: torch.Tensor) -> torch.Tensor:
    """UV (origin bottom-left, v up) to ``grid_sample`` coordinates (-1..1, y down, align_corners=False)."""
    return torch.stack((uv[..., 0] * 2.0 - 1.0, 1.0 - uv[..., 1] * 2.0), dim=-1)


def check_images(images: torch.Tensor, name: str = "images") -> None:
    """Raise ValueError unless ``images`` is ``[B, 3, H, W]`` floating point."""
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"{name} must be a float tensor [B, 3, H, W], got {tuple(images.shape)} {images.dtype}")


def _widened(value: object) -> object:
    """A bf16/fp16 tensor as float32; anything else (float32, float64 for gradchecks, ints) as it is."""
    if isinstance(value, torch.Tensor) and value.dtype in REDUCED_DTYPES:
        return value.float()
    return value


def float32_sums(loss: Callable[P, R]) -> Callable[P, R]:
    """``loss`` computed in float32 whatever its caller: bf16/fp16 tensor arguments are widened and autocast is off
    inside, so that a Gram matrix, a nearest-neighbour argmin or a reduction never rounds to 8 bits of mantissa
    even when called within an autocast region. On float32 (or float64) inputs outside autocast it changes
    nothing."""

    @functools.wraps(loss)
    def in_float32(*args: P.args, **kwargs: P.kwargs) -> R:
        wide_args = [_widened(value) for value in args]
        wide_kwargs = {name: _widened(value) for name, value in kwargs.items()}
        tensors = [value for value in (*wide_args, *wide_kwargs.values()) if isinstance(value, torch.Tensor)]
        devices = {tensor.device.type for tensor in tensors}
        with ExitStack() as stack:
            for device_type in devices:
                if torch.is_autocast_enabled(device_type):  # outside autocast: nothing entered, nothing changed
                    stack.enter_context(torch.autocast(device_type, enabled=False))
            return loss(*wide_args, **wide_kwargs)  # type: ignore[arg-type]

    return in_float32
