"""The sums that decide a result stay float32 when the networks run in bf16: Gram matrices, NNFM's nearest
neighbours and distances, and the content MSE widen bf16 features and turn autocast off inside, so that calling
them within an autocast region (or on bf16 features) gives the float32 result of the same features."""

from __future__ import annotations

import pytest
import torch

from restyle.losses.content import content_loss, scaled_content_loss
from restyle.losses.gram import gram_loss, gram_matrix, relative_gram_loss
from restyle.losses.nnfm import flatten_maps, nearest_style_indices, nnfm_loss

GEN = torch.Generator().manual_seed(11)
FEATURES = torch.rand(2, 16, 12, 10, generator=GEN).to(torch.bfloat16)  # what a bf16 network hands over
TARGET = torch.rand(2, 16, 12, 10, generator=GEN)
STYLE = torch.rand(300, 16, generator=GEN)
MASK = torch.rand(2, 1, 24, 20, generator=GEN)


def _in_bf16_autocast(loss, *args, **kwargs) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return loss(*args, **kwargs)


def test_a_gram_matrix_of_bf16_features_within_autocast_is_the_float32_one() -> None:
    gram = _in_bf16_autocast(gram_matrix, FEATURES, MASK)
    assert gram.dtype == torch.float32
    assert torch.equal(gram, gram_matrix(FEATURES.float(), MASK))
    # without the guard autocast would round the product itself to bf16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        flat = FEATURES.float().flatten(2)
        assert (flat @ flat.transpose(1, 2)).dtype == torch.bfloat16


@pytest.mark.parametrize("loss", [gram_loss, relative_gram_loss])
def test_gram_losses_are_float32_within_autocast(loss) -> None:
    target = gram_matrix(TARGET)[0]
    value = _in_bf16_autocast(loss, FEATURES, target)
    assert value.dtype == torch.float32 and torch.equal(value, loss(FEATURES.float(), target))


def test_nnfm_matching_and_distance_are_float32_within_autocast() -> None:
    vectors = flatten_maps(FEATURES)
    indices = _in_bf16_autocast(nearest_style_indices, vectors, STYLE, chunk_size=64)
    assert torch.equal(indices, nearest_style_indices(vectors.float(), STYLE, chunk_size=64))
    value = _in_bf16_autocast(nnfm_loss, vectors, STYLE, chunk_size=64)
    assert value.dtype == torch.float32 and torch.equal(value, nnfm_loss(vectors.float(), STYLE, chunk_size=64))


def test_content_losses_are_float32_within_autocast() -> None:
    value = _in_bf16_autocast(content_loss, FEATURES, TARGET, MASK)
    assert value.dtype == torch.float32 and torch.equal(value, content_loss(FEATURES.float(), TARGET, MASK))
    scaled = _in_bf16_autocast(scaled_content_loss, FEATURES, TARGET, MASK)
    assert scaled.dtype == torch.float32


def test_gradients_flow_back_to_bf16_features_in_their_dtype() -> None:
    features = FEATURES.clone().requires_grad_(True)
    _in_bf16_autocast(gram_loss, features, gram_matrix(TARGET)[0]).backward()
    assert features.grad is not None and features.grad.dtype == torch.bfloat16


def test_float64_is_left_alone_for_gradchecks() -> None:
    features = TARGET.double()
    assert gram_matrix(features).dtype == torch.float64
    assert nnfm_loss(flatten_maps(features), STYLE.double()).dtype == torch.float64
