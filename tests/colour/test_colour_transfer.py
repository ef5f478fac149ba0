"""Colour control (Gatys et al. 2016): colour statistics matching, luminance extraction and recombination."""

from __future__ import annotations

import pytest
import torch
from kornia.color import rgb_to_yuv

from restyle.colour.transfer import (
    luminance,
    luminance_as_rgb,
    match_colour_statistics,
    match_luminance_statistics,
    recombine_luminance,
)


def _stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean [3] and population covariance [3, 3] of [..., 3, H, W], in float64."""
    pixels = image.movedim(-3, 0).reshape(3, -1).double()
    centred = pixels - pixels.mean(dim=1, keepdim=True)
    return pixels.mean(dim=1), centred @ centred.T / pixels.shape[1]


def _tinted(generator: torch.Generator, shape: tuple[int, ...], gain: list[float], offset: list[float]):
    """Random colours with correlated channels, so the covariance has off-diagonal terms."""
    base = torch.rand(shape, generator=generator)
    mixed = base + 0.5 * base.roll(1, dims=-3)
    return mixed * torch.tensor(gain).reshape(3, 1, 1) + torch.tensor(offset).reshape(3, 1, 1)


def test_matched_style_has_the_contents_mean_and_covariance() -> None:
    generator = torch.Generator().manual_seed(0)
    style = _tinted(generator, (1, 3, 40, 56), [0.6, 0.2, 0.3], [0.1, 0.4, 0.0])  # a different size on purpose
    content = _tinted(generator, (1, 3, 32, 32), [0.2, 0.5, 0.1], [0.3, 0.0, 0.5])

    matched = match_colour_statistics(style, content)

    assert matched.shape == style.shape and matched.dtype == style.dtype
    mean, covariance = _stats(matched)
    content_mean, content_covariance = _stats(content)
    assert torch.allclose(mean, content_mean, atol=1e-4)
    assert torch.allclose(covariance, content_covariance, atol=1e-4)
    assert not torch.allclose(_stats(style)[1], content_covariance, atol=1e-2)  # the test is not vacuous


def test_matching_an_image_to_itself_changes_nothing_and_keeps_3d_inputs_3d() -> None:
    image = _tinted(torch.Generator().manual_seed(1), (3, 24, 20), [0.5, 0.4, 0.3], [0.1, 0.1, 0.1])
    matched = match_colour_statistics(image, image)
    assert matched.shape == (3, 24, 20)
    assert torch.allclose(matched, image, atol=1e-5)


def test_matching_a_flat_style_stays_finite() -> None:
    flat = torch.full((3, 16, 16), 0.5)  # zero covariance: the inverse square root must not blow up
    content = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))
    matched = match_colour_statistics(flat, content)
    assert torch.isfinite(matched).all()
    assert torch.allclose(_stats(matched)[0], _stats(content)[0], atol=1e-4)


def test_luminance_is_rec601_luma_and_grey_copies_have_the_same_luminance() -> None:
    image = torch.tensor([1.0, 0.0, 0.0]).reshape(3, 1, 1).expand(3, 2, 2)
    assert torch.allclose(luminance(image), torch.full((1, 2, 2), 0.299), atol=1e-6)
    colourful = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    grey = luminance_as_rgb(colourful)
    assert grey.shape == colourful.shape
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert torch.allclose(luminance(grey), luminance(colourful), atol=1e-6)


def test_recombination_keeps_the_contents_chroma_and_the_outputs_luminance() -> None:
    generator = torch.Generator().manual_seed(4)
    output = 0.25 + 0.5 * torch.rand(1, 3, 12, 10, generator=generator)
    content = 0.25 + 0.5 * torch.rand(1, 3, 12, 10, generator=generator)

    combined = recombine_luminance(output, content)

    assert torch.allclose(luminance(combined), luminance(output), atol=1e-6)
    assert torch.allclose(rgb_to_yuv(combined)[:, 1:], rgb_to_yuv(content)[:, 1:], atol=1e-6)
    assert torch.allclose(recombine_luminance(content, content), content, atol=1e-6)


def test_luminance_statistics_matching_takes_the_references_mean_and_deviation() -> None:
    generator = torch.Generator().manual_seed(5)
    style = 0.8 * torch.rand(1, 3, 20, 20, generator=generator)
    content = 0.3 + 0.2 * torch.rand(1, 3, 16, 24, generator=generator)
    matched = match_luminance_statistics(style, content)
    assert matched.shape == style.shape
    assert torch.equal(matched[:, 0], matched[:, 2])  # grey
    assert torch.allclose(matched[:, 0].mean(), luminance(content).mean(), atol=1e-5)
    assert torch.allclose(matched[:, 0].std(unbiased=False), luminance(content).std(unbiased=False), atol=1e-5)


def test_bad_shapes_are_value_errors() -> None:
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        match_colour_statistics(torch.rand(4, 8, 8), torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="shapes differ"):
        recombine_luminance(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
