from __future__ import annotations

import math

import pytest
import torch
from render_meshes import make_quad

from restyle.render.camera import Cameras
from restyle.render.depth_weights import view_angle_weights, view_depth
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.shading import Lights, RenderOutput, ShadingConfig, render

# Odd sizes put a pixel centre on the optical axis, so the centre pixel sees exactly the point looked at.
SIZE = 17
CENTRE = (0, 0, SIZE // 2, SIZE // 2)


def _render(geometry: MeshGeometry, cameras: Cameras, supersample: int = 1, two_sided: bool = True) -> RenderOutput:
    fine = cameras.resized(cameras.width * supersample, cameras.height * supersample)
    texture = torch.full((3, 4, 4), 0.5)
    lights = Lights.ambient_only(cameras.batch_size)
    shading = ShadingConfig(two_sided=two_sided)
    return render(
        geometry, rasterize(geometry, fine), cameras, [texture], ["repeat"], lights,
        shading=shading, supersample=supersample,
    )


def _camera(distance: float = 3.0, size: int = SIZE, fov_degrees: float = 60.0) -> Cameras:
    return Cameras.look_at([0.0, 0.0, distance], [0.0, 0.0, 0.0], fov_y=math.radians(fov_degrees),
                           width=size, height=size)


def _turned(geometry: MeshGeometry, degrees: float) -> MeshGeometry:
    """``geometry`` turned about the y axis, so its normal leans away from a camera on +z."""
    angle = math.radians(degrees)
    rotation = torch.tensor(
        [[math.cos(angle), 0.0, math.sin(angle)], [0.0, 1.0, 0.0], [-math.sin(angle), 0.0, math.cos(angle)]]
    )
    return MeshGeometry.from_arrays(geometry.vertices @ rotation.T, geometry.faces, geometry.uv)


def _two_quads() -> MeshGeometry:
    """A quad at depth 3 on the left and one at depth 5 on the right of a camera at z = 3."""
    quad = make_quad(half_size=0.5)
    near = quad.vertices + torch.tensor([-1.0, 0.0, 0.0])
    far = quad.vertices + torch.tensor([1.0, 0.0, -2.0])
    faces = torch.cat((quad.faces, quad.faces + 4))
    return MeshGeometry.from_arrays(torch.cat((near, far)), faces, torch.cat((quad.uv, quad.uv)))


# ------------------------------------------------------------------------------------------- view angle


def test_a_quad_facing_the_camera_weighs_one_at_its_centre_and_zero_on_background() -> None:
    cameras = _camera()
    out = _render(make_quad(half_size=0.5), cameras)
    weights = view_angle_weights(out, cameras)
    assert weights.shape == (1, 1, SIZE, SIZE)
    assert weights[CENTRE] == pytest.approx(1.0, abs=1e-5)
    background = out.mask == 0
    assert background.any() and torch.all(weights[background] == 0)
    covered = out.mask == 1
    # off-centre pixels see the quad a little obliquely, but never at more than a few degrees here
    assert torch.all(weights[covered] > 0.97) and torch.all(weights <= 1)


@pytest.mark.parametrize(("power", "expected"), [(1.0, 0.5), (2.0, 0.25), (0.0, 1.0)])
def test_a_quad_turned_by_60_degrees_weighs_cos_to_the_power(power: float, expected: float) -> None:
    cameras = _camera()
    out = _render(_turned(make_quad(half_size=0.5), 60.0), cameras)
    weights = view_angle_weights(out, cameras, power=power)
    assert weights[CENTRE] == pytest.approx(expected, abs=1e-4)
    assert torch.all(weights[out.mask == 0] == 0)


def test_back_faces_weigh_by_their_flipped_normal_only_when_two_sided() -> None:
    cameras = Cameras.look_at([0.0, 0.0, -3.0], [0.0, 0.0, 0.0], fov_y=math.radians(60), width=SIZE, height=SIZE)
    quad = make_quad(half_size=0.5)
    two_sided = view_angle_weights(_render(quad, cameras), cameras)
    one_sided = view_angle_weights(_render(quad, cameras, two_sided=False), cameras)
    assert two_sided[CENTRE] == pytest.approx(1.0, abs=1e-5)
    assert torch.all(one_sided == 0)  # the normal points away: cos < 0 is clamped


def test_supersampled_angle_weights_match_the_plain_ones_inside_and_average_at_edges() -> None:
    cameras = _camera(size=24, fov_degrees=25.0)
    turned = _turned(make_quad(half_size=0.5), 50.0)
    plain, fine = _render(turned, cameras), _render(turned, cameras, supersample=2)
    plain_weights, fine_weights = view_angle_weights(plain, cameras), view_angle_weights(fine, cameras, supersample=2)
    assert fine_weights.shape == (1, 1, 24, 24)
    interior = (plain.mask == 1) & (fine.mask == 1)
    assert interior.sum() > 20
    assert torch.allclose(fine_weights[interior], plain_weights[interior], atol=5e-3)
    # silhouette pixels get the mean of their covered sub-samples, not a value diluted by the background
    edge = (fine.mask > 0) & (fine.mask < 1)
    assert edge.any() and torch.all(fine_weights[edge] > 0.5)
    assert torch.all(fine_weights[fine.mask == 0] == 0)


def test_angle_weights_refuse_bad_arguments() -> None:
    cameras = _camera()
    out = _render(make_quad(half_size=0.5), cameras)
    for power in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="power"):
            view_angle_weights(out, cameras, power=power)
    two_cameras = Cameras.look_at([[0.0, 0.0, 3.0], [0.0, 0.0, 4.0]], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="2 cameras for 1 rendered views"):
        view_angle_weights(out, two_cameras)
    with pytest.raises(ValueError, match="supersample must be >= 1"):
        view_angle_weights(out, cameras, supersample=0)


