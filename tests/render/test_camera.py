from __future__ import annotations

import math

import torch

from restyle.render.camera import Cameras


def _cameras() -> Cameras:
    eye = torch.tensor([[0.0, 0.0, 3.0], [2.0, 1.0, -1.0], [0.0, 5.0, 0.0]])  # the last one looks straight down
    return Cameras.look_at(eye, [0.0, 0.0, 0.0], fov_y=math.radians(50), width=8, height=6)


def test_look_at_is_rigid_and_maps_eye_to_origin() -> None:
    cameras = _cameras()
    rotation = cameras.rotation
    assert torch.allclose(rotation @ rotation.transpose(1, 2), torch.eye(3).expand(3, 3, 3), atol=1e-6)
    assert torch.allclose(torch.linalg.det(rotation), torch.ones(3), atol=1e-6)
    assert torch.allclose(cameras.view_points(cameras.eye[:, None, :]), torch.zeros(3, 1, 3), atol=1e-5)


def test_target_lies_on_the_negative_view_axis() -> None:
    cameras = _cameras()
    target = cameras.view_points(torch.zeros(1, 3))[:, 0]
    distance = cameras.eye.norm(dim=1)
    assert torch.allclose(target, torch.stack((0 * distance, 0 * distance, -distance), dim=1), atol=1e-5)


def test_up_stays_up() -> None:
    cameras = Cameras.look_at([0.0, 0.0, 3.0], [0.0, 0.0, 0.0])
    assert torch.allclose(cameras.rotation[0], torch.eye(3), atol=1e-6)


def test_pixel_directions_have_unit_depth_and_hit_pixel_centres() -> None:
    cameras = _cameras()
    directions = cameras.pixel_directions()
    assert directions.shape == (3, 6, 8, 3)
    view = torch.einsum("bij,bhwj->bhwi", cameras.rotation, directions)
    assert torch.allclose(view[..., 2], -torch.ones(3, 6, 8), atol=1e-5)
    # projecting the point one unit along each ray lands on that pixel's centre
    points = cameras.eye[:, None, :] + directions.reshape(3, -1, 3)
    pixels, depth = cameras.project_to_pixels(points)
    rows, cols = torch.meshgrid(torch.arange(6) + 0.5, torch.arange(8) + 0.5, indexing="ij")
    expected = torch.stack((cols, rows), dim=-1).reshape(1, -1, 2).expand(3, -1, -1)
    assert torch.allclose(pixels, expected, atol=1e-4)
    assert torch.allclose(depth, torch.ones_like(depth), atol=1e-5)


def test_row_zero_is_the_top_of_the_image() -> None:
    cameras = Cameras.look_at([0.0, 0.0, 3.0], [0.0, 0.0, 0.0], width=4, height=4)
    directions = cameras.pixel_directions()[0]
    assert directions[0, 0, 1] > 0 > directions[-1, 0, 1]  # top row looks up (+y)
    assert directions[0, 0, 0] < 0 < directions[0, -1, 0]  # left column looks left (-x)


def test_pixel_footprint_is_the_derivative_of_pixel_directions() -> None:
    cameras = _cameras()
    directions = cameras.pixel_directions()
    step_x, step_y = cameras.pixel_footprint()
    assert torch.allclose(directions[:, :, 1:] - directions[:, :, :-1], step_x[:, None, None, :], atol=1e-5)
    assert torch.allclose(directions[:, 1:] - directions[:, :-1], step_y[:, None, None, :], atol=1e-5)


def test_projection_matches_project_to_pixels() -> None:
    cameras = _cameras()
    points = torch.tensor([[0.1, 0.2, 0.3], [-0.4, 0.1, 0.2]])
    near, far = torch.full((3,), 0.1), torch.full((3,), 20.0)
    homogeneous = torch.cat((points, torch.ones(2, 1)), dim=1)
    clip = torch.einsum("vi,bji->bvj", homogeneous, cameras.projection(near, far) @ cameras.world_to_view)
    ndc = clip[..., :3] / clip[..., 3:]
    pixels, _ = cameras.project_to_pixels(points)
    assert torch.allclose((ndc[..., 0] + 1) / 2 * 8, pixels[..., 0], atol=1e-4)
    assert torch.allclose((1 - ndc[..., 1]) / 2 * 6, pixels[..., 1], atol=1e-4)
    assert torch.all(ndc[..., 2].abs() < 1)


def test_select_and_resized() -> None:
    cameras = _cameras()
    subset = cameras.select([2, 0])
    assert torch.equal(subset.eye, cameras.eye[[2, 0]]) and subset.batch_size == 2
    bigger = cameras.resized(16, 12)
    assert (bigger.width, bigger.height) == (16, 12) and torch.equal(bigger.fov_y, cameras.fov_y)


def test_roll_turns_the_camera_about_its_view_axis() -> None:
    upright = Cameras.look_at([0.0, 0.0, 3.0], [0.0, 0.0, 0.0])
    rolled = Cameras.look_at([0.0, 0.0, 3.0], [0.0, 0.0, 0.0], roll=torch.tensor([math.pi / 2]))
    # a quarter turn counter-clockwise: the camera's right axis points along the world's up
    assert torch.allclose(rolled.rotation[0, 0], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(rolled.rotation[0, 2], upright.rotation[0, 2])  # same view axis
    assert torch.allclose(torch.linalg.det(rolled.rotation), torch.ones(1), atol=1e-6)
    pixels, _ = rolled.project_to_pixels(torch.tensor([[0.0, 1.0, 0.0]]))
    assert pixels[0, 0, 0] > rolled.width / 2  # what is up in the world is on the right of the image


def test_moved_cameras_keep_their_orientation_and_see_moved_points_where_they_were() -> None:
    cameras = _cameras()
    offset = torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.5, 0.0], [-0.4, 0.0, 0.2]])
    moved = cameras.moved(offset)
    assert torch.equal(moved.rotation, cameras.rotation) and torch.allclose(moved.eye, cameras.eye + offset)
    point = torch.tensor([[0.1, 0.2, -0.3]])
    before, depth_before = cameras.project_to_pixels(point)
    after, depth_after = moved.project_to_pixels(point + offset[:, None, :])
    assert torch.allclose(before, after, atol=1e-4) and torch.allclose(depth_before, depth_after, atol=1e-5)
