"""Where the cameras and lights go: random training views (fresh every step, or drawn from a rasterised
pool), and fixed orbits for previews.

The training distribution follows the public code of Mishra & Granskog's CLIP-NNFM: a uniformly random
orientation of the object (camera direction over the whole sphere, with a random roll about the view axis), a
random shift of the object in the camera's frame, and a point light cosine-distributed about the camera.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from restyle.configs import check_ranges, option
from restyle.errors import ConfigError
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.shading import Lights

# Views rasterised per call: bounds the ray buffers' memory.
_RASTER_CHUNK = 8


@dataclass
class ViewConfig:
    """How random training views are drawn around a mesh. Lengths are in bounding-sphere radii (of the
    sphere about the bounding-box centre)."""

    distance: tuple[float, float] = option(
        (1.8, 2.6), help="Range MIN MAX of camera distances from the centre, in bounding radii; nearer cameras "
        "make style patterns smaller on the mesh. The paper's code puts the camera at 4 units from a mesh scaled "
        "to a largest bounding-box extent of 3: 4E/(3R) radii for extent E and radius R, which is 2.11 for Spot "
        "(--distance 2.11 2.11); its README's run (--scale 1.5) has 4.22.",
        min=1, min_exclusive=True, max=1000,
        flag="--distance",
    )
    directions: Literal["sphere", "band"] = option(
        "sphere", help="Camera directions: sphere (uniform over the whole sphere, so the underside is styled "
        "too; the paper) or band (uniform azimuth, elevation in the elevation range).",
        flag=None,
    )
    elevation: tuple[float, float] = option(
        (-15.0, 60.0), help="Range MIN MAX of camera elevations in degrees above the horizontal plane (world y "
        "up); used by directions = band only.",
        min=-90, max=90,
        flag="--elevation",
    )
    roll: bool = option(
        True, help="Turn each camera by a uniformly random angle about its view axis (the paper's random "
        "rotation), so strokes are not learnt in one orientation relative to the world's up.",
        flag=None,
    )
    fov: float = option(
        43.6, help="Vertical field of view in degrees (the paper's tan(fov/2) = 0.4 is 43.6).",
        min=0, max=180, min_exclusive=True, max_exclusive=True,
        flag=None,
    )
    translation: float = option(
        0.185, help="Largest shift per axis of the object in each camera's frame, in bounding radii (the camera "
        "eye and look-at point move together): the object sits off-centre and at varied depth. The paper's "
        "0.35 units is 0.35E/(3R) radii, 0.185 for Spot (0.37 at its README's --scale 1.5).",
        min=0, max=100,
        flag=None,
    )
    light_power: float = option(
        0.75, help="Intensity of the white point light (linear; no distance falloff). With the ambient level and "
        "the default specular strength (0.15) it sums to 1, so even a white albedo facing the light renders "
        "unclipped: clipped pixels pass no gradient to the texture. The light is cosine-distributed about the "
        "camera direction, at the camera's distance from the centre (as in the paper).",
        min=0,
        flag="--light-power",
    )
    ambient: float = option(
        0.1, help="Linear ambient light level, so faces turned away from the light are not black.",
        min=0,
        flag=None,
    )

    def __post_init__(self) -> None:
        for name in ("distance", "elevation"):
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(f"view config: {name} range {low}..{high} is empty")
        check_ranges(self, "views")


class ViewSampler:
    """Random cameras and lights around a mesh, reproducible from ``seed``, resumable via ``state_dict``."""

    def __init__(self, geometry: MeshGeometry, config: ViewConfig | None = None, *, seed: int = 0) -> None:
        self.config = config or ViewConfig()
        self.center = geometry.center.detach().cpu()
        self.radius = geometry.radius
        self.device = geometry.device
        # a CPU generator gives the same views whatever device renders them
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, n: int, *, width: int = 512, height: int = 512) -> tuple[Cameras, Lights]:
        cameras = self.sample_cameras(n, width=width, height=height)
        return cameras, self.sample_lights(cameras)

    def sample_cameras(self, n: int, *, width: int = 512, height: int = 512) -> Cameras:
        cfg = self.config
        direction = self._directions(n)
        distance = self._uniform(n, *cfg.distance) * self.radius
        roll = self._uniform(n, 0.0, 2 * math.pi) if cfg.roll else torch.zeros(n)
        eye = self.center + distance[:, None] * direction
        cameras = Cameras.look_at(eye, self.center, fov_y=math.radians(cfg.fov), width=width, height=height,
                                  roll=roll)
        # the shift is drawn in the camera's frame (right, up, backward): off-centre in x, y, nearer or farther
        shift = self._uniform(n * 3, -cfg.translation, cfg.translation).reshape(n, 3) * self.radius
        cameras = cameras.moved((shift[:, None, :] @ cameras.rotation)[:, 0])
        return cameras.to(self.device)

    def sample_lights(self, cameras: Cameras) -> Lights:
        """One white point light per camera, cosine-distributed about the centre-to-camera direction, at the
        camera's distance from the centre (the paper's code puts it at the camera's nominal radius, which
        differs by the object's shift only)."""
        cfg = self.config
        n = cameras.batch_size
        to_camera = cameras.eye.cpu() - self.center
        direction = self._cosine_about(F.normalize(to_camera, dim=1))
        position = self.center + direction * to_camera.norm(dim=1, keepdim=True)
        color = torch.full((n, 1, 3), cfg.light_power)
        ambient = torch.full((n, 3), cfg.ambient)
        return Lights(position[:, None, :], color, ambient).to(self.device)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def _directions(self, n: int) -> Tensor:
        """``[n, 3]`` unit camera directions from the centre."""
        if self.config.directions == "sphere":
            # a normalised Gaussian is uniform on the sphere
            return F.normalize(torch.randn(n, 3, generator=self.generator), dim=1)
        azimuth = self._uniform(n, 0.0, 2 * math.pi)
        elevation = torch.deg2rad(self._uniform(n, *self.config.elevation))
        return _direction(azimuth, elevation)

    def _cosine_about(self, axis: Tensor) -> Tensor:
        """``[n, 3]`` unit vectors with density proportional to the cosine of their angle to ``axis [n, 3]``."""
        tangent, bitangent = _frame(axis)
        phi = self._uniform(axis.shape[0], 0.0, 2 * math.pi)[:, None]
        s = self._uniform(axis.shape[0], 0.0, 1.0)[:, None]
        sin_theta, cos_theta = torch.sqrt(1.0 - s), torch.sqrt(s)
        return (tangent * torch.cos(phi) + bitangent * torch.sin(phi)) * sin_theta + axis * cos_theta

    def _uniform(self, n: int, low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator)


