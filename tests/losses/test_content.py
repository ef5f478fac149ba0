"""Content loss: known values, masks, broadcasting, gradients, bad inputs."""

from __future__ import annotations

import pytest
import torch

from restyle.losses.content import ContentLoss, content_loss


def test_identical_features_give_zero() -> None:
    features = torch.randn(2, 3, 4, 5)
    assert content_loss(features, features.clone()).item() == 0.0


def test_known_value() -> None:
    features = torch.zeros(1, 2, 2, 2)
    target = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]).reshape(1, 2, 2, 2)
    assert content_loss(features, target).item() == pytest.approx(30.0 / 8.0)


def test_mask_weighting() -> None:
    features = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    target = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    ones = torch.ones(2, 1, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(content_loss(features, target, ones), content_loss(features, target))
    top = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    top[..., :2, :] = 1.0
    torch.testing.assert_close(content_loss(features, target, top), (features - target)[..., :2, :].pow(2).mean())
    fine_top = torch.zeros(2, 1, 8, 8, dtype=torch.float64)  # resized by area to the features
    fine_top[..., :4, :] = 1.0
    torch.testing.assert_close(content_loss(features, target, fine_top), content_loss(features, target, top))
    assert content_loss(features, target, torch.zeros_like(ones)).item() == 0.0


def test_target_batch_broadcast_and_module() -> None:
    features = torch.randn(3, 2, 4, 4)
    target = torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(content_loss(features, target), content_loss(features, target.expand(3, 2, 4, 4)))
    torch.testing.assert_close(ContentLoss()(features, target), content_loss(features, target))


def test_gradcheck() -> None:
    features = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(content_loss, (features, target, mask))


@pytest.mark.parametrize(
    ("features", "target", "mask", "message"),
    [
        (torch.randn(2, 3, 4), torch.randn(2, 3, 4), None, r"\[B, C, H, W\]"),
        (torch.randn(2, 3, 4, 4), torch.randn(2, 4, 4, 4), None, "does not match"),
        (torch.randn(2, 3, 4, 4), torch.randn(3, 3, 4, 4), None, "does not match"),
        (torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4), torch.ones(2, 4, 4), r"mask must be"),
    ],
)
def test_bad_inputs_raise(
    features: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        content_loss(features, target, mask)
