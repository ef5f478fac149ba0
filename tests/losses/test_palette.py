"""Palette loss: zero on palette colours, known values, masks, gradients, bad inputs."""

from __future__ import annotations

import math

import pytest
import torch

from restyle.losses.palette import PaletteLoss, palette_distances, palette_loss

BLACK_WHITE_RED = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])


def _texture_of(colors: list[list[float]]) -> torch.Tensor:
    """A ``[3, 1, W]`` texture holding the given colours side by side."""
    return torch.tensor(colors).T.unsqueeze(1)


def test_zero_when_every_colour_is_a_palette_colour() -> None:
    texture = BLACK_WHITE_RED[torch.randint(0, 3, (16,))].T.reshape(3, 4, 4)
    assert palette_loss(texture, BLACK_WHITE_RED).item() == 0.0
    assert palette_loss(texture.expand(2, 3, 4, 4), BLACK_WHITE_RED).item() == 0.0


def test_known_values() -> None:
    texture = _texture_of([[0.4, 0.4, 0.4], [0.9, 0.1, 0.0], [1.0, 1.0, 1.0]])
    # Euclidean, as the paper's cdist: grey 0.4 -> black sqrt(3 * 0.16); (0.9, 0.1, 0) -> red sqrt(0.01 + 0.01)
    expected = (math.sqrt(0.48) + math.sqrt(0.02) + 0.0) / 3.0
    assert palette_loss(texture, BLACK_WHITE_RED).item() == pytest.approx(expected)
    distances = palette_distances(texture, BLACK_WHITE_RED)
    assert distances.shape == (1, 1, 3)
    torch.testing.assert_close(distances.flatten(), torch.tensor([0.48, 0.02, 0.0]).sqrt())


def test_masked_texels_are_ignored() -> None:
    texture = _texture_of([[0.4, 0.4, 0.4], [0.2, 0.9, 0.7], [1.0, 1.0, 1.0]])
    mask = torch.tensor([[[1.0, 0.0, 1.0]]])
    assert palette_loss(texture, BLACK_WHITE_RED, mask).item() == pytest.approx(math.sqrt(0.48) / 2.0)
    assert palette_loss(texture, BLACK_WHITE_RED, torch.zeros_like(mask)).item() == 0.0


def test_mask_broadcasts_over_the_batch() -> None:
    images = torch.rand(3, 3, 4, 4)
    mask = (torch.rand(1, 1, 4, 4) > 0.5).float()
    torch.testing.assert_close(
        palette_loss(images, BLACK_WHITE_RED, mask), palette_loss(images, BLACK_WHITE_RED, mask.expand(3, 1, 4, 4))
    )


def test_gradient_reaches_the_chosen_palette_colour_only() -> None:
    palette = BLACK_WHITE_RED.clone().requires_grad_(True)
    palette_loss(_texture_of([[0.3, 0.2, 0.1]]), palette).backward()
    assert torch.count_nonzero(palette.grad[0]) == 3
    assert torch.count_nonzero(palette.grad[1:]) == 0


def test_gradient_is_zero_on_the_palette_and_full_strength_next_to_it() -> None:
    """The distance, not its square: a texel 1e-4 from a palette colour is pulled with a unit-length gradient
    (a squared distance would give 2e-4), and one exactly on it gets a finite zero gradient, not NaN."""
    on = _texture_of([[1.0, 0.0, 0.0]]).double().requires_grad_(True)
    palette_loss(on, BLACK_WHITE_RED.double()).backward()
    assert torch.equal(on.grad, torch.zeros_like(on))

    near = (_texture_of([[1.0, 0.0, 0.0]]).double() + torch.tensor([-1e-4, 0.0, 0.0]).view(3, 1, 1))
    near.requires_grad_(True)
    palette_loss(near, BLACK_WHITE_RED.double()).backward()
    torch.testing.assert_close(near.grad.flatten(), torch.tensor([-1.0, 0.0, 0.0], dtype=torch.float64))


def test_module() -> None:
    images = torch.rand(2, 3, 4, 4)
    torch.testing.assert_close(PaletteLoss()(images, BLACK_WHITE_RED), palette_loss(images, BLACK_WHITE_RED))


def test_gradcheck() -> None:
    """Random colours lie away from the palette, where the Euclidean distance is smooth."""
    colors = torch.rand(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    palette = torch.rand(4, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(palette_loss, (colors, palette, mask))


@pytest.mark.parametrize(
    ("colors", "palette", "mask", "message"),
    [
        (torch.rand(4, 4, 4), BLACK_WHITE_RED, None, r"\[\.\.\., 3, H, W\]"),
        (torch.rand(4, 4), BLACK_WHITE_RED, None, r"\[\.\.\., 3, H, W\]"),
        (torch.rand(3, 4, 4), torch.rand(2, 4), None, r"palette must be \[K, 3\]"),
        (torch.rand(3, 4, 4), torch.rand(3), None, r"palette must be \[K, 3\]"),
        (torch.rand(3, 4, 4), torch.rand(0, 3), None, r"K >= 1"),
        (torch.rand(3, 4, 4), BLACK_WHITE_RED, torch.ones(1, 4, 5), "mask must be"),
        (torch.rand(2, 3, 4, 4), BLACK_WHITE_RED, torch.ones(3, 1, 4, 4), "does not broadcast"),
        (torch.rand(3, 4, 4), BLACK_WHITE_RED, -torch.ones(1, 4, 4), ">= 0"),
    ],
)
def test_bad_inputs_raise(
    colors: torch.Tensor, palette: torch.Tensor, mask: torch.Tensor | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        palette_loss(colors, palette, mask)