@dataclass(frozen=True)
class DrawnViews:
    """One step's batch of views: the cameras and lights of all of them, drawn at once from the random streams,
    and G-buffers made only for the views a caller asks for (a process of a distributed run, or one pass of a
    step that scores its views a few at a time, rasterises just its own)."""

    cameras: Cameras  # [B] at the render size
    lights: Lights  # [B]
    gbuffers: Callable[[Cameras, Tensor], GBuffer]  # (the selected cameras, their batch positions) -> G-buffers

    def part(self, views: slice) -> tuple[Cameras, Lights, GBuffer]:
        """The views at positions ``views`` of the batch, with their G-buffers at ``supersample`` times the size."""
        index = torch.arange(self.cameras.batch_size)[views]
        cameras = self.cameras.select(index)
        return cameras, self.lights.select(index), self.gbuffers(cameras, index)


class ViewSource(Protocol):
    """Where a training step gets its views: cameras at the render size, lights, and G-buffers at
    ``supersample`` times that size, ready for ``render(..., supersample=supersample)``."""

    def draw(self, n: int) -> DrawnViews: ...

    def sample(self, n: int) -> tuple[Cameras, Lights, GBuffer]:
        """``n`` views, every G-buffer made: ``draw(n)`` taken whole."""
        return self.draw(n).part(slice(None))


def rasterize_views(geometry: MeshGeometry, cameras: Cameras, supersample: int = 1, backend: str = "auto") -> GBuffer:
    """G-buffers of ``cameras`` at ``supersample`` times their size, a few views per rasteriser call."""
    fine = cameras.resized(cameras.width * supersample, cameras.height * supersample)
    count = cameras.batch_size
    chunks = [
        rasterize(geometry, fine.select(range(start, min(start + _RASTER_CHUNK, count))), backend=backend)
        for start in range(0, count, _RASTER_CHUNK)
    ]
    return GBuffer.cat(chunks)


class FreshViews(ViewSource):
    """New random cameras and lights on every call, rasterised on the spot (the paper's training views)."""

    def __init__(
        self,
        geometry: MeshGeometry,
        sampler: ViewSampler,
        width: int,
        height: int,
        supersample: int = 1,
        backend: str = "auto",
    ) -> None:
        self.geometry, self.sampler = geometry, sampler
        self.width, self.height, self.supersample, self.backend = width, height, supersample, backend

    def draw(self, n: int) -> DrawnViews:
        cameras, lights = self.sampler.sample(n, width=self.width, height=self.height)
        return DrawnViews(cameras, lights, lambda selected, _: rasterize_views(
            self.geometry, selected, self.supersample, self.backend))


