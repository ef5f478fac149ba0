from __future__ import annotations

import math

import pytest
import torch

from restyle.errors import ConfigError
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.views import GBufferCache, ViewConfig, ViewSampler, key_lights, orbit_cameras


def test_same_seed_same_views_different_seed_different_views(cube: MeshGeometry) -> None:
    first, first_lights = ViewSampler(cube, seed=7).sample(5, width=16, height=16)
    second, second_lights = ViewSampler(cube, seed=7).sample(5, width=16, height=16)
    other, _ = ViewSampler(cube, seed=8).sample(5, width=16, height=16)
    assert torch.equal(first.world_to_view, second.world_to_view)
    assert torch.equal(first_lights.position, second_lights.position)
    assert not torch.allclose(first.eye, other.eye)


def test_cameras_stay_in_the_configured_ranges(sphere: MeshGeometry) -> None:
    config = ViewConfig(distance=(2.0, 3.0), elevation=(-10.0, 50.0), fov=35.0, jitter=0.1)
    cameras, _ = ViewSampler(sphere, config, seed=0).sample(200, width=8, height=8)
    offset = cameras.eye - sphere.center
    distance = offset.norm(dim=1) / sphere.radius
    elevation = torch.rad2deg(torch.asin(offset[:, 1] / offset.norm(dim=1)))
    assert distance.min() >= 2.0 - 1e-5 and distance.max() <= 3.0 + 1e-5
    assert elevation.min() >= -10.0 - 1e-3 and elevation.max() <= 50.0 + 1e-3
    assert elevation.max() - elevation.min() > 40  # the range is actually explored
    assert torch.allclose(cameras.fov_y, torch.full((200,), math.radians(35.0)))
    # the look-at point is jittered by at most 0.1 radii per axis: the centre is never far off the view axis
    to_centre = cameras.view_points(sphere.center[None])[:, 0]
    assert torch.all(to_centre[:, :2].abs() <= 0.1 * math.sqrt(3) * sphere.radius + 1e-5)
    assert to_centre[:, :2].abs().max() > 0.01


def test_lights_lie_in_the_hemisphere_facing_the_camera(cube: MeshGeometry) -> None:
    config = ViewConfig(light_radius=(3.0, 5.0), light_power=1.5, ambient=0.2)
    cameras, lights = ViewSampler(cube, config, seed=1).sample(200, width=8, height=8)
    assert lights.position.shape == (200, 1, 3) and lights.color.shape == (200, 1, 3)
    to_light = lights.position[:, 0] - cube.center
    radius = to_light.norm(dim=1) / cube.radius
    assert radius.min() >= 3.0 - 1e-5 and radius.max() <= 5.0 + 1e-5
    assert torch.all((to_light * (cameras.eye - cube.center)).sum(dim=1) >= 0)
    assert torch.all(lights.color == 1.5) and torch.all(lights.ambient == 0.2)


def test_generator_state_round_trips(cube: MeshGeometry) -> None:
    sampler = ViewSampler(cube, seed=3)
    sampler.sample(2)
    state = sampler.state_dict()
    expected, expected_lights = sampler.sample(4, width=8, height=8)
    resumed = ViewSampler(cube, seed=999)
    resumed.load_state_dict(state)
    got, got_lights = resumed.sample(4, width=8, height=8)
    assert torch.equal(expected.world_to_view, got.world_to_view)
    assert torch.equal(expected_lights.position, got_lights.position)


def test_invalid_config_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="distance"):
        ViewConfig(distance=(0.5, 2.0))
    with pytest.raises(ConfigError, match="elevation"):
        ViewConfig(elevation=(30.0, 10.0))


def test_cache_returns_the_same_gbuffers_as_fresh_rasterisation(cube: MeshGeometry) -> None:
    cache = GBufferCache(cube, ViewSampler(cube, seed=2), pool_size=10, width=12, height=10, supersample=2)
    assert cache.gbuffer.tri_id.shape == (10, 20, 24)
    cameras, lights, gbuffer = cache.sample(4)
    assert (cameras.width, cameras.height) == (12, 10) and lights.position.shape[0] == 4
    fresh = rasterize(cube, cameras.resized(24, 20), backend="embree")
    assert torch.equal(gbuffer.tri_id, fresh.tri_id)
    assert torch.allclose(gbuffer.bary, fresh.bary) and torch.allclose(gbuffer.depth, fresh.depth)


def test_cache_draws_distinct_views_and_fresh_lights(cube: MeshGeometry) -> None:
    cache = GBufferCache(cube, ViewSampler(cube, seed=2), pool_size=6, width=8, height=8)
    cameras, first_lights, _ = cache.sample(6)
    assert len({tuple(eye.tolist()) for eye in cameras.eye}) == 6
    _, second_lights, _ = cache.sample(6)
    assert not torch.allclose(first_lights.position, second_lights.position)
    more, _, gbuffer = cache.sample(9)  # more than the pool: repeats allowed
    assert more.batch_size == 9 and gbuffer.tri_id.shape[0] == 9


def test_cache_is_deterministic_under_seed(cube: MeshGeometry) -> None:
    draws = []
    for _ in range(2):
        cache = GBufferCache(cube, ViewSampler(cube, seed=4), pool_size=5, width=8, height=8)
        draws.append(cache.sample(3))
    assert torch.equal(draws[0][0].eye, draws[1][0].eye) and torch.equal(draws[0][2].tri_id, draws[1][2].tri_id)


def test_orbit_cameras_circle_the_centre(sphere: MeshGeometry) -> None:
    cameras = orbit_cameras(sphere, 8, elevation=30.0, distance=3.0, fov=45.0, width=20, height=10)
    offset = cameras.eye - sphere.center
    assert torch.allclose(offset.norm(dim=1), torch.full((8,), 3.0 * sphere.radius), atol=1e-4)
    assert torch.allclose(offset[:, 1], torch.full((8,), 3.0 * sphere.radius * math.sin(math.radians(30))), atol=1e-4)
    azimuth = torch.rad2deg(torch.atan2(offset[:, 0], offset[:, 2])) % 360
    assert torch.allclose(azimuth, torch.arange(8) * 45.0, atol=1e-3)
    assert (cameras.width, cameras.height) == (20, 10)


def test_key_lights_sit_above_the_camera(sphere: MeshGeometry) -> None:
    cameras = orbit_cameras(sphere, 4, elevation=0.0)
    lights = key_lights(sphere, cameras, intensity=0.9, ambient=0.1)
    assert torch.all(lights.position[:, 0, 1] > cameras.eye[:, 1])
    assert torch.all(lights.color == 0.9) and torch.all(lights.ambient == 0.1)
