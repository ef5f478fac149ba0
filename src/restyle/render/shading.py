"""Differentiable shading of a G-buffer: UV interpolation, mip texture sampling, Blinn-Phong, compositing.

Only covered pixels are shaded (they are gathered into flat ``[N]`` arrays first), and gradients reach the
texels through :mod:`restyle.render.texture`. Light is computed in linear space; textures and outputs
are sRGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from restyle.configs import option
from restyle.conventions import linear_to_srgb, srgb_to_linear
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import MeshGeometry
from restyle.render.texture import check_wrap, sample_slots_points

_EPS = 1e-12


@dataclass
class Lights:
    """Point lights plus ambient light, per view. Point lights do not fall off with distance (as in the
    reference implementation), so ``color`` is the irradiance a surface facing the light receives.

    Attributes:
        position: ``[B, L, 3]`` world-space light positions (L may be 0).
        color: ``[B, L, 3]`` linear RGB intensity of each light.
        ambient: ``[B, 3]`` linear RGB ambient intensity.
    """

    position: Tensor
    color: Tensor
    ambient: Tensor

    @classmethod
    def ambient_only(cls, batch: int, level: float = 1.0, device: torch.device | str = "cpu") -> Lights:
        """No point lights; with ``level=1`` a render shows the texture's own colours (albedo)."""
        return cls(
            torch.zeros(batch, 0, 3, device=device),
            torch.zeros(batch, 0, 3, device=device),
            torch.full((batch, 3), float(level), device=device),
        )

    def select(self, index: Tensor | Sequence[int]) -> Lights:
        index = torch.as_tensor(index, dtype=torch.int64, device=self.position.device)
        return Lights(self.position[index], self.color[index], self.ambient[index])

    def to(self, device: torch.device | str) -> Lights:
        return Lights(self.position.to(device), self.color.to(device), self.ambient.to(device))


@dataclass
class ShadingConfig:
    """Material of the whole mesh (Lambert diffuse + Blinn-Phong specular). Light intensities and the
    ambient level belong to :class:`Lights` (and are drawn per view by ``ViewConfig``)."""

    diffuse: float = option(1.0, min=0, help="Scale of the Lambert term (albedo x light x cos).")
    specular: float = option(0.15, min=0, help="Strength of the white Blinn-Phong highlight; 0 disables it.")
    shininess: float = option(
        32.0, min=0, max=1e4, help="Blinn-Phong exponent: higher gives smaller, sharper highlights."
    )
    two_sided: bool = option(
        True, help="Shade back faces with the flipped normal (open meshes, single-sided cloth) instead of darkness."
    )


@dataclass
class RenderOutput:
    """Rendered views.

    Attributes:
        images: ``[B, 3, H, W]`` sRGB in 0..1, composited over the background.
        mask: ``[B, 1, H, W]`` coverage in 0..1 (fractional at edges when supersampled).
        depth: ``[B, 1, H, W]`` view-space depth, 0 on background.
        surface: the shaded surface points (at the G-buffer's size, i.e. before supersampling is averaged),
            e.g. to find which texels the render read (:func:`sampled_texels`).
    """

    images: Tensor
    mask: Tensor
    depth: Tensor
    surface: SurfaceSamples


@dataclass
class SurfaceSamples:
    """The surface seen by each covered pixel, flattened to ``N`` points.

    Attributes:
        pixel: ``[N]`` int64 index into the flattened ``B*H*W`` G-buffer.
        batch: ``[N]`` int64 view index.
        position: ``[N, 3]`` world-space point.
        normal: ``[N, 3]`` unit interpolated smooth normal (flipped toward the camera on back faces
            when asked).
        uv: ``[N, 2]`` texture coordinates.
        uv_grad: ``[N, 4]`` (du/dx, dv/dx, du/dy, dv/dy) per pixel step along a row (x) and down a column (y).
        slot: ``[N]`` int64 texture slot.
    """

    pixel: Tensor
    batch: Tensor
    position: Tensor
    normal: Tensor
    uv: Tensor
    uv_grad: Tensor
    slot: Tensor