class GBufferCache(ViewSource):
    """A pool of views rasterised once; each step draws a batch from it (with fresh random lights). Cheaper
    per step than :class:`FreshViews` where rasterising is slow, at the price of a fixed set of cameras."""

    def __init__(
        self,
        geometry: MeshGeometry,
        sampler: ViewSampler,
        pool_size: int,
        width: int,
        height: int,
        supersample: int = 1,
        backend: str = "auto",
    ) -> None:
        if pool_size < 1:
            raise ConfigError(f"view pool size must be at least 1, got {pool_size}")
        self.sampler = sampler
        self.supersample = supersample
        self.cameras = sampler.sample_cameras(pool_size, width=width, height=height)
        self.gbuffer = rasterize_views(geometry, self.cameras, supersample, backend)

    @property
    def pool_size(self) -> int:
        return self.cameras.batch_size

    def draw(self, n: int) -> DrawnViews:
        """``n`` views from the pool (distinct while ``n <= pool_size``), with new lights."""
        generator = self.sampler.generator
        if n <= self.pool_size:
            pool_index = torch.randperm(self.pool_size, generator=generator)[:n]
        else:
            pool_index = torch.randint(self.pool_size, (n,), generator=generator)
        cameras = self.cameras.select(pool_index)
        return DrawnViews(cameras, self.sampler.sample_lights(cameras),
                          lambda _, index: self.gbuffer.select(pool_index[index]))


def training_views(
    geometry: MeshGeometry,
    sampler: ViewSampler,
    pool_size: int,
    size: int,
    *,
    supersample: int = 1,
    backend: str = "auto",
) -> ViewSource:
    """Fresh views every step for ``pool_size`` 0, else a pool of that many ``size``-square views."""
    if pool_size < 0:
        raise ConfigError(f"view pool size must be 0 (fresh views every step) or more, got {pool_size}")
    if pool_size == 0:
        return FreshViews(geometry, sampler, size, size, supersample=supersample, backend=backend)
    return GBufferCache(geometry, sampler, pool_size, size, size, supersample=supersample, backend=backend)


def orbit_cameras(
    geometry: MeshGeometry,
    n: int,
    elevation: float | Sequence[float] = 20.0,
    distance: float = 2.4,
    fov: float = 40.0,
    width: int = 256,
    height: int = 256,
    *,
    azimuth_offset: float = 0.0,
) -> Cameras:
    """``n`` cameras evenly spaced in azimuth (degrees, starting at ``azimuth_offset`` on +z) around the
    centre, at ``elevation`` degrees (one value or one per camera) and ``distance`` bounding radii."""
    azimuth = torch.deg2rad(azimuth_offset + torch.arange(n, dtype=torch.float32) * (360.0 / n))
    elevation_t = torch.deg2rad(torch.as_tensor(elevation, dtype=torch.float32).expand(n))
    center = geometry.center.detach().cpu()
    eye = center + distance * geometry.radius * _direction(azimuth, elevation_t)
    cameras = Cameras.look_at(eye, center, fov_y=math.radians(fov), width=width, height=height)
    return cameras.to(geometry.device)


def key_lights(geometry: MeshGeometry, cameras: Cameras, *, intensity: float = 1.0, ambient: float = 0.2) -> Lights:
    """A fixed studio light per camera, above and left of it, for previews (same look from every side)."""
    right, up, backward = cameras.rotation[:, 0], cameras.rotation[:, 1], cameras.rotation[:, 2]
    distance = (cameras.eye - geometry.center.to(cameras.device)).norm(dim=1, keepdim=True)
    offset = (0.8 * up - 0.5 * right + 0.3 * backward) * distance
    position = (cameras.eye + offset)[:, None, :]
    color = torch.full_like(position, intensity)
    return Lights(position, color, torch.full_like(cameras.eye, ambient))


def _direction(azimuth: Tensor, elevation: Tensor) -> Tensor:
    """``[N, 3]`` unit vectors; azimuth 0 is +z, elevation is the angle above the xz plane (y up)."""
    return torch.stack(
        (
            torch.cos(elevation) * torch.sin(azimuth),
            torch.sin(elevation),
            torch.cos(elevation) * torch.cos(azimuth),
        ),
        dim=1,
    )


def _frame(axis: Tensor) -> tuple[Tensor, Tensor]:
    """Two unit vectors ``[n, 3]`` completing the unit ``axis [n, 3]`` to an orthonormal frame."""
    # cross with the world axis least aligned with `axis`, so the cross product never vanishes
    helper = F.one_hot(axis.abs().argmin(dim=1), 3).to(axis)
    tangent = F.normalize(torch.cross(axis, helper, dim=1), dim=1)
    return tangent, torch.cross(axis, tangent, dim=1)
