"""Depth loss: known values, broadcasting, gradients, bad inputs."""

from __future__ import annotations

import pytest
import torch

from restyle.losses.depth import DepthLoss, depth_loss


def test_known_value() -> None:
    output = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    content = torch.tensor([[1.0, 0.0], [3.0, 7.0]]).view(1, 1, 2, 2)
    # differences 0, 2, 0, -3 -> (0 + 4 + 0 + 9) / (H W = 4)
    assert depth_loss(output, content).item() == pytest.approx(13 / 4)


def test_batch_mean_of_per_image_values() -> None:
    content = torch.zeros(2, 1, 2, 3)
    output = torch.cat([torch.ones(1, 1, 2, 3), torch.full((1, 1, 2, 3), 3.0)])
    assert depth_loss(output, content).item() == pytest.approx((1.0 + 9.0) / 2)


def test_zero_for_identical_depths() -> None:
    depth = torch.rand(2, 1, 5, 7)
    loss = depth_loss(depth, depth.clone())
    assert loss.ndim == 0 and loss.item() == 0.0


def test_gradient_is_nonzero_when_depths_differ() -> None:
    output = torch.rand(2, 1, 6, 6, requires_grad=True)
    depth_loss(output, torch.rand(2, 1, 6, 6)).backward()
    assert output.grad is not None and output.grad.abs().sum() > 0


def test_gradcheck_float64() -> None:
    output = torch.rand(2, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    content = torch.rand(1, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(depth_loss, (output, content))


def test_batch_one_content_is_broadcast() -> None:
    output = torch.rand(3, 1, 4, 5)
    content = torch.rand(1, 1, 4, 5)
    expected = depth_loss(output, content.expand(3, 1, 4, 5).contiguous())
    torch.testing.assert_close(depth_loss(output, content), expected)


def test_module_matches_function() -> None:
    output, content = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(DepthLoss()(output, content), depth_loss(output, content))


@pytest.mark.parametrize(
    ("output_shape", "content_shape"),
    [
        ((2, 1, 4, 4), (2, 1, 4, 5)),  # spatial size
        ((2, 1, 4, 4), (3, 1, 4, 4)),  # batch neither B nor 1
        ((2, 3, 4, 4), (2, 3, 4, 4)),  # channels
        ((1, 4, 4), (1, 4, 4)),  # no channel axis
    ],
)
def test_bad_shapes_raise_with_the_shapes(output_shape: tuple[int, ...], content_shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]|does not match") as caught:
        depth_loss(torch.rand(output_shape), torch.rand(content_shape))
    assert str(tuple(output_shape)) in str(caught.value) or str(tuple(content_shape)) in str(caught.value)


def test_non_float_raises() -> None:
    with pytest.raises(ValueError, match="float"):
        depth_loss(torch.ones(1, 1, 2, 2, dtype=torch.int64), torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="float"):
        depth_loss(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bool))
