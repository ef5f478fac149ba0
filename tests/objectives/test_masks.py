"""Depth masks γ(d): the spec strings, their values (the report's examples), style arguments with a mask, and
mask images."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restyle.errors import ConfigError, InputError
from restyle.io.images import save_image
from restyle.objectives.masks import depth_mask, load_mask_image, parse_mask, selects_nothing, split_style_spec

DEPTH = torch.linspace(0, 1, 11).reshape(1, 1, 1, 11)


def test_near_and_far_are_the_reports_complementary_sigmoids() -> None:
    far, near = depth_mask(parse_mask("far"), DEPTH), depth_mask(parse_mask("near"), DEPTH)
    torch.testing.assert_close(far, torch.sigmoid(20 * (DEPTH - 0.5)))
    torch.testing.assert_close(near + far, torch.ones_like(DEPTH))
    assert far[..., 0] < 1e-4 and far[..., -1] > 1 - 1e-4 and far[..., 5] == pytest.approx(0.5)


def test_sigmoid_with_a_negative_steepness_is_one_minus_the_sigmoid() -> None:
    # the report's second example, 1 - σ(20(d - 0.8))
    torch.testing.assert_close(depth_mask(parse_mask("sigmoid:0.8:-20"), DEPTH), 1 - torch.sigmoid(20 * (DEPTH - 0.8)))


def test_linear_goes_from_its_near_value_to_its_far_value() -> None:
    gamma = depth_mask(parse_mask("linear:1:0.8"), DEPTH)  # the report's content mask: foreground whole
    assert gamma[..., 0].item() == pytest.approx(1.0) and gamma[..., -1].item() == pytest.approx(0.8)
    torch.testing.assert_close(gamma, 1 - 0.2 * DEPTH)


def test_all_is_ones_and_needs_no_depth() -> None:
    spec = parse_mask("all")
    assert not spec.needs_depth and parse_mask("far").needs_depth and not parse_mask("image:m.png").needs_depth
    assert torch.equal(depth_mask(spec, DEPTH), torch.ones_like(DEPTH))


@pytest.mark.parametrize("text, needle", [
    ("middle", "unknown depth mask 'middle'"),
    ("sigmoid:0.5", "takes two numbers"),
    ("sigmoid:a:b", "takes two numbers"),
    ("linear:1:0.8:3", "takes two numbers"),
    ("sigmoid:nan:20", "must be finite"),
    ("linear:-1:1", "must be >= 0"),
    ("image:", "unknown depth mask"),
])
def test_bad_specs_are_one_line_config_errors(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as error:
        parse_mask(text)
    assert "\n" not in str(error.value)


def test_an_image_spec_cannot_be_computed_from_depth() -> None:
    with pytest.raises(ValueError, match="image mask"):
        depth_mask(parse_mask("image:m.png"), DEPTH)


@pytest.mark.parametrize("argument, expected", [
    ("style.jpg@far", ("style.jpg", "far")),
    ("dir/style.jpg@sigmoid:0.8:-20", ("dir/style.jpg", "sigmoid:0.8:-20")),
    ("a@b/style.jpg", ("a@b/style.jpg", None)),  # an @ that is part of the path
    ("a@b/style.jpg@near", ("a@b/style.jpg", "near")),  # the last @ splits
    ("me@home.png", ("me@home.png", None)),
    ("style.jpg", ("style.jpg", None)),
    ("@far", ("@far", None)),
])
def test_split_style_spec(argument: str, expected: tuple[str, str | None]) -> None:
    assert split_style_spec(argument) == expected


def test_split_style_spec_reports_a_broken_mask() -> None:
    with pytest.raises(ConfigError, match="takes two numbers"):
        split_style_spec("style.jpg@sigmoid:0.5")


def test_mask_image_is_grey_in_0_1_at_the_image_size(tmp_path: Path) -> None:
    image = torch.zeros(3, 20, 40)
    image[:, :, 20:] = 1.0  # right half white
    save_image(image, tmp_path / "mask.png")
    mask = load_mask_image(tmp_path / "mask.png", (10, 20))
    assert mask.shape == (1, 1, 10, 20)
    assert mask[..., :9].max() == 0 and mask[..., 11:].min() == 1


def test_mask_image_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.png: no such file"):
        load_mask_image(tmp_path / "missing.png", (10, 20))
    save_image(torch.zeros(3, 20, 20), tmp_path / "square.png")
    with pytest.raises(InputError, match="square.png: mask is 20×20 but the image is 20×10"):
        load_mask_image(tmp_path / "square.png", (10, 20))


# ------------------------------------------------- a zero mask sends no style gradient, for every masked loss


def _gradient_left_right(loss_of) -> tuple[float, float]:
    """Largest |gradient| of ``loss_of(features)`` on the left half (masked out) and the right half of a map."""
    features = torch.randn(1, 4, 6, 8, dtype=torch.float64, requires_grad=True)
    loss_of(features).backward()
    return float(features.grad[..., :4].abs().max()), float(features.grad[..., 4:].abs().max())


def _far_right_mask() -> torch.Tensor:
    depth = torch.zeros(1, 1, 6, 8, dtype=torch.float64)
    depth[..., 4:] = 1.0
    return depth_mask(parse_mask("linear:0:1"), depth)  # exactly 0 on the left (near), 1 on the right (far)


def test_a_zero_depth_mask_sends_no_gram_gradient() -> None:
    from restyle.losses.gram import gram_loss

    target, mask = torch.randn(4, 4, dtype=torch.float64), _far_right_mask()
    left, right = _gradient_left_right(lambda f: gram_loss(f, target, mask))
    assert left == 0.0 and right > 0


def test_a_zero_depth_mask_sends_no_nnfm_gradient() -> None:
    from restyle.losses.nnfm import flatten_maps, nnfm_loss

    style, weights = torch.randn(10, 4, dtype=torch.float64), _far_right_mask().flatten(1)
    left, right = _gradient_left_right(lambda f: nnfm_loss(flatten_maps(f), style, weights=weights))
    assert left == 0.0 and right > 0


# ------------------------------------------------- a mask that selects nothing


def test_selects_nothing_counts_the_share_of_the_image_a_mask_weighs() -> None:
    """Under 1e-3 of the image's weight is nothing: a 0/1 mask by its pixels, a soft mask by its weight, so that a
    mask faint everywhere (a depth range beyond every depth: σ(−10) on every pixel) counts as empty too."""
    one_pixel, two_pixels = torch.zeros(1, 1, 32, 48), torch.zeros(1, 1, 32, 48)  # 1536 pixels: 1e-3 is 1.5 px
    one_pixel[..., 0, 0] = 1.0
    two_pixels[..., 0, :2] = 1.0
    assert selects_nothing(one_pixel) and not selects_nothing(two_pixels)
    faint = depth_mask(parse_mask("far"), torch.zeros(1, 1, 32, 48))
    assert selects_nothing(faint) and not selects_nothing(torch.full((1, 1, 32, 48), 2e-3))