def surface_samples(
    geometry: MeshGeometry, gbuffer: GBuffer, cameras: Cameras, *, two_sided: bool = True
) -> SurfaceSamples:
    """Interpolate geometry at every covered pixel of ``gbuffer`` (made by ``cameras`` at its size)."""
    _, height, width = gbuffer.shape
    with torch.no_grad():  # the geometry is fixed: nothing here needs a gradient
        pixel, face, bary = gbuffer.hits()
        batch = pixel // (height * width)
        # a single gather of packed per-face data: at 512^2, gathers over ~10^5..10^6 pixels dominate here
        per_face = geometry.face_attributes[face]  # [N, 33]
        corners = per_face[:, :24].reshape(-1, 3, 8)
        position, smooth_normal, uv = torch.bmm(bary[:, None, :], corners)[:, 0].split((3, 3, 2), dim=1)
        face_normal, jacobian = per_face[:, 24:27], per_face[:, 27:].reshape(-1, 2, 3)
        to_point = position - cameras.eye[batch]
        normal = F.normalize(smooth_normal, dim=1, eps=_EPS)
        if two_sided:
            facing_away = (face_normal * to_point).sum(dim=1, keepdim=True) > 0
            normal = torch.where(facing_away, -normal, normal)
        depth = gbuffer.depth.reshape(-1)[pixel]
        uv_grad = _uv_derivatives(jacobian, face_normal, to_point, depth, cameras.resized(width, height), batch)
    return SurfaceSamples(pixel, batch, position, normal, uv, uv_grad, geometry.face_slot[face])


def _uv_derivatives(
    jacobian: Tensor, face_normal: Tensor, to_point: Tensor, depth: Tensor, cameras: Cameras, batch: Tensor
) -> Tensor:
    """Analytic screen-space UV derivatives ``[N, 4]`` from each face's UV Jacobian ``[N, 2, 3]``.

    A pixel step changes the ray direction by ``dr``; the hit point on the face's plane moves by
    ``depth * (dr - q (n.dr) / (n.q))`` with ``q`` the eye-to-point vector. Exact per face, hence no seams
    at triangle borders (unlike finite differences between neighbouring pixels).
    """
    step_x, step_y = cameras.pixel_footprint()  # [B, 3] each
    n_dot_q = (face_normal * to_point).sum(dim=1, keepdim=True)
    # grazing views make n.q ~ 0: keep the sign, bound the magnitude (LOD is clamped to the coarsest level)
    n_dot_q = torch.where(n_dot_q >= 0, n_dot_q.clamp_min(_EPS), n_dot_q.clamp_max(-_EPS))
    derivatives = []
    for step in (step_x[batch], step_y[batch]):
        moved = depth[:, None] * (step - to_point * (face_normal * step).sum(dim=1, keepdim=True) / n_dot_q)
        derivatives.append((jacobian @ moved[:, :, None])[:, :, 0])  # [N, 2]
    return torch.cat(derivatives, dim=1)


def shade_points(
    albedo_srgb: Tensor, surface: SurfaceSamples, cameras: Cameras, lights: Lights, shading: ShadingConfig
) -> Tensor:
    """Linear radiance ``[N, 3]`` of points with sRGB albedo ``[N, 3]`` (Lambert + Blinn-Phong)."""
    albedo = srgb_to_linear(albedo_srgb)
    batch = surface.batch
    to_light = F.normalize(lights.position[batch] - surface.position[:, None, :], dim=2, eps=_EPS)  # [N, L, 3]
    to_eye = F.normalize(cameras.eye[batch] - surface.position, dim=1, eps=_EPS)  # [N, 3]
    cos_light = (to_light * surface.normal[:, None, :]).sum(dim=2).clamp_min(0.0)  # [N, L]
    half = F.normalize(to_light + to_eye[:, None, :], dim=2, eps=_EPS)
    # no highlight on the unlit side: Blinn-Phong's half vector can still face the normal there
    highlight = (half * surface.normal[:, None, :]).sum(dim=2).clamp_min(0.0) ** shading.shininess
    highlight = highlight * (cos_light > 0)
    light_color = lights.color[batch]  # [N, L, 3]
    irradiance = lights.ambient[batch] + shading.diffuse * (light_color * cos_light[..., None]).sum(dim=1)
    specular = shading.specular * (light_color * highlight[..., None]).sum(dim=1)
    return albedo * irradiance + specular


