"""NNFM loss: known values, per-view matching, chunking, smoothing, gradients, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from restyle.losses.nnfm import (
    NNFMLoss,
    flatten_maps,
    nearest_style_indices,
    nnfm_loss,
    nnfm_loss_reference,
    smooth_features,
)


def _cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 1.0 - F.cosine_similarity(a, b, dim=-1)


def test_flatten_maps_layout() -> None:
    maps = torch.randn(2, 5, 3, 4)
    flat = flatten_maps(maps)
    assert flat.shape == (2, 12, 5)
    assert torch.equal(flat[1, 2 * 4 + 3], maps[1, :, 2, 3])


def test_identical_sets_give_zero() -> None:
    features = torch.randn(1, 20, 6, dtype=torch.float64)
    assert nnfm_loss(features, features[0]).item() == pytest.approx(0.0, abs=1e-12)


def test_single_style_vector_is_mean_cosine_distance() -> None:
    features = torch.randn(2, 7, 5, dtype=torch.float64)
    style = torch.randn(1, 5, dtype=torch.float64)
    expected = _cosine_distance(features, style.expand_as(features)).mean()
    torch.testing.assert_close(nnfm_loss(features, style), expected)


def test_hand_computed_case() -> None:
    features = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, -2.0]]], dtype=torch.float64)
    style = torch.tensor([[1.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    assert nearest_style_indices(features, style).tolist() == [[0, 0, 1]]
    expected = 2.0 * (1.0 - 1.0 / math.sqrt(2.0)) / 3.0
    assert nnfm_loss(features, style).item() == pytest.approx(expected, abs=1e-12)


def test_loss_ignores_vector_magnitudes() -> None:
    features = torch.randn(1, 10, 4, dtype=torch.float64)
    style = torch.randn(6, 4, dtype=torch.float64)
    scales = torch.rand(1, 10, 1, dtype=torch.float64) * 100 + 0.01
    torch.testing.assert_close(nnfm_loss(features * scales, style * 3.0), nnfm_loss(features, style))


def test_every_view_is_matched_against_the_whole_style_set() -> None:
    # Two style images of two vectors each; view 0 looks like style image 1 and view 1 like style image 0.
    style_images = [torch.randn(2, 4, dtype=torch.float64) for _ in range(2)]
    style = torch.cat(style_images)
    features = torch.stack([style_images[1], style_images[0]])  # [B=2, N=2, C=4]

    assert nearest_style_indices(features, style).tolist() == [[2, 3], [0, 1]]
    assert nnfm_loss(features, style).item() == pytest.approx(0.0, abs=1e-12)
    # The seed code matched view b against style image b only; that would score these views as far apart.
    sliced = torch.stack([nnfm_loss(features[b : b + 1], style_images[b]) for b in range(2)]).mean()
    assert sliced.item() > 0.05


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 16, 4096])
def test_chunked_equals_full_matrix_reference(chunk_size: int) -> None:
    # 3 * 13 = 39 targets and 11 style vectors: most chunk sizes do not divide either count
    features = torch.randn(3, 13, 8, dtype=torch.float64, requires_grad=True)
    style = torch.randn(11, 8, dtype=torch.float64)
    weights = torch.rand(3, 13, dtype=torch.float64)

    full_distances = 1.0 - F.normalize(features.detach(), dim=-1) @ F.normalize(style, dim=-1).T
    assert torch.equal(nearest_style_indices(features, style, chunk_size=chunk_size), full_distances.argmin(-1))

    for w in (None, weights):
        chunked = nnfm_loss(features, style, weights=w, chunk_size=chunk_size)
        (chunked_grad,) = torch.autograd.grad(chunked, features)
        reference = nnfm_loss_reference(features, style, weights=w)
        (reference_grad,) = torch.autograd.grad(reference, features)
        torch.testing.assert_close(chunked, reference, rtol=0, atol=1e-12)
        torch.testing.assert_close(chunked_grad, reference_grad, rtol=0, atol=1e-12)


def test_ties_resolve_to_the_lowest_index_across_style_chunks() -> None:
    style = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    features = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)
    for chunk_size in (1, 2, 3, 4):
        assert nearest_style_indices(features, style, chunk_size=chunk_size).tolist() == [[1, 0]]


def test_weighted_mean_and_masking() -> None:
    features = torch.randn(2, 6, 3, dtype=torch.float64)
    style = torch.randn(4, 3, dtype=torch.float64)
    nearest = style[nearest_style_indices(features, style)]
    distances = _cosine_distance(features, nearest)
    weights = torch.rand(2, 6, dtype=torch.float64)
    expected = (weights * distances).sum() / weights.sum()
    torch.testing.assert_close(nnfm_loss(features, style, weights=weights), expected)
    torch.testing.assert_close(nnfm_loss(features, style, weights=torch.ones(2, 6)), distances.mean())

    only_first_view = torch.zeros(2, 6, dtype=torch.float64)
    only_first_view[0] = 1.0
    torch.testing.assert_close(nnfm_loss(features, style, weights=only_first_view), distances[0].mean())


def test_all_zero_weights_give_zero_with_finite_gradient() -> None:
    features = torch.randn(1, 5, 3, requires_grad=True)
    loss = nnfm_loss(features, torch.randn(4, 3), weights=torch.zeros(1, 5))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(features.grad).all()
    assert torch.count_nonzero(features.grad) == 0


def test_gradient_flows_through_selected_pairs_only() -> None:
    features = torch.tensor([[[1.0, 0.1], [0.9, 0.2]]], dtype=torch.float64)
    style = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64, requires_grad=True)
    nnfm_loss(features, style).backward()
    assert torch.count_nonzero(style.grad[0]) > 0
    assert torch.count_nonzero(style.grad[1:]) == 0


def _seed_whole_tensor_softmax(maps: torch.Tensor) -> torch.Tensor:
    return torch.softmax(maps.reshape(1, -1), dim=1).reshape(maps.shape)


def _seed_argmin(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The public code's matching: ``[C, N]`` vs ``[C, M]``, normalised with an epsilon of 1e-8."""
    b = b / (((b * b).sum(0, keepdim=True) + 1e-8).sqrt() + 1e-8)
    a = a / (((a * a).sum(0, keepdim=True) + 1e-8).sqrt() + 1e-8)
    return (1.0 - a.T @ b).argmin(1)


