from __future__ import annotations

import math

import pytest
import torch
from render_meshes import make_cube

from restyle.errors import ConfigError
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.views import (
    FreshViews,
    GBufferCache,
    ViewConfig,
    ViewSampler,
    key_lights,
    orbit_cameras,
    training_views,
)


def test_same_seed_same_views_different_seed_different_views(cube: MeshGeometry) -> None:
    first, first_lights = ViewSampler(cube, seed=7).sample(5, width=16, height=16)
    second, second_lights = ViewSampler(cube, seed=7).sample(5, width=16, height=16)
    other, _ = ViewSampler(cube, seed=8).sample(5, width=16, height=16)
    assert torch.equal(first.world_to_view, second.world_to_view)
    assert torch.equal(first_lights.position, second_lights.position)
    assert not torch.allclose(first.eye, other.eye)


def _centre_in_view(cameras, geometry: MeshGeometry) -> torch.Tensor:
    """``[B, 3]`` the mesh centre in each camera's view space."""
    return cameras.view_points(geometry.center[None])[:, 0]


def test_band_cameras_stay_in_the_configured_ranges(sphere: MeshGeometry) -> None:
    config = ViewConfig(distance=(2.0, 3.0), directions="band", elevation=(-10.0, 50.0), fov=35.0,
                        translation=0.1, roll=False)
    cameras, _ = ViewSampler(sphere, config, seed=0).sample(200, width=8, height=8)
    # the view axis (backward) is the sampled direction: the shift moves eye and look-at point together
    elevation = torch.rad2deg(torch.asin(cameras.rotation[:, 2, 1]))
    assert elevation.min() >= -10.0 - 1e-3 and elevation.max() <= 50.0 + 1e-3
    assert elevation.max() - elevation.min() > 40  # the range is actually explored
    assert torch.allclose(cameras.fov_y, torch.full((200,), math.radians(35.0)))
    centre = _centre_in_view(cameras, sphere) / sphere.radius
    assert torch.all(centre[:, :2].abs() <= 0.1 + 1e-5) and centre[:, :2].abs().max() > 0.08
    assert torch.all(-centre[:, 2] >= 2.0 - 0.1 - 1e-5) and torch.all(-centre[:, 2] <= 3.0 + 0.1 + 1e-5)


def test_sphere_directions_are_uniform_over_the_whole_sphere(sphere: MeshGeometry) -> None:
    cameras = ViewSampler(sphere, ViewConfig(), seed=0).sample_cameras(4000, width=8, height=8)
    direction = cameras.rotation[:, 2]
    # uniform on the sphere: each coordinate is uniform in -1..1, so a quarter lies below -0.5 (the underside)
    for axis in range(3):
        assert abs(float((direction[:, axis] < -0.5).float().mean()) - 0.25) < 0.03
    assert direction.mean(dim=0).abs().max() < 0.05


def test_roll_is_uniform_about_the_view_axis(sphere: MeshGeometry) -> None:
    level = {"directions": "band", "elevation": (0.0, 0.0)}  # the world's up is square to every view axis
    upright = ViewSampler(sphere, ViewConfig(**level, roll=False), seed=0).sample_cameras(500, width=8, height=8)
    rolled = ViewSampler(sphere, ViewConfig(**level), seed=0).sample_cameras(500, width=8, height=8)
    assert torch.allclose(upright.rotation[:, 1, 1], torch.ones(500), atol=1e-5)
    angle = torch.atan2(rolled.rotation[:, 0, 1], rolled.rotation[:, 1, 1])  # the roll, -pi..pi
    assert angle.min() < -2.8 and angle.max() > 2.8 and abs(float(angle.mean())) < 0.3


def test_lights_are_cosine_distributed_about_the_camera_at_its_distance(cube: MeshGeometry) -> None:
    config = ViewConfig(light_power=1.5, ambient=0.2)
    cameras, lights = ViewSampler(cube, config, seed=1).sample(4000, width=8, height=8)
    assert lights.position.shape == (4000, 1, 3) and lights.color.shape == (4000, 1, 3)
    to_light, to_camera = lights.position[:, 0] - cube.center, cameras.eye - cube.center
    assert torch.allclose(to_light.norm(dim=1), to_camera.norm(dim=1), rtol=1e-5)
    cosine = torch.nn.functional.cosine_similarity(to_light, to_camera, dim=1)
    # density ~ cos over the hemisphere: cos^2 is uniform in 0..1, so the mean cosine is 2/3
    assert cosine.min() >= -1e-5 and abs(float(cosine.mean()) - 2 / 3) < 0.02
    assert abs(float((cosine**2 < 0.5).float().mean()) - 0.5) < 0.03
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
    with pytest.raises(ConfigError, match="translation"):
        ViewConfig(translation=-0.1)
    with pytest.raises(ConfigError, match="pool size"):
        training_views(make_cube(), ViewSampler(make_cube()), -1, 8)


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


def test_fresh_views_are_new_every_call_and_rasterised_at_the_supersampled_size(cube: MeshGeometry) -> None:
    views = training_views(cube, ViewSampler(cube, seed=5), 0, 10, supersample=2, backend="embree")
    assert isinstance(views, FreshViews)
    first, first_lights, gbuffer = views.sample(3)
    second, _, _ = views.sample(3)
    assert (first.width, first.height) == (10, 10) and gbuffer.tri_id.shape == (3, 20, 20)
    assert first_lights.position.shape[0] == 3 and not torch.allclose(first.eye, second.eye)
    fresh = rasterize(cube, first.resized(20, 20), backend="embree")
    assert torch.equal(gbuffer.tri_id, fresh.tri_id) and torch.allclose(gbuffer.depth, fresh.depth)
    again, _, _ = training_views(cube, ViewSampler(cube, seed=5), 0, 10).sample(3)
    assert torch.equal(again.world_to_view, first.world_to_view)  # the same seed gives the same cameras


def test_a_positive_pool_size_keeps_a_pool(cube: MeshGeometry) -> None:
    views = training_views(cube, ViewSampler(cube, seed=5), 3, 8)
    assert isinstance(views, GBufferCache) and views.pool_size == 3


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
