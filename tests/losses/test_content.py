"""Content loss: known values, masks, broadcasting, gradients, bad inputs."""

from __future__ import annotations

import pytest
import torch

from restyle.losses.content import ContentLoss, ScaledContentLoss, content_loss, scaled_content_loss


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


# ------------------------------------------------------------------------- the depth-aware report's scaled form


def test_scaled_content_known_value_and_uniform_gamma() -> None:
    features = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    target = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64).reshape(1, 2, 2, 2)
    gamma = torch.tensor([1.0, 0.5, 0.0, 2.0], dtype=torch.float64).reshape(1, 1, 2, 2)
    # (1*1)^2 + (0.5*2)^2 + (0*3)^2 + (2*4)^2 = 1 + 1 + 0 + 64, over 8 entries
    assert scaled_content_loss(features, target, gamma).item() == pytest.approx(66.0 / 8.0)
    # unlike the weighted mean, a uniform γ scales the loss by γ² (nothing renormalises)
    uniform = torch.full((1, 1, 2, 2), 0.8, dtype=torch.float64)
    assert scaled_content_loss(features, target, uniform).item() == pytest.approx(0.64 * 30.0 / 8.0)
    torch.testing.assert_close(scaled_content_loss(features, target, torch.ones_like(uniform)),
                               content_loss(features, target))
    torch.testing.assert_close(ScaledContentLoss()(features, target, gamma),
                               scaled_content_loss(features, target, gamma))


def test_scaled_content_zero_gamma_sends_no_gradient_there() -> None:
    features = torch.randn(1, 3, 4, 4, requires_grad=True)
    gamma = torch.ones(1, 1, 4, 4)
    gamma[..., :, :2] = 0.0
    scaled_content_loss(features, torch.randn(1, 3, 4, 4), gamma).backward()
    assert features.grad[..., :2].abs().max() == 0 and features.grad[..., 2:].abs().min() > 0


def test_scaled_content_gradcheck_and_gamma_resize() -> None:
    features = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    gamma = torch.rand(1, 1, 6, 6, dtype=torch.float64)  # area-resized to 3 x 3
    assert torch.autograd.gradcheck(lambda f: scaled_content_loss(f, target, gamma), (features,))
    with pytest.raises(ValueError, match="mask values must be >= 0"):
        scaled_content_loss(features, target, -gamma)