def test_smoothing_keeps_the_correct_argmin() -> None:
    target = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, 0.0, 0.3, 1.5], dtype=torch.float64)
    same_direction = target - 3.0  # softmax-smoothed, exactly the target's direction
    peaky = torch.tensor([6.0, -2, -2, -2, -2, -2, -2, 4.0], dtype=torch.float64)
    # Channel-first maps of 4096 positions, as the seed code smoothed them (softmax over all elements).
    target_map = torch.zeros(8, 4096, dtype=torch.float64)
    target_map[:, 0] = target
    style_map = torch.zeros(8, 4096, dtype=torch.float64)
    style_map[:, 0], style_map[:, 1] = same_direction, peaky

    seed_pick = _seed_argmin(_seed_whole_tensor_softmax(target_map)[:, :1], _seed_whole_tensor_softmax(style_map))
    assert seed_pick.item() == 1  # the epsilon swamps the tiny norms: the peaky vector wins on raw dot product

    features, style = target_map.T[None, :1], style_map.T
    assert nearest_style_indices(smooth_features(features), smooth_features(style)).item() == 0
    assert nnfm_loss(features, style, smoothing=1.0).item() == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(nnfm_loss(features, style, smoothing=1.0, chunk_size=5),
                               nnfm_loss_reference(features, style, smoothing=1.0))


def test_smoothing_changes_which_neighbour_is_picked() -> None:
    """Raw, (1, 0.5, 0) is the closer direction to (2, 0, 0); after the softmax over channels, (10, 5, 5) is
    (its smoothed form is almost one-hot on the first channel, like the target's)."""
    features = torch.tensor([[[2.0, 0.0, 0.0]]], dtype=torch.float64)
    style = torch.tensor([[1.0, 0.5, 0.0], [10.0, 5.0, 5.0]], dtype=torch.float64)
    assert nearest_style_indices(features, style).item() == 0
    assert nearest_style_indices(smooth_features(features), smooth_features(style)).item() == 1
    smoothed = smooth_features(features), smooth_features(style)
    expected = 1.0 - F.cosine_similarity(smoothed[0][0], smoothed[1][1:], dim=-1)
    torch.testing.assert_close(nnfm_loss(features, style, smoothing=1.0), expected[0])


def test_smoothing_temperature_changes_the_value() -> None:
    features = torch.randn(1, 8, 4, dtype=torch.float64)
    style = torch.randn(5, 4, dtype=torch.float64)
    sharp = nnfm_loss(features, style, smoothing=0.1)
    soft = nnfm_loss(features, style, smoothing=10.0)
    assert sharp.item() > soft.item() > 0.0


def test_module_matches_function() -> None:
    features, style = torch.randn(2, 9, 4), torch.randn(6, 4)
    weights = torch.rand(2, 9)
    module = NNFMLoss(chunk_size=4, smoothing=0.5)
    expected = nnfm_loss(features, style, weights=weights, chunk_size=4, smoothing=0.5)
    torch.testing.assert_close(module(features, style, weights), expected)
    assert "chunk_size=4" in repr(module)


def test_float32_style_cast_to_features_dtype() -> None:
    features = torch.randn(1, 4, 3, dtype=torch.float64)
    style = torch.randn(5, 3, dtype=torch.float32)
    assert nnfm_loss(features, style).dtype == torch.float64


@pytest.mark.parametrize("smoothing", [None, 0.7])
def test_gradcheck(smoothing: float | None) -> None:
    features = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    style = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)

    def loss(f: torch.Tensor, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return nnfm_loss(f, s, weights=w, chunk_size=2, smoothing=smoothing)

    assert torch.autograd.gradcheck(loss, (features, style, weights))


@pytest.mark.parametrize(
    ("features", "style", "kwargs", "message"),
    [
        (torch.randn(4, 3), torch.randn(2, 3), {}, r"\[B, N, C\]"),
        (torch.randn(1, 4, 3), torch.randn(1, 2, 3), {}, r"\[M, C\]"),
        (torch.randn(1, 4, 3), torch.randn(2, 5), {}, "channel mismatch"),
        (torch.randn(1, 4, 3), torch.randn(0, 3), {}, "at least one"),
        (torch.randn(1, 0, 3), torch.randn(2, 3), {}, "at least one"),
        (torch.ones(1, 4, 3, dtype=torch.long), torch.randn(2, 3), {}, "floating"),
        (torch.randn(1, 4, 3), torch.randn(2, 3), {"weights": torch.ones(4)}, r"weights must be \[B, N\]"),
        (torch.randn(1, 4, 3), torch.randn(2, 3), {"weights": -torch.ones(1, 4)}, ">= 0"),
        (torch.randn(1, 4, 3), torch.randn(2, 3), {"chunk_size": 0}, "chunk_size"),
        (torch.randn(1, 4, 3), torch.randn(2, 3), {"smoothing": 0.0}, "temperature"),
    ],
)
def test_bad_inputs_raise(features: torch.Tensor, style: torch.Tensor, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nnfm_loss(features, style, **kwargs)


def test_flatten_maps_rejects_wrong_ndim() -> None:
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        flatten_maps(torch.randn(3, 4, 5))
