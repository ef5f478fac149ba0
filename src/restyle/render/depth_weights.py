"""Per-pixel weights for the style loss from one training step's renders: normalised depth and view angle.

Pure tensor functions on :class:`~restyle.render.shading.RenderOutput` and its cameras; no gradients are
needed (the geometry is fixed), and nothing here reads a file or a backbone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from restyle.render.camera import Cameras
from restyle.render.shading import RenderOutput

DEPTH_MODES = ("view", "world")
# A pixel at least half covered counts as the object's own when a view's depth range is measured.
_SOLID = 0.5
# A view whose depth span is below this fraction of its far depth is flat (a quad facing the camera): its
# span is float noise from the barycentric interpolation, and stretching noise to 0..1 would invent relief.
_FLAT = 1e-5
_EPS = 1e-12


def view_depth(
    depth: Tensor, mask: Tensor, *, mode: str = "view", depth_range: tuple[float, float] | None = None
) -> Tensor:
    """Normalised depth ``[B, 1, H, W]``, 0 = near .. 1 = far, from the renderer's view-space ``depth`` and
    coverage ``mask`` (both ``[B, 1, H, W]``, as in ``RenderOutput``).

    ``mode="view"``: per view, min-max over the pixels covered by more than half (a view at one depth
    throughout maps to 0). ``mode="world"``: ``(z - near) / (far - near)`` clipped to 0..1, with
    ``depth_range=(near, far)`` in the mesh's units, so depths compare across views. Background is 1.

    Silhouette pixels of a supersampled render have a fractional mask. Their depth is *not* mixed with the
    background's 0: ``render`` divides the pooled depth by the coverage, so it is the mean depth of the covered
    sub-samples, a real surface depth but possibly outside the solid pixels' range (a sliver of a farther
    surface), hence the clip. The normalised value is then composited over the far background with the mask,
    exactly as the colour image is composited over its background, so the depth map's edges sit where the
    image's edges do.
    """
    _check_depth_inputs(depth, mask, mode, depth_range)
    if mode == "view":
        near, span = _per_view_range(depth, mask)
    else:
        near_value, far_value = depth_range
        near, span = torch.tensor(near_value).to(depth), torch.tensor(far_value - near_value).to(depth)
    normalised = ((depth - near) / span).clamp(0.0, 1.0)
    coverage = mask.clamp(0.0, 1.0)
    return coverage * normalised + (1.0 - coverage)


def _per_view_range(depth: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``(near, span)``, each ``[B, 1, 1, 1]``, over each view's solid pixels; an infinite span for a flat or
    empty view, so that its normalised depth is 0."""
    solid = mask > _SOLID
    # a view of slivers only (no pixel half covered) still needs a range: take every covered pixel then
    has_solid = solid.flatten(1).any(dim=1)[:, None, None, None]
    chosen = torch.where(has_solid, solid, mask > 0)
    inf = torch.full_like(depth, math.inf)
    near = torch.where(chosen, depth, inf).amin(dim=(1, 2, 3), keepdim=True)
    far = torch.where(chosen, depth, -inf).amax(dim=(1, 2, 3), keepdim=True)
    empty = ~torch.isfinite(near)
    near = torch.where(empty, torch.zeros_like(near), near)
    far = torch.where(empty, torch.zeros_like(far), far)
    span = far - near
    flat = span <= _FLAT * far.abs()
    return near, torch.where(flat, torch.full_like(span, math.inf), span)


def _check_depth_inputs(depth: Tensor, mask: Tensor, mode: str, depth_range: tuple[float, float] | None) -> None:
    if depth.ndim != 4 or depth.shape[1] != 1:
        raise ValueError(f"depth must be [B, 1, H, W], got {tuple(depth.shape)}")
    if mask.shape != depth.shape:
        raise ValueError(f"mask must have depth's shape {tuple(depth.shape)}, got {tuple(mask.shape)}")
    if mode not in DEPTH_MODES:
        raise ValueError(f"unknown depth mode {mode!r}; valid: {', '.join(DEPTH_MODES)}")
    if mode == "view":
        if depth_range is not None:
            raise ValueError("depth_range is only used by mode 'world'; mode 'view' measures each view's own range")
        return
    if depth_range is None:
        raise ValueError("depth mode 'world' needs depth_range=(near, far) in the mesh's units")
    if not _is_depth_range(depth_range):
        raise ValueError(f"depth_range must be two finite numbers (near, far) with 0 <= near < far, got {depth_range}")


def _is_depth_range(depth_range: object) -> bool:
    try:
        near, far = (float(v) for v in depth_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return False
    return math.isfinite(near) and math.isfinite(far) and 0.0 <= near < far


def view_angle_weights(out: RenderOutput, cameras: Cameras, *, supersample: int = 1, power: float = 1.0) -> Tensor:
    """``[B, 1, H, W]`` at the render size: ``max(0, cos θ) ** power`` on covered pixels, θ the angle between
    the surface normal and the direction to the camera (``cameras``: the render's, at either size: only
    their eyes are used); 0 on background.

    StyleMesh (Höllein et al. 2022) weights its style loss this way so that patterns are not stretched at
    grazing angles. ``power=0`` weighs every covered pixel 1 (no angle weighting).

    ``supersample``: the factor the render was made with (``out.surface`` is at the G-buffer's size, S times the
    render's); the sub-samples are averaged down, so a silhouette pixel gets the mean over its covered
    sub-samples (multiply by ``out.mask`` for a coverage-weighted value).
    """
    if not (math.isfinite(power) and power >= 0):
        raise ValueError(f"power must be a finite number >= 0, got {power}")
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    batch_size, _, height, width = out.mask.shape
    if cameras.batch_size != batch_size:
        raise ValueError(f"{cameras.batch_size} cameras for {batch_size} rendered views")
    surface = out.surface
    to_eye = F.normalize(cameras.eye.to(surface.position)[surface.batch] - surface.position, dim=1, eps=_EPS)
    weight = (surface.normal * to_eye).sum(dim=1).clamp_min(0.0) ** power  # [N]
    factor = supersample
    fine_shape = (batch_size, 1, height * factor, width * factor)
    fine = weight.new_zeros(math.prod(fine_shape)).index_copy(0, surface.pixel, weight).reshape(fine_shape)
    if factor == 1:
        return fine
    pooled = F.avg_pool2d(fine, factor)
    return torch.where(out.mask > 0, pooled / out.mask.clamp_min(_EPS), torch.zeros_like(pooled))
