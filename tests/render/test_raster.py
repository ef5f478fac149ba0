from __future__ import annotations

import math

import pytest
import torch
from render_meshes import front_camera, make_cube, make_sphere

from restyle.errors import ConfigError
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.raster_embree import embree_scene
from restyle.render.views import ViewConfig, ViewSampler

BACKENDS = ("embree", "torch")


@pytest.mark.parametrize("backend", BACKENDS)
def test_front_quad_fills_the_frame_at_known_depth(quad: MeshGeometry, backend: str) -> None:
    gbuffer = rasterize(quad, front_camera(distance=2.5, size=12), backend=backend)
    assert gbuffer.tri_id.shape == (1, 12, 12) and gbuffer.bary.shape == (1, 12, 12, 3)
    assert gbuffer.mask.shape == (1, 1, 12, 12) and torch.all(gbuffer.mask == 1)
    # depth runs along the camera axis, so a plane facing the camera has one depth everywhere
    assert torch.allclose(gbuffer.depth, torch.full((1, 12, 12), 2.5), atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_background_and_barycentric_sums(sphere: MeshGeometry, backend: str) -> None:
    cameras = Cameras.look_at([0.0, 0.5, 4.0], [0.0, 0.0, 0.0], fov_y=math.radians(40), width=24, height=20)
    gbuffer = rasterize(sphere, cameras, backend=backend)
    hit = gbuffer.tri_id >= 0
    assert 0.2 < hit.float().mean() < 0.9  # the sphere sits inside the frame with background around it
    assert torch.allclose(gbuffer.bary.sum(-1)[hit], torch.ones(int(hit.sum())), atol=1e-5)
    assert torch.all(gbuffer.bary[hit] >= -1e-5)
    assert torch.all(gbuffer.bary[~hit] == 0) and torch.all(gbuffer.depth[~hit] == 0)
    assert torch.equal(gbuffer.mask[:, 0] > 0, hit)
    # the nearest point of a unit sphere seen from ~4.03 away is ~3.03 deep
    assert gbuffer.depth[hit].min() == pytest.approx(math.hypot(0.5, 4.0) - 1.0, abs=0.05)


@pytest.mark.parametrize("mesh", [make_cube, make_sphere])
def test_torch_reference_agrees_with_embree(mesh) -> None:
    geometry = mesh()
    cameras, _ = ViewSampler(geometry, ViewConfig(distance=(2.0, 3.0)), seed=3).sample(4, width=40, height=32)
    embree = rasterize(geometry, cameras, backend="embree")
    reference = rasterize(geometry, cameras, backend="torch")
    same = embree.tri_id == reference.tri_id
    assert same.float().mean() > 0.99
    both_hit = same & (embree.tri_id >= 0)
    assert torch.allclose(embree.bary[both_hit], reference.bary[both_hit], atol=2e-4)
    assert torch.allclose(embree.depth[both_hit], reference.depth[both_hit], rtol=1e-4)


def test_nearest_surface_wins_and_interpolation(quad: MeshGeometry) -> None:
    # a second, smaller quad in front of the first one must hide it in the centre
    front = quad.vertices * 0.5 + torch.tensor([0.0, 0.0, 0.5])
    vertices = torch.cat((quad.vertices, front))
    faces = torch.cat((quad.faces, quad.faces + 4))
    geometry = MeshGeometry.from_arrays(vertices, faces, torch.cat((quad.uv, quad.uv)))
    for backend in BACKENDS:
        gbuffer = rasterize(geometry, front_camera(distance=2.0, size=16), backend=backend)
        assert torch.all(gbuffer.tri_id[0, 6:10, 6:10] >= 2)
        assert torch.all(gbuffer.tri_id[0, :2] <= 1)
        z = gbuffer.interpolate(geometry.vertices, geometry.faces)[..., 2]
        assert torch.allclose(z[0, 6:10, 6:10], torch.full((4, 4), 0.5), atol=1e-5)
        assert torch.allclose(gbuffer.depth, 2.0 - z, atol=1e-5)


def test_embree_scene_is_built_once_per_geometry(cube: MeshGeometry) -> None:
    cameras = front_camera(distance=4.0, size=8)
    rasterize(cube, cameras, backend="embree")
    scene = embree_scene(cube)
    rasterize(cube, cameras, backend="embree")
    assert embree_scene(cube) is scene


def test_far_from_origin_mesh_keeps_precision(quad: MeshGeometry) -> None:
    offset = torch.tensor([1e4, -2e4, 3e4])
    moved = MeshGeometry.from_arrays(quad.vertices + offset, quad.faces, quad.uv)
    cameras = Cameras.look_at(
        offset + torch.tensor([0.0, 0.0, 2.0]), offset, fov_y=2 * math.atan(0.5), width=8, height=8
    )
    gbuffer = rasterize(moved, cameras, backend="embree")
    assert torch.all(gbuffer.mask == 1)
    assert torch.allclose(gbuffer.depth, torch.full_like(gbuffer.depth, 2.0), atol=1e-2)


def test_gbuffer_select_and_cat(cube: MeshGeometry) -> None:
    cameras, _ = ViewSampler(cube, seed=1).sample(3, width=8, height=8)
    gbuffer = rasterize(cube, cameras, backend="embree")
    joined = GBuffer.cat([gbuffer.select([2]), gbuffer.select([0, 1])])
    assert torch.equal(joined.tri_id, gbuffer.tri_id[[2, 0, 1]])
    assert torch.equal(joined.bary, gbuffer.bary[[2, 0, 1]])


def test_unknown_backend_lists_valid_ones(quad: MeshGeometry) -> None:
    with pytest.raises(ConfigError, match="embree"):
        rasterize(quad, front_camera(), backend="opengl")


def test_auto_uses_embree_on_cpu(quad: MeshGeometry) -> None:
    cameras = front_camera(size=8)
    assert torch.equal(rasterize(quad, cameras).tri_id, rasterize(quad, cameras, backend="embree").tri_id)


@pytest.mark.gpu
def test_nvdiffrast_agrees_with_embree() -> None:
    pytest.importorskip("nvdiffrast.torch")
    geometry = make_sphere(3).to("cuda")
    cameras, _ = ViewSampler(geometry, seed=5).sample(4, width=96, height=64)
    cuda = rasterize(geometry, cameras, backend="nvdiffrast")
    embree = rasterize(geometry, cameras, backend="embree")
    same = cuda.tri_id == embree.tri_id
    assert same.float().mean() > 0.99
    both_hit = same & (embree.tri_id >= 0)
    assert torch.allclose(cuda.bary[both_hit], embree.bary[both_hit], atol=1e-3)
    assert torch.allclose(cuda.depth[both_hit], embree.depth[both_hit], rtol=1e-3)