def render(
    geometry: MeshGeometry,
    gbuffer: GBuffer,
    cameras: Cameras,
    textures: Sequence[Tensor],
    wraps: Sequence[str],
    lights: Lights,
    *,
    background: Tensor | None = None,
    shading: ShadingConfig | None = None,
    supersample: int = 1,
) -> RenderOutput:
    """Shade ``gbuffer`` (made at ``S*H x S*W`` for ``supersample=S``) with ``textures [3, Ht, Wt]`` per slot.

    ``background``: None (black), a colour ``[3]`` or images ``[B, 3, H, W]``, all sRGB. The result is
    shaded at the G-buffer size and average-pooled by ``S`` (anti-aliasing).
    """
    shading = shading or ShadingConfig()
    _check_render_inputs(gbuffer, textures, wraps, supersample)
    surface = surface_samples(geometry, gbuffer, cameras, two_sided=shading.two_sided)
    albedo = sample_slots_points(textures, wraps, surface.uv, surface.uv_grad, surface.slot)
    color = linear_to_srgb(shade_points(albedo, surface, cameras, lights, shading))
    batch_size, height, width = gbuffer.shape
    flat = color.new_zeros(batch_size * height * width, 3).index_copy(0, surface.pixel, color)
    premultiplied = flat.reshape(batch_size, height, width, 3).permute(0, 3, 1, 2)
    mask, depth = gbuffer.mask, gbuffer.depth[:, None]
    if supersample > 1:
        premultiplied = F.avg_pool2d(premultiplied, supersample)
        depth_sum = F.avg_pool2d(depth * mask, supersample)
        mask = F.avg_pool2d(mask, supersample)
        depth = torch.where(mask > 0, depth_sum / mask.clamp_min(_EPS), torch.zeros_like(mask))
    images = premultiplied + (1 - mask) * _background_images(background, premultiplied)
    return RenderOutput(images, mask, depth, surface)


def _background_images(background: Tensor | None, like: Tensor) -> Tensor:
    """``background`` broadcast to ``like``'s ``[B, 3, H, W]``."""
    if background is None:
        return torch.zeros_like(like)
    background = background.to(like)
    if background.shape == (3,):
        return background[None, :, None, None].expand_as(like)
    if background.shape != like.shape:
        raise ValueError(f"background must be [3] or {tuple(like.shape)}, got {tuple(background.shape)}")
    return background


def _check_render_inputs(gbuffer: GBuffer, textures: Sequence[Tensor], wraps: Sequence[str], supersample: int):
    _, height, width = gbuffer.shape
    if supersample < 1 or height % supersample or width % supersample:
        raise ValueError(f"G-buffer {height}x{width} is not a multiple of supersample={supersample}")
    for wrap in wraps:
        check_wrap(wrap)
    for index, texture in enumerate(textures):
        if texture.ndim != 3 or texture.shape[0] != 3:
            raise ValueError(f"texture slot {index} must be [3, Ht, Wt], got {tuple(texture.shape)}")


def sampled_texels(
    surface: SurfaceSamples, texture_shapes: Sequence[tuple[int, int]], wraps: Sequence[str]
) -> list[Tensor]:
    """Per slot, a bool ``[Ht, Wt]`` map of the texels that a full-resolution (level-0) bilinear tap at some
    point of ``surface`` reads with a non-zero weight, under the slot's wrap mode.

    Coarser mip levels are deliberately left out: a grazing pixel reads the coarsest level, which averages
    the whole texture, so counting it would call every texel seen.
    """
    maps = []
    for index, ((height, width), wrap) in enumerate(zip(texture_shapes, wraps, strict=True)):
        check_wrap(wrap)
        uv = surface.uv[surface.slot == index]
        rows, cols, read = _bilinear_taps(uv, height, width, wrap)
        seen = torch.zeros(height * width, dtype=torch.bool, device=uv.device)
        seen[(rows * width + cols)[read]] = True
        maps.append(seen.reshape(height, width))
    return maps


def _bilinear_taps(uv: Tensor, height: int, width: int, wrap: str) -> tuple[Tensor, Tensor, Tensor]:
    """The 4 texels ``(rows [N, 4], cols [N, 4])`` around each ``uv [N, 2]`` as the level-0 sampler of
    :mod:`restyle.render.texture` reads them, and whether each one gets a non-zero weight ``[N, 4]``."""
    u, v = uv[:, 0], uv[:, 1]
    if wrap == "repeat":
        u, v = u - torch.floor(u), v - torch.floor(v)
    # texel centres sit at k + 0.5; row 0 is the top of the image, v points up
    x, y = u * width - 0.5, (1 - v) * height - 0.5
    if wrap == "clamp":  # the border extends outward: clamp the sample point, as grid_sample's border mode
        x, y = x.clamp(0, width - 1), y.clamp(0, height - 1)
    x0, y0 = torch.floor(x), torch.floor(y)
    right, below = (x - x0) > 0, (y - y0) > 0
    cols = torch.stack((x0, x0 + 1, x0, x0 + 1), dim=1).long()
    rows = torch.stack((y0, y0, y0 + 1, y0 + 1), dim=1).long()
    read = torch.stack((torch.ones_like(right), right, below, right & below), dim=1)
    if wrap == "repeat":
        return rows % height, cols % width, read
    return rows.clamp(0, height - 1), cols.clamp(0, width - 1), read
