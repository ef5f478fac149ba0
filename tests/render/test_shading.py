from __future__ import annotations

import math

import pytest
import torch
from render_meshes import CUBE_TEXTURE_SHAPE, front_camera

from restyle.conventions import linear_to_srgb, srgb_to_linear
from restyle.render.camera import Cameras
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.shading import (
    Lights,
    ShadingConfig,
    render,
    sampled_texels,
    shade_points,
    surface_samples,
)
from restyle.render.views import GBufferCache, ViewConfig, ViewSampler

NO_SPECULAR = ShadingConfig(specular=0.0)


def test_front_quad_renders_its_texture(quad: MeshGeometry) -> None:
    texture = torch.rand(3, 16, 16)
    cameras = front_camera(size=16)
    output = render(quad, rasterize(quad, cameras), cameras, [texture], ["repeat"], Lights.ambient_only(1))
    assert output.images.shape == (1, 3, 16, 16)
    # full ambient light round-trips sRGB -> linear -> sRGB: the texture comes back unchanged
    assert torch.allclose(output.images[0], texture, atol=1e-4)
    assert torch.all(output.mask == 1) and torch.allclose(output.depth, torch.full((1, 1, 16, 16), 2.0))


def test_magnified_quad_is_the_bilinear_upsampling(quad: MeshGeometry) -> None:
    texture = torch.rand(3, 8, 8)
    cameras = front_camera(size=32)
    output = render(quad, rasterize(quad, cameras), cameras, [texture], ["clamp"], Lights.ambient_only(1))
    expected = torch.nn.functional.interpolate(texture[None], size=32, mode="bilinear", align_corners=False)
    assert torch.allclose(output.images, expected, atol=1e-4)


def test_minified_quad_is_the_box_filtered_texture(quad: MeshGeometry) -> None:
    texture = torch.rand(3, 64, 64)
    cameras = front_camera(size=16)
    output = render(quad, rasterize(quad, cameras), cameras, [texture], ["repeat"], Lights.ambient_only(1))
    assert torch.allclose(output.images, torch.nn.functional.avg_pool2d(texture[None], 4), atol=1e-4)


def test_lambert_and_srgb_round_trip_known_values(quad: MeshGeometry) -> None:
    albedo = 0.6
    cameras = front_camera(distance=2.0, size=9)
    light = Lights(torch.tensor([[[0.0, 0.0, 1000.0]]]), torch.full((1, 1, 3), 0.7), torch.full((1, 3), 0.1))
    texture = torch.full((3, 4, 4), albedo)
    output = render(quad, rasterize(quad, cameras), cameras, [texture], ["repeat"], light, shading=NO_SPECULAR)
    # a distant light on the normal: cos = 1 everywhere
    expected = linear_to_srgb(srgb_to_linear(torch.tensor(albedo)) * (0.1 + 0.7))
    assert torch.allclose(output.images, expected.expand(1, 3, 9, 9), atol=1e-4)


def test_grazing_light_is_dimmer_and_specular_adds_a_highlight(quad: MeshGeometry) -> None:
    cameras = front_camera(distance=2.0, size=9)
    gbuffer = rasterize(quad, cameras)
    texture = torch.full((3, 4, 4), 0.5)
    overhead = Lights(torch.tensor([[[0.0, 0.0, 3.0]]]), torch.ones(1, 1, 3), torch.zeros(1, 3))
    grazing = Lights(torch.tensor([[[30.0, 0.0, 3.0]]]), torch.ones(1, 1, 3), torch.zeros(1, 3))
    diffuse_overhead = render(quad, gbuffer, cameras, [texture], ["repeat"], overhead, shading=NO_SPECULAR)
    diffuse_grazing = render(quad, gbuffer, cameras, [texture], ["repeat"], grazing, shading=NO_SPECULAR)
    shiny = render(quad, gbuffer, cameras, [texture], ["repeat"], overhead, shading=ShadingConfig(specular=0.5))
    centre = (0, 0, 4, 4)
    assert diffuse_grazing.images[centre] < diffuse_overhead.images[centre] < shiny.images[centre]
    # the highlight is a peak: the centre (mirror direction) is brighter than the corner
    assert (
        shiny.images[centre] - diffuse_overhead.images[centre]
        > shiny.images[0, 0, 0, 0] - diffuse_overhead.images[0, 0, 0, 0]
    )


