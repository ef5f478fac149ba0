"""The residual style texture: zero at start, the Laplacian-pyramid sum, and the projection that keeps every
texel movable."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restyle.params.residual import ResidualTexture


def test_starts_as_the_original_with_one_layer_per_level() -> None:
    original = torch.rand(3, 20, 12)
    texture = ResidualTexture(original, levels=3)
    assert torch.equal(texture(), original)
    assert [tuple(p.shape) for p in texture.parameters()] == [(3, 20, 12), (3, 10, 6), (3, 5, 3)]


def test_residual_is_the_finest_layer_plus_the_coarse_ones_upsampled() -> None:
    texture = ResidualTexture(torch.full((3, 8, 8), 0.5), levels=2)
    with torch.no_grad():
        texture.layers[1].fill_(0.1)  # a constant coarse layer lifts every texel alike
        texture.layers[0][:, 0, 0] = -0.3
    expected = torch.full((3, 8, 8), 0.1)
    expected[:, 0, 0] = -0.2
    torch.testing.assert_close(texture.residual, expected)
    torch.testing.assert_close(texture(), (0.5 + expected).clamp(0, 1))


def test_a_coarse_layer_moves_whole_regions_by_the_same_step() -> None:
    """One Adam step on a loss that wants every texel brighter: the coarse layer's step is spread smoothly,
    so neighbouring texels move together (no per-texel speckle from Adam's sign-like update)."""
    original = torch.full((3, 16, 16), 0.5)
    texture = ResidualTexture(original, levels=3)
    optimizer = torch.optim.Adam(texture.parameters(), lr=0.01)
    noisy_target = 0.5 + 0.4 * torch.rand(3, 16, 16)
    (texture() - noisy_target).square().sum().backward()
    optimizer.step()
    coarse = F.interpolate(texture.layers[2].detach()[None], size=(16, 16), mode="bilinear", align_corners=False)
    assert torch.all(coarse > 0.009)  # every coarse parameter stepped up by about lr
    assert torch.all(texture.residual > 0.025)  # the three levels add up


def test_projection_keeps_every_texel_in_range_and_its_gradient_alive() -> None:
    original = torch.tensor([1.0, 0.0, 0.5]).view(3, 1, 1).expand(3, 4, 4).clone()
    texture = ResidualTexture(original, levels=2)
    with torch.no_grad():
        texture.layers[1].copy_(torch.tensor([0.3, -0.3, 0.7]).view(3, 1, 1).expand(3, 2, 2))
        texture.layers[0].fill_(0.1)  # white past 1, black back in range, grey past 1
    texture.project()
    total = texture.original + texture.residual
    assert total.min() >= -1e-6 and total.max() <= 1 + 1e-6
    torch.testing.assert_close(texture(), torch.tensor([1.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 4, 4))
    texture().sum().backward()
    assert torch.all(texture.layers[0].grad == 1)  # every texel passes gradient, clipped ones included


def test_forward_clamps_values_but_not_gradients() -> None:
    """A texel a rounding error past white still learns (a hard clamp would give it no gradient)."""
    texture = ResidualTexture(torch.ones(3, 2, 2))
    with torch.no_grad():
        texture.layers[0].fill_(1e-7)
    assert texture().max() == 1.0
    (-texture()).sum().backward()
    assert torch.all(texture.layers[0].grad == -1)


@pytest.mark.parametrize(("shape", "levels"), [((3, 4), 1), ((1, 4, 4), 1), ((3, 4, 4), 0)])
def test_bad_shapes_and_levels_are_refused(shape, levels) -> None:
    with pytest.raises(ValueError):
        ResidualTexture(torch.zeros(shape), levels=levels)
