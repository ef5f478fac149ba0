"""Where the cameras and lights go: random training views, a rasterised view pool, and fixed orbits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from restyle.errors import ConfigError
from restyle.render.camera import Cameras
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import GBuffer, rasterize
from restyle.render.shading import Lights

# Views rasterised per call when filling a pool: bounds the ray buffers' memory.
_RASTER_CHUNK = 8


@dataclass
class ViewConfig:
    """How random training views are drawn around a mesh. Lengths are in bounding-sphere radii."""

    distance: tuple[float, float] = (1.8, 2.6)
    """Range of camera distances from the centre; nearer cameras make style patterns smaller on the mesh."""
    elevation: tuple[float, float] = (-15.0, 60.0)
    """Range of camera elevations in degrees above the horizontal plane (world y is up)."""
    fov: float = 40.0
    """Vertical field of view in degrees."""
    jitter: float = 0.05
    """Largest offset of the look-at point from the centre, per axis, so the object is not always centred."""
    light_radius: tuple[float, float] = (3.0, 5.0)
    """Range of point-light distances from the centre; the light lies in the hemisphere facing the camera."""
    light_power: float = 0.75
    """Intensity of the white point light (linear; no distance falloff). With the ambient level and the
    default specular strength (0.15) it sums to 1, so even a white albedo facing the light renders unclipped:
    clipped pixels pass no gradient to the texture (the paper's power 2 is in other units)."""
    ambient: float = 0.1
    """Linear ambient light level, so faces turned away from the light are not black."""

    def __post_init__(self) -> None:
        for name in ("distance", "elevation", "light_radius"):
            low, high = getattr(self, name)
            if low > high:
                raise ConfigError(f"view config: {name} range {low}..{high} is empty")
        if self.distance[0] <= 1.0:
            raise ConfigError(f"view config: distance must exceed 1 bounding radius, got {self.distance[0]}")
        if not 0.0 < self.fov < 180.0:
            raise ConfigError(f"view config: fov must be in (0, 180) degrees, got {self.fov}")


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
        azimuth = self._uniform(n, 0.0, 2 * math.pi)
        elevation = torch.deg2rad(self._uniform(n, *cfg.elevation))
        distance = self._uniform(n, *cfg.distance) * self.radius
        eye = self.center + distance[:, None] * _direction(azimuth, elevation)
        target = self.center + self._uniform(n * 3, -cfg.jitter, cfg.jitter).reshape(n, 3) * self.radius
        cameras = Cameras.look_at(eye, target, fov_y=math.radians(cfg.fov), width=width, height=height)
        return cameras.to(self.device)

    def sample_lights(self, cameras: Cameras) -> Lights:
        """One white point light per camera, uniform over the hemisphere (about the centre) facing it."""
        cfg = self.config
        n = cameras.batch_size
        toward_camera = torch.nn.functional.normalize(cameras.eye.cpu() - self.center, dim=1)
        direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=self.generator), dim=1)
        facing = (direction * toward_camera).sum(dim=1, keepdim=True)
        direction = torch.where(facing < 0, -direction, direction)
        position = self.center + direction * (self._uniform(n, *cfg.light_radius) * self.radius)[:, None]
        color = torch.full((n, 1, 3), cfg.light_power)
        ambient = torch.full((n, 3), cfg.ambient)
        return Lights(position[:, None, :], color, ambient).to(self.device)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])

    def _uniform(self, n: int, low: float, high: float) -> Tensor:
        return low + (high - low) * torch.rand(n, generator=self.generator)


class GBufferCache:
    """A pool of views rasterised once; each step draws a batch from it (with fresh random lights).

    Cameras come back at ``width x height``; G-buffers at ``supersample`` times that, ready for
    ``render(..., supersample=supersample)``.
    """

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
        fine = self.cameras.resized(width * supersample, height * supersample)
        chunks = [
            rasterize(geometry, fine.select(range(start, min(start + _RASTER_CHUNK, pool_size))), backend=backend)
            for start in range(0, pool_size, _RASTER_CHUNK)
        ]
        self.gbuffer = GBuffer.cat(chunks)

    @property
    def pool_size(self) -> int:
        return self.cameras.batch_size

    def sample(self, n: int) -> tuple[Cameras, Lights, GBuffer]:
        """``n`` views from the pool (distinct while ``n <= pool_size``), with new lights."""
        generator = self.sampler.generator
        if n <= self.pool_size:
            index = torch.randperm(self.pool_size, generator=generator)[:n]
        else:
            index = torch.randint(self.pool_size, (n,), generator=generator)
        cameras = self.cameras.select(index)
        return cameras, self.sampler.sample_lights(cameras), self.gbuffer.select(index)


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