def test_back_faces_are_lit_when_two_sided(quad: MeshGeometry) -> None:
    cameras = Cameras.look_at([0.0, 0.0, -2.0], [0.0, 0.0, 0.0], fov_y=2 * math.atan(0.5), width=4, height=4)
    lights = Lights(torch.tensor([[[0.0, 0.0, -5.0]]]), torch.ones(1, 1, 3), torch.zeros(1, 3))
    gbuffer = rasterize(quad, cameras)
    texture = torch.full((3, 2, 2), 0.5)
    two_sided = render(quad, gbuffer, cameras, [texture], ["repeat"], lights)
    one_sided = render(quad, gbuffer, cameras, [texture], ["repeat"], lights, shading=ShadingConfig(two_sided=False))
    assert torch.all(two_sided.images > 0.4) and torch.all(one_sided.images == 0)


def test_background_colour_and_images(sphere: MeshGeometry) -> None:
    cameras = Cameras.look_at([0.0, 0.0, 4.0], [0.0, 0.0, 0.0], width=12, height=12)
    gbuffer = rasterize(sphere, cameras)
    lights = Lights.ambient_only(1)
    texture = torch.zeros(3, 4, 4)
    colour = render(sphere, gbuffer, cameras, [texture], ["repeat"], lights, background=torch.tensor([0.2, 0.4, 0.6]))
    empty = gbuffer.mask[0, 0] == 0
    assert torch.allclose(
        colour.images[0][:, empty], torch.tensor([0.2, 0.4, 0.6])[:, None].expand(3, int(empty.sum()))
    )
    picture = torch.rand(1, 3, 12, 12)
    composited = render(sphere, gbuffer, cameras, [texture], ["repeat"], lights, background=picture)
    assert torch.equal(composited.images[0][:, empty], picture[0][:, empty])
    assert torch.all(composited.images[0][:, ~empty] == 0)
    with pytest.raises(ValueError, match="background"):
        render(sphere, gbuffer, cameras, [texture], ["repeat"], lights, background=torch.rand(1, 3, 6, 6))


def test_supersampling_gives_fractional_edges_and_matching_size(sphere: MeshGeometry) -> None:
    cameras = Cameras.look_at([0.0, 0.0, 4.0], [0.0, 0.0, 0.0], width=10, height=10)
    gbuffer = rasterize(sphere, cameras.resized(30, 30))
    texture = torch.ones(3, 4, 4)
    output = render(sphere, gbuffer, cameras, [texture], ["repeat"], Lights.ambient_only(1), supersample=3)
    assert output.images.shape == (1, 3, 10, 10) and output.mask.shape == (1, 1, 10, 10)
    partial = (output.mask > 0) & (output.mask < 1)
    assert partial.any()
    assert torch.allclose(output.images[:, :1], output.mask, atol=1e-5)  # white object over black: alpha
    covered = output.mask > 0
    assert torch.all(output.depth[covered] > 2.9) and torch.all(output.depth[~covered] == 0)
    with pytest.raises(ValueError, match="supersample"):
        render(sphere, gbuffer, cameras, [texture], ["repeat"], Lights.ambient_only(1), supersample=4)


def test_analytic_uv_derivatives_match_finite_differences() -> None:
    # an oblique plane: UV changes non-uniformly across the image because of perspective
    plane = MeshGeometry.from_arrays(
        torch.tensor([[-8.0, -8.0, 0.0], [8.0, -8.0, 0.0], [8.0, 8.0, 0.0], [-8.0, 8.0, 0.0]]),
        torch.tensor([[0, 1, 2], [0, 2, 3]]),
        torch.tensor([[0.0, 0.0], [12.0, 0.0], [12.0, 8.0], [0.0, 8.0]]),
    )
    cameras = Cameras.look_at([0.5, -2.0, 1.5], [0.0, 0.3, 0.0], fov_y=math.radians(30), width=24, height=24)
    gbuffer = rasterize(plane, cameras)
    assert torch.all(gbuffer.mask == 1)
    samples = surface_samples(plane, gbuffer, cameras)
    uv_grad = samples.uv_grad.reshape(24, 24, 4)
    uv = gbuffer.interpolate(plane.uv, plane.faces)[0]
    central_x = (uv[:, 2:] - uv[:, :-2]) / 2
    central_y = (uv[2:] - uv[:-2]) / 2
    assert torch.allclose(uv_grad[:, 1:-1, :2], central_x, rtol=0.02, atol=1e-5)
    assert torch.allclose(uv_grad[1:-1, :, 2:], central_y, rtol=0.02, atol=1e-5)


