"""The quality evaluator: scale-free VGG19 distances with known values on constructed inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restyle.eval.evaluator import Evaluator
from restyle.io.images import load_image, resize_long_side


@pytest.fixture(scope="module")
def images(assets: Path) -> tuple[torch.Tensor, torch.Tensor]:
    cat = resize_long_side(load_image(assets / "content" / "cc0_chelsea_cat.png"), 96)[None]
    wave = resize_long_side(load_image(assets / "styles" / "hokusai_great_wave.jpg"), 96)[None]
    return cat, wave


@pytest.fixture(scope="module")
def evaluator(images: tuple[torch.Tensor, torch.Tensor]) -> Evaluator:
    return Evaluator([images[1]])


def test_the_style_itself_is_at_distance_zero(evaluator: Evaluator, images) -> None:
    distances = evaluator.distances(images[1])
    assert distances.gram == pytest.approx(0.0, abs=1e-5)
    assert distances.nnfm == pytest.approx(0.0, abs=1e-5)
    assert distances.content is None


def test_content_distance_is_relative_feature_error(evaluator: Evaluator, images) -> None:
    cat = images[0]
    assert evaluator.distances(cat, cat).content == 0.0
    near = evaluator.distances((cat + 0.02 * torch.randn_like(cat)).clamp(0, 1), cat).content
    far = evaluator.distances(torch.rand_like(cat), cat).content
    assert 0.0 < near < 0.5 < far


def test_a_photo_is_farther_from_the_style_than_a_crop_of_the_style(evaluator: Evaluator, images) -> None:
    cat, wave = images
    crop = wave[..., : wave.shape[-2] // 2 * 2, : wave.shape[-1] // 2]
    assert evaluator.distances(crop).gram < evaluator.distances(cat).gram
    assert evaluator.distances(crop).nnfm < evaluator.distances(cat).nnfm


def test_a_mask_measures_only_the_pixels_it_covers(evaluator: Evaluator, images) -> None:
    height, width = 64, 128
    half = width // 2
    wave, cat = (torch.nn.functional.interpolate(x, size=(height, half), mode="area") for x in (images[1], images[0]))
    collage = torch.cat([wave, cat], dim=-1)
    left, right = torch.zeros(1, 1, height, width), torch.zeros(1, 1, height, width)
    left[..., :half], right[..., half:] = 1.0, 1.0
    assert evaluator.distances(collage, mask=left).gram < 0.5 * evaluator.distances(collage, mask=right).gram
    everything = evaluator.distances(collage, mask=torch.ones(1, 1, height, width))
    assert everything.gram == pytest.approx(evaluator.distances(collage).gram, rel=1e-5)


def test_content_features_taken_once_give_the_same_distances(evaluator: Evaluator, images) -> None:
    """A run's check measures against its references' features taken once, in one pass over its renders."""
    cat, _ = images
    moved = (cat + 0.05 * torch.randn_like(cat)).clamp(0, 1)
    mask = torch.ones(1, 1, *cat.shape[-2:])
    mask[..., :10] = 0.0
    once = evaluator.measure(moved, evaluator.content_features(cat), mask)
    assert once == evaluator.distances(moved, cat, mask)


def test_without_style_images_only_the_content_is_measured(evaluator: Evaluator, images) -> None:
    cat, _ = images
    textual = Evaluator([], net=evaluator.net)  # a text-driven run has no style image to measure against
    distances = textual.distances(cat.flip(-1), cat)
    assert distances.gram is None and distances.nnfm is None
    assert distances.content == evaluator.distances(cat.flip(-1), cat).content > 0
