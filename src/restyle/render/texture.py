"""Differentiable mip-mapped (trilinear) texture sampling with REPEAT or CLAMP wrapping.

The mip pyramid is rebuilt from the texture by 2x2 average pooling on every call, so gradients of minified
samples spread over all the texels they cover instead of hitting a sparse subset (aliasing in the forward
pass, starved texels in the backward pass). The level of detail comes from the screen-space UV derivatives:
``log2`` of the larger of the two pixel-axis footprints, measured in texels, as in OpenGL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from restyle.conventions import uv_to_grid
from restyle.errors import ConfigError

_EPS = 1e-20


def _sample_repeat(level: Tensor, uv: Tensor) -> Tensor:
    """Bilinear taps of ``level [C, h, w]`` at ``uv [N, 2]``, texture tiled (glTF REPEAT) -> ``[C, N]``."""
    _, height, width = level.shape
    # one texel of circular padding lets bilinear taps at a border blend with the opposite border
    padded = F.pad(level[None], (1, 1, 1, 1), mode="circular")
    u = uv[:, 0] - torch.floor(uv[:, 0])
    v = uv[:, 1] - torch.floor(uv[:, 1])
    grid_x = (u * width + 1) / (width + 2) * 2 - 1
    grid_y = ((1 - v) * height + 1) / (height + 2) * 2 - 1
    grid = torch.stack((grid_x, grid_y), dim=-1)[None, None]  # [1, 1, N, 2]
    return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]


def _sample_clamp(level: Tensor, uv: Tensor) -> Tensor:
    """Bilinear taps of ``level [C, h, w]`` at ``uv [N, 2]``, edge texels extended outward -> ``[C, N]``."""
    grid = uv_to_grid(uv)[None, None]
    return F.grid_sample(level[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]


# Explicit name -> sampler registry; glTF's MIRRORED_REPEAT is not produced by the mesh loader.
WRAPS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"repeat": _sample_repeat, "clamp": _sample_clamp}


def check_wrap(wrap: str) -> None:
    if wrap not in WRAPS:
        raise ConfigError(f"unknown texture wrap mode {wrap!r}; valid: {', '.join(WRAPS)}")


def mip_pyramid(texture: Tensor) -> list[Tensor]:
    """Levels ``[C, Ht, Wt], [C, ceil(Ht/2), ceil(Wt/2)], ...`` to 1x1, by differentiable 2x2 averaging."""
    levels = [texture]
    while levels[-1].shape[1] > 1 or levels[-1].shape[2] > 1:
        levels.append(F.avg_pool2d(levels[-1][None], kernel_size=2, stride=2, ceil_mode=True)[0])
    return levels


def level_of_detail(uv_grad: Tensor, texture_height: int, texture_width: int, num_levels: int) -> Tensor:
    """Mip level ``[N]`` in ``0..num_levels-1`` from ``uv_grad [N, 4]`` (du/dx, dv/dx, du/dy, dv/dy)."""
    grad = uv_grad.detach()
    scale = grad.new_tensor([texture_width, texture_height, texture_width, texture_height])
    texel_grad = grad * scale
    footprint_x = texel_grad[:, 0] ** 2 + texel_grad[:, 1] ** 2
    footprint_y = texel_grad[:, 2] ** 2 + texel_grad[:, 3] ** 2
    lod = 0.5 * torch.log2(torch.maximum(footprint_x, footprint_y).clamp_min(_EPS))
    return lod.clamp(0.0, float(num_levels - 1))


def sample_points(texture: Tensor, uv: Tensor, uv_grad: Tensor | None, *, wrap: str = "repeat") -> Tensor:
    """Trilinear samples of ``texture [C, Ht, Wt]`` at ``N`` points ``uv [N, 2]`` -> ``[N, C]``.

    ``uv_grad [N, 4]`` selects the mip level; ``None`` samples the full-resolution level bilinearly.
    """
    check_wrap(wrap)
    sampler = WRAPS[wrap]
    # no points still goes through the sampler: the (empty) result stays in the texture's autograd graph,
    # so a backward pass through a render that sees no surface gives zero gradients rather than an error
    if uv_grad is None or uv.shape[0] == 0:
        return sampler(texture, uv).T
    levels = mip_pyramid(texture)
    lod = level_of_detail(uv_grad, texture.shape[1], texture.shape[2], len(levels))
    out = texture.new_zeros(uv.shape[0], texture.shape[0])
    for index, level in enumerate(levels):
        # triangle weights: each point blends its two nearest levels, so only those levels are sampled
        weight = (1.0 - (lod - index).abs()).clamp_min(0.0)
        points = torch.nonzero(weight > 0).squeeze(1)
        if points.numel() == 0:
            continue
        taps = sampler(level, uv[points]).T * weight[points, None].to(texture.dtype)
        out = out.index_add(0, points, taps)
    return out


def sample_texture(texture: Tensor, uv: Tensor, uv_grad: Tensor | None, *, wrap: str = "repeat") -> Tensor:
    """Sample ``texture [3, Ht, Wt]`` at ``uv [B, H, W, 2]`` with derivatives ``uv_grad [B, H, W, 4]`` ->
    ``[B, 3, H, W]``."""
    batch, height, width, _ = uv.shape
    flat_grad = None if uv_grad is None else uv_grad.reshape(-1, 4)
    colors = sample_points(texture, uv.reshape(-1, 2), flat_grad, wrap=wrap)
    return colors.reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def sample_slots_points(
    textures: Sequence[Tensor], wraps: Sequence[str], uv: Tensor, uv_grad: Tensor | None, slot: Tensor
) -> Tensor:
    """Each point samples its slot's texture: ``uv [N, 2]``, ``uv_grad [N, 4]``, ``slot [N]`` -> ``[N, 3]``;
    points with a slot outside ``0..len(textures)-1`` (e.g. -1 for background) get 0."""
    if len(textures) != len(wraps):
        raise ConfigError(f"got {len(textures)} textures but {len(wraps)} wrap modes")
    if not textures:
        raise ConfigError("at least one texture is needed to sample")
    out = textures[0].new_zeros(uv.shape[0], textures[0].shape[0])
    for index, (texture, wrap) in enumerate(zip(textures, wraps, strict=True)):
        points = torch.nonzero(slot == index).squeeze(1)  # may be empty: see sample_points
        grad = None if uv_grad is None else uv_grad[points]
        out = out.index_add(0, points, sample_points(texture, uv[points], grad, wrap=wrap))
    return out


def sample_slots(
    textures: Sequence[Tensor], wraps: Sequence[str], uv: Tensor, uv_grad: Tensor | None, slot_ids: Tensor
) -> Tensor:
    """Like :func:`sample_texture` for several texture slots; ``slot_ids [B, H, W]`` picks one per pixel
    (-1: none, black) -> ``[B, 3, H, W]``."""
    batch, height, width, _ = uv.shape
    flat_grad = None if uv_grad is None else uv_grad.reshape(-1, 4)
    colors = sample_slots_points(textures, wraps, uv.reshape(-1, 2), flat_grad, slot_ids.reshape(-1))
    return colors.reshape(batch, height, width, -1).permute(0, 3, 1, 2)