def test_multi_slot_faces_show_their_own_texture(quad: MeshGeometry) -> None:
    two_slots = MeshGeometry.from_arrays(quad.vertices, quad.faces, quad.uv, face_slot=torch.tensor([0, 1]))
    red = torch.tensor([1.0, 0.0, 0.0])[:, None, None].repeat(1, 4, 4)
    blue = torch.tensor([0.0, 0.0, 1.0])[:, None, None].repeat(1, 8, 8)
    cameras = front_camera(size=8)
    gbuffer = rasterize(two_slots, cameras)
    output = render(two_slots, gbuffer, cameras, [red, blue], ["repeat", "clamp"], Lights.ambient_only(1))
    # face 0 is the lower-right triangle (below the diagonal), face 1 the upper-left
    assert torch.allclose(output.images[0, :, 7, 6], red[:, 0, 0]) and torch.allclose(
        output.images[0, :, 0, 1], blue[:, 0, 0]
    )
    assert torch.equal(output.images[0, 0] > 0.5, gbuffer.tri_id[0] == 0)


def _read_texels(geometry: MeshGeometry, cameras: Cameras, shape=(16, 16), wrap: str = "repeat") -> torch.Tensor:
    surface = surface_samples(geometry, rasterize(geometry, cameras), cameras)
    return sampled_texels(surface, [shape], [wrap])[0]


def test_sampled_texels_marks_the_texels_a_view_reads(quad: MeshGeometry) -> None:
    half = front_camera(size=8, half_size=0.5)  # sees only the central half of the quad
    covered = _read_texels(quad, half)
    assert covered.shape == (16, 16) and covered.dtype == torch.bool
    assert covered[4:12, 4:12].all() and not covered[:3].any() and not covered[:, 13:].any()


def test_texture_gradients_at_full_resolution_reach_exactly_the_sampled_texels(quad: MeshGeometry) -> None:
    texture = torch.rand(3, 16, 16, requires_grad=True)
    cameras = front_camera(size=13, half_size=0.5)  # magnified (LOD 0), pixel centres off the texel grid
    gbuffer = rasterize(quad, cameras)
    output = render(quad, gbuffer, cameras, [texture], ["repeat"], Lights.ambient_only(1))
    output.images.sum().backward()
    touched = texture.grad.abs().sum(0) > 0
    assert torch.equal(touched, sampled_texels(output.surface, [(16, 16)], ["repeat"])[0])


def test_a_texel_read_only_through_a_coarse_mip_level_is_not_sampled(quad: MeshGeometry) -> None:
    texture = torch.rand(3, 16, 16, requires_grad=True)
    cameras = front_camera(size=4, half_size=1.0)  # 4x4 pixels over a 16x16 texture: mip level 2
    output = render(quad, rasterize(quad, cameras), cameras, [texture], ["repeat"], Lights.ambient_only(1))
    output.images.sum().backward()
    assert (texture.grad.abs().sum(0) > 0).all()  # the coarse level feeds gradient to every texel...
    covered = sampled_texels(output.surface, [(16, 16)], ["repeat"])[0]
    assert 0 < covered.sum() <= 4 * 16  # ...but only the level-0 taps of the 16 pixels count as read