# ------------------------------------------------------------------------------------------------ depth


def test_view_mode_puts_the_near_quad_at_0_and_the_far_one_at_1() -> None:
    cameras = _camera(size=32)
    out = _render(_two_quads(), cameras)
    normalised = view_depth(out.depth, out.mask)
    left, right = out.mask.clone(), out.mask.clone()
    left[..., 16:], right[..., :16] = 0, 0
    assert left.sum() > 10 and right.sum() > 10
    assert torch.allclose(normalised[left == 1], torch.tensor(0.0), atol=1e-5)
    assert torch.allclose(normalised[right == 1], torch.tensor(1.0), atol=1e-5)
    assert torch.all(normalised[out.mask == 0] == 1)


def test_world_mode_maps_the_range_linearly_and_clips() -> None:
    cameras = _camera(size=32)
    out = _render(_two_quads(), cameras)
    left, right = out.mask.clone(), out.mask.clone()
    left[..., 16:], right[..., :16] = 0, 0
    normalised = view_depth(out.depth, out.mask, mode="world", depth_range=(2.0, 6.0))
    assert torch.allclose(normalised[left == 1], torch.tensor((3.0 - 2.0) / 4.0), atol=1e-5)
    assert torch.allclose(normalised[right == 1], torch.tensor((5.0 - 2.0) / 4.0), atol=1e-5)
    assert torch.all(normalised[out.mask == 0] == 1)
    clipped = view_depth(out.depth, out.mask, mode="world", depth_range=(3.5, 4.0))
    assert torch.all(clipped[left == 1] == 0) and torch.all(clipped[right == 1] == 1)


def test_supersampled_depth_matches_the_plain_one_inside() -> None:
    # flat quads keep each view's range the same at both sizes; a turned quad checks a sloped surface
    scenes = ((_two_quads(), _camera(size=32), "view", None),
              (_turned(make_quad(half_size=0.5), 50.0), _camera(size=24, fov_degrees=25.0), "world", (2.0, 4.0)))
    for geometry, cameras, mode, depth_range in scenes:
        plain, fine = _render(geometry, cameras), _render(geometry, cameras, supersample=2)
        interior = (plain.mask == 1) & (fine.mask == 1)
        assert interior.sum() > 20
        a = view_depth(plain.depth, plain.mask, mode=mode, depth_range=depth_range)
        b = view_depth(fine.depth, fine.mask, mode=mode, depth_range=depth_range)
        assert torch.allclose(a[interior], b[interior], atol=2e-3), mode


def test_known_values_silhouettes_flat_and_empty_views() -> None:
    depth = torch.tensor([[[[2.0, 3.0], [4.0, 0.0]]], [[[5.0, 5.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    mask = torch.tensor([[[[1.0, 0.5], [1.0, 0.0]]], [[[1.0, 1.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    normalised = view_depth(depth, mask)
    # view 0: the range 2..4 comes from the solid pixels; the half-covered pixel at depth 3 (0.5) is composited
    # half over the far background: 0.5 * 0.5 + 0.5
    assert torch.allclose(normalised[0, 0], torch.tensor([[0.0, 0.75], [1.0, 1.0]]))
    assert torch.equal(normalised[1, 0], torch.tensor([[0.0, 0.0], [1.0, 1.0]]))  # flat: all near
    assert torch.equal(normalised[2], torch.ones(1, 2, 2))  # nothing covered


def test_depth_refuses_bad_arguments() -> None:
    depth, mask = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="unknown depth mode 'metric'; valid: view, world"):
        view_depth(depth, mask, mode="metric")
    with pytest.raises(ValueError, match="needs depth_range"):
        view_depth(depth, mask, mode="world")
    for bad in ((2.0, 1.0), (1.0, 1.0), (-1.0, 2.0), (0.0, math.inf), (1.0,), "near"):
        with pytest.raises(ValueError, match="depth_range must be"):
            view_depth(depth, mask, mode="world", depth_range=bad)
    with pytest.raises(ValueError, match="only used by mode 'world'"):
        view_depth(depth, mask, depth_range=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"depth must be \[B, 1, H, W\]"):
        view_depth(torch.ones(1, 4, 4), torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="mask must have depth's shape"):
        view_depth(depth, torch.ones(1, 1, 2, 2))
