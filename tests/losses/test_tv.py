"""Total variation: constants, ramps, degenerate sizes, gradients, bad inputs."""

from __future__ import annotations

import pytest
import torch

from restyle.losses.tv import TVLoss, tv_loss


@pytest.mark.parametrize("squared", [True, False])
def test_constant_image_gives_zero(squared: bool) -> None:
    assert tv_loss(torch.full((2, 3, 5, 7), 0.4), squared=squared).item() == 0.0


def test_ramp_known_values() -> None:
    step = 0.1
    horizontal_ramp = (torch.arange(6, dtype=torch.float64) * step).expand(2, 3, 4, 6)
    assert tv_loss(horizontal_ramp).item() == pytest.approx(step**2)
    assert tv_loss(horizontal_ramp, squared=False).item() == pytest.approx(step)
    vertical_ramp = horizontal_ramp.transpose(-1, -2)
    assert tv_loss(vertical_ramp).item() == pytest.approx(step**2)
    diagonal_ramp = horizontal_ramp[..., :4, :4] + vertical_ramp[..., :4, :4]
    assert tv_loss(diagonal_ramp).item() == pytest.approx(2 * step**2)


def test_single_pixel_and_single_row() -> None:
    assert tv_loss(torch.rand(1, 3, 1, 1)).item() == 0.0
    row = torch.tensor([[[[0.0, 1.0, 3.0]]]])
    assert tv_loss(row).item() == pytest.approx((1.0 + 4.0) / 2.0)


def test_module() -> None:
    images = torch.rand(2, 3, 4, 4)
    assert TVLoss(squared=False)(images).item() == pytest.approx(tv_loss(images, squared=False).item())


@pytest.mark.parametrize("squared", [True, False])
def test_gradcheck(squared: bool) -> None:
    images = torch.rand(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: tv_loss(x, squared=squared), (images,))


@pytest.mark.parametrize("images", [torch.rand(3, 4, 4), torch.ones(1, 3, 4, 4, dtype=torch.long)])
def test_bad_inputs_raise(images: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        tv_loss(images)
