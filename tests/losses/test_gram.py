"""Gram matrix and Gram loss: known values, masking (uniform, resized, all-zero), gradients, bad inputs."""

from __future__ import annotations

import pytest
import torch

from restyle.losses.gram import (
    GramLoss,
    RelativeGramLoss,
    gram_loss,
    gram_matrix,
    relative_gram_loss,
    resize_mask,
)


def test_known_value_and_shape() -> None:
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # [1, 2, 1, 2]
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2.0
    torch.testing.assert_close(gram_matrix(features), expected)
    assert gram_matrix(torch.randn(3, 5, 4, 6)).shape == (3, 5, 5)


def test_invariant_to_spatial_permutation() -> None:
    features = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    permutation = torch.randperm(30)
    shuffled = features.flatten(2)[..., permutation].reshape(2, 4, 5, 6)
    torch.testing.assert_close(gram_matrix(shuffled), gram_matrix(features))


@pytest.mark.parametrize("mask_size", [(5, 6), (10, 12), (3, 3)])
def test_uniform_mask_equals_unmasked(mask_size: tuple[int, int]) -> None:
    features = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    mask = torch.full((2, 1, *mask_size), 0.3, dtype=torch.float64)
    torch.testing.assert_close(gram_matrix(features, mask), gram_matrix(features))


def test_binary_mask_selects_positions_also_when_resized_by_area() -> None:
    features = torch.randn(1, 3, 4, 6, dtype=torch.float64)
    left_half = gram_matrix(features[..., :3])
    mask = torch.zeros(1, 1, 4, 6, dtype=torch.float64)
    mask[..., :3] = 1.0
    torch.testing.assert_close(gram_matrix(features, mask), left_half)
    fine_mask = torch.zeros(1, 1, 8, 12, dtype=torch.float64)  # twice the resolution, area-downsampled
    fine_mask[..., :6] = 1.0
    torch.testing.assert_close(gram_matrix(features, fine_mask), left_half)


def test_resize_mask_modes() -> None:
    fine = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])
    assert resize_mask(fine, (1, 1)).item() == pytest.approx(0.75)  # area: coverage fraction
    assert resize_mask(fine, (2, 2)) is fine
    assert resize_mask(fine, (4, 4)).shape == (1, 1, 4, 4)


def test_mask_batch_broadcast_and_all_zero_mask() -> None:
    features = torch.randn(3, 2, 4, 4)
    mask = torch.rand(1, 1, 4, 4)
    torch.testing.assert_close(gram_matrix(features, mask), gram_matrix(features, mask.expand(3, 1, 4, 4)))
    zero = gram_matrix(features, torch.zeros(3, 1, 4, 4))
    assert torch.count_nonzero(zero) == 0


def test_gram_loss_values() -> None:
    features = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    own = gram_matrix(features)
    assert gram_loss(features, own).item() == pytest.approx(0.0, abs=1e-15)
    torch.testing.assert_close(gram_loss(features, torch.zeros(3, 3, dtype=torch.float64)), own.pow(2).mean())
    torch.testing.assert_close(gram_loss(features, own[:1]), (own - own[:1]).pow(2).mean())
    torch.testing.assert_close(GramLoss()(features, own[0]), gram_loss(features, own[0]))


def test_gradcheck() -> None:
    features = torch.randn(2, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 1, 4, 6, dtype=torch.float64, requires_grad=True)  # area-resized inside
    target = torch.randn(2, 2, dtype=torch.float64)
    assert torch.autograd.gradcheck(gram_matrix, (features, mask))
    assert torch.autograd.gradcheck(lambda f, m: gram_loss(f, target, m), (features, mask))


@pytest.mark.parametrize(
    ("features", "mask", "message"),
    [
        (torch.randn(3, 4, 5), None, r"\[B, C, H, W\]"),
        (torch.ones(1, 2, 3, 3, dtype=torch.long), None, "float"),
        (torch.randn(2, 3, 4, 4), torch.ones(2, 3, 4, 4), r"mask must be \[B, 1, H, W\]"),
        (torch.randn(2, 3, 4, 4), torch.ones(3, 1, 4, 4), "mask batch"),
        (torch.randn(2, 3, 4, 4), -torch.ones(2, 1, 4, 4), ">= 0"),
    ],
)
def test_bad_inputs_raise(features: torch.Tensor, mask: torch.Tensor | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gram_matrix(features, mask)


@pytest.mark.parametrize("loss", [gram_loss, relative_gram_loss])
@pytest.mark.parametrize(("target", "message"), [(torch.ones(4, 4), "C=3"), (torch.ones(5, 3, 3), "batch")])
def test_bad_target_raises(loss, target: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loss(torch.randn(2, 3, 4, 4), target)


def test_relative_gram_loss_known_values() -> None:
    style = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    target = gram_matrix(style)[0]
    assert relative_gram_loss(style, target).item() == pytest.approx(0.0, abs=1e-15)
    assert relative_gram_loss(torch.zeros_like(style), target).item() == pytest.approx(1.0)
    assert relative_gram_loss(2.0 * style, target).item() == pytest.approx(9.0)  # G = 4T: |3T|^2 / |T|^2
    torch.testing.assert_close(relative_gram_loss(style.flip(-1) + 1.0, target),
                               gram_loss(style.flip(-1) + 1.0, target) / target.pow(2).mean())
    torch.testing.assert_close(RelativeGramLoss()(style + 1.0, target), relative_gram_loss(style + 1.0, target))


def test_relative_gram_loss_weighs_layers_alike_whatever_their_scale() -> None:
    """Layers whose activations differ by orders of magnitude start at the same loss (the plain loss does not)."""
    image, style = torch.rand(2, 1, 8, 4, 4, dtype=torch.float64)
    layers = [(image * scale, gram_matrix(style * scale)[0]) for scale in (1e-2, 1.0, 1e3)]
    relative = [relative_gram_loss(f, t).item() for f, t in layers]
    plain = [gram_loss(f, t).item() for f, t in layers]
    assert relative == pytest.approx([relative[0]] * 3)
    assert plain[2] / plain[0] == pytest.approx(1e20)


def test_relative_gram_loss_normalises_each_view_by_its_own_target() -> None:
    features = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    targets = torch.stack([gram_matrix(torch.rand(1, 3, 4, 4, dtype=torch.float64))[0] * s for s in (1.0, 1e4)])
    per_view = [relative_gram_loss(features[i : i + 1], targets[i]) for i in range(2)]
    torch.testing.assert_close(relative_gram_loss(features, targets), torch.stack(per_view).mean())
    mask = torch.full((2, 1, 4, 4), 0.5, dtype=torch.float64)
    torch.testing.assert_close(relative_gram_loss(features, targets, mask), relative_gram_loss(features, targets))


def test_relative_gram_loss_gradcheck() -> None:
    features = torch.randn(2, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 1, 4, 6, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f, m: relative_gram_loss(f, target, m), (features, mask))