def test_sampled_texels_follow_the_wrap_mode(quad: MeshGeometry) -> None:
    # UVs run 0..2 across the quad, 2x2 pixels per copy of an 8x8 texture: u and v at 0.25, 0.75, 1.25, 1.75
    tiled = MeshGeometry.from_arrays(quad.vertices, quad.faces, quad.uv * 2)
    cameras = front_camera(size=4, half_size=1.0)
    repeat = _read_texels(tiled, cameras, (8, 8), "repeat")
    clamp = _read_texels(tiled, cameras, (8, 8), "clamp")
    taps = torch.tensor([1, 2, 5, 6])  # around texel coordinates 1.5 and 5.5
    expected_repeat = torch.zeros(8, 8, dtype=torch.bool)
    expected_repeat[taps[:, None], taps] = True  # the second copy reads the same texels
    assert torch.equal(repeat, expected_repeat)
    # beyond 1, CLAMP reads the last column (u) and the top row (v up, row 0 on top)
    expected_clamp = torch.zeros(8, 8, dtype=torch.bool)
    expected_clamp[torch.tensor([0, 1, 2, 5, 6])[:, None], torch.tensor([1, 2, 5, 6, 7])] = True
    assert torch.equal(clamp, expected_clamp)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1.0 / ((a - b) ** 2).mean()))


@pytest.fixture
def one_thread():
    # 48x48 renders are far too small to gain from intra-op threads; on a busy 2-core machine the thread
    # synchronisation of ~10^4 tiny ops costs ten times the work itself
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("one_thread")
def test_inverse_rendering_recovers_a_texture(cube: MeshGeometry) -> None:
    """Optimise a blank texture until renders match renders of a known one: gradients reach the right texels."""
    generator = torch.Generator().manual_seed(0)
    height, width = CUBE_TEXTURE_SHAPE
    coarse = torch.rand(3, height // 4, width // 4, generator=generator)
    target = 0.1 + 0.8 * torch.nn.functional.interpolate(coarse[None], size=(height, width), mode="bilinear")[0]
    target = (target + 0.1 * torch.rand(3, height, width, generator=generator)).clamp(0.05, 0.95)
    config = ViewConfig(distance=(2.0, 2.6), light_power=0.8, ambient=0.3)
    cache = GBufferCache(cube, ViewSampler(cube, config, seed=0), pool_size=24, width=48, height=48, backend="embree")
    texture = torch.full((3, height, width), 0.5, requires_grad=True)
    optimiser = torch.optim.Adam([texture], lr=0.05)
    for _ in range(60):
        cameras, lights, gbuffer = cache.sample(6)
        with torch.no_grad():
            wanted = render(cube, gbuffer, cameras, [target], ["repeat"], lights).images
        rendered = render(cube, gbuffer, cameras, [texture], ["repeat"], lights).images
        loss = ((rendered - wanted) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    surface = surface_samples(cube, cache.gbuffer, cache.cameras)
    covered = sampled_texels(surface, [CUBE_TEXTURE_SHAPE], ["repeat"])[0]
    assert covered.float().mean() > 0.9
    assert _psnr(texture.detach()[:, covered], target[:, covered]) >= 30.0


def test_a_render_that_sees_nothing_still_backpropagates(quad: MeshGeometry) -> None:
    cameras = Cameras.look_at([0.0, 0.0, -2.0], [0.0, 0.0, -5.0], width=8, height=8)  # facing away
    texture = torch.rand(3, 4, 4, requires_grad=True)
    other = torch.rand(3, 4, 4, requires_grad=True)  # a slot no face uses
    output = render(quad, rasterize(quad, cameras), cameras, [texture, other], ["repeat"] * 2, Lights.ambient_only(1))
    output.images.sum().backward()
    assert torch.all(output.images == 0) and torch.all(texture.grad == 0) and torch.all(other.grad == 0)


def test_default_training_lights_never_clip_a_white_albedo(sphere: MeshGeometry) -> None:
    """Clipped pixels pass no gradient: with the default lights and material, even albedo 1 facing the light
    (and a highlight on top) stays at or below 1, so every covered pixel of a white texture still learns."""
    sampler = ViewSampler(sphere, ViewConfig(), seed=0)
    cameras, lights = sampler.sample(16, width=32, height=32)
    surface = surface_samples(sphere, rasterize(sphere, cameras), cameras)
    white = torch.ones(surface.pixel.shape[0], 3, requires_grad=True)
    radiance = shade_points(white, surface, cameras, lights, ShadingConfig())
    assert radiance.max() <= 1.0 + 1e-6
    assert radiance.max() > 0.9  # lit: the bound is not met by rendering everything dark
    linear_to_srgb(radiance).sum().backward()
    assert torch.all(white.grad.sum(dim=1) > 0)
