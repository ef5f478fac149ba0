"""Colour transfer of a texture to the style's colour statistics (the start of a ``texture.recolour`` run)."""

from __future__ import annotations

import torch

from restyle.colour.recolour import colour_transfer_map, fit_colour_map, recolour_texture


def _stats(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = pixels.double()
    centred = pixels - pixels.mean(0)
    return pixels.mean(0), centred.T @ centred / pixels.shape[0]


def test_the_map_gives_the_target_mean_and_covariance() -> None:
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(5000, 3, generator=generator)
    mix = torch.tensor([[0.5, 0.2, 0.0], [0.1, 0.3, 0.1], [0.0, 0.2, 0.6]])
    target = torch.rand(3000, 3, generator=generator) @ mix.T + torch.tensor([0.1, 0.2, 0.05])
    matrix, offset = colour_transfer_map(source, target)
    mapped = source.double() @ matrix.T + offset
    for got, want in zip(_stats(mapped), _stats(target), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_the_map_is_the_identity_between_equal_statistics() -> None:
    pixels = torch.rand(2000, 3, generator=torch.Generator().manual_seed(1))
    matrix, offset = colour_transfer_map(pixels, pixels.flip(0))
    torch.testing.assert_close(matrix, torch.eye(3, dtype=torch.float64), rtol=0, atol=1e-9)
    torch.testing.assert_close(offset, torch.zeros(3, dtype=torch.float64), rtol=0, atol=1e-9)


def test_a_nearly_degenerate_texture_does_not_blow_up_its_noise() -> None:
    """Grey texels with 1e-4 of colour noise (Spot's white body): the floored covariance keeps that noise
    invisible instead of stretching it to the style's full colour range."""
    generator = torch.Generator().manual_seed(2)
    grey = torch.rand(1, 32, 32, generator=generator).expand(3, 32, 32)
    texture = (grey + 1e-4 * torch.randn(3, 32, 32, generator=generator)).clamp(0, 1)
    style = torch.rand(1, 3, 16, 16, generator=generator)
    out = recolour_texture(texture, torch.ones(32, 32, dtype=torch.bool), [style])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    same_grey = (grey[0] - grey[0, 0, 0]).abs() < 1e-3  # texels of (nearly) the same grey level ...
    assert (out[:, same_grey] - out[:, same_grey].mean(1, keepdim=True)).abs().max() < 0.02  # ... stay alike


def test_covered_texels_set_the_map_and_every_texel_goes_through_it() -> None:
    texture = torch.zeros(3, 4, 4)
    texture[:, :2] = torch.tensor([0.2, 0.4, 0.6]).view(3, 1, 1)
    texture[:, 2:] = torch.tensor([0.8, 0.6, 0.4]).view(3, 1, 1)
    texture[:, 3, 3] = torch.tensor([0.2, 0.4, 0.6])  # an unseen texel coloured like the seen top half
    covered = torch.ones(4, 4, dtype=torch.bool)
    covered[3, 3] = False
    style = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(3)) * 0.5
    out = recolour_texture(texture, covered, [style])
    torch.testing.assert_close(out[:, 3, 3], out[:, 0, 0])
    mean = out[:, covered].mean(1)
    torch.testing.assert_close(mean, style.reshape(3, -1).mean(1).clamp(0, 1), rtol=0, atol=0.05)


def test_no_covered_texel_leaves_the_texture_alone() -> None:
    texture = torch.rand(3, 4, 4)
    out = recolour_texture(texture, torch.zeros(4, 4, dtype=torch.bool), [torch.rand(1, 3, 4, 4)])
    assert torch.equal(out, texture)


def test_a_fitted_map_recolours_a_texture_of_any_size_texel_by_texel() -> None:
    small = torch.rand(3, 8, 8)
    style = torch.rand(1, 3, 16, 16) * torch.tensor([1.0, 0.5, 0.2])[None, :, None, None]
    colour_map = fit_colour_map(small, torch.ones(8, 8, dtype=torch.bool), [style])
    assert torch.equal(colour_map.apply(small), recolour_texture(small, torch.ones(8, 8, dtype=torch.bool), [style]))
    # the full-resolution texture (here each texel repeated 4x4) gets exactly the same colours
    full = small.repeat_interleave(4, dim=1).repeat_interleave(4, dim=2)
    assert torch.equal(colour_map.apply(full), colour_map.apply(small).repeat_interleave(4, 1).repeat_interleave(4, 2))
    assert fit_colour_map(small, torch.zeros(8, 8, dtype=torch.bool), [style]) is None
