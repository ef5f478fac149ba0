from __future__ import annotations

import pytest
import torch

from restyle.errors import ConfigError
from restyle.render.texture import level_of_detail, mip_pyramid, sample_points, sample_slots, sample_texture


def _column_ramp(width: int = 4, height: int = 2) -> torch.Tensor:
    """Texture whose value is the column index in every channel."""
    return torch.arange(width, dtype=torch.float32).expand(3, height, width).clone()


def _uv_image(points: list[tuple[float, float]]) -> torch.Tensor:
    return torch.tensor(points, dtype=torch.float32).reshape(1, 1, -1, 2)


def test_texel_centres_return_texel_values() -> None:
    texture = torch.rand(3, 4, 6)
    rows, cols = torch.meshgrid(torch.arange(4), torch.arange(6), indexing="ij")
    uv = torch.stack(((cols + 0.5) / 6, 1 - (rows + 0.5) / 4), dim=-1)[None]  # v up: row 0 is the top
    for wrap in ("repeat", "clamp"):
        assert torch.allclose(sample_texture(texture, uv, None, wrap=wrap)[0], texture, atol=1e-6)


def test_repeat_tiles_and_clamp_extends_beyond_the_unit_square() -> None:
    texture = _column_ramp()
    # texel centres sit at u = (k + 0.5) / 4: the first two points tile onto column 1, the third onto column 0
    uv = _uv_image([(1.375, 0.5), (-0.625, 0.5), (2.125, 0.5)])
    repeat = sample_texture(texture, uv, None, wrap="repeat")[0, 0, 0]
    clamp = sample_texture(texture, uv, None, wrap="clamp")[0, 0, 0]
    assert torch.allclose(repeat, torch.tensor([1.0, 1.0, 0.0]))
    assert torch.allclose(clamp, torch.tensor([3.0, 0.0, 3.0]))


def test_repeat_blends_across_the_border() -> None:
    texture = _column_ramp()
    at_edge = sample_texture(texture, _uv_image([(0.0, 0.5), (1.0, 0.5)]), None, wrap="repeat")[0, 0, 0]
    assert torch.allclose(at_edge, torch.tensor([1.5, 1.5]))  # halfway between the first (0) and last (3) column
    clamped = sample_texture(texture, _uv_image([(0.0, 0.5), (1.0, 0.5)]), None, wrap="clamp")[0, 0, 0]
    assert torch.allclose(clamped, torch.tensor([0.0, 3.0]))


def test_mip_pyramid_averages_down_to_one_texel() -> None:
    texture = torch.rand(3, 8, 4)
    levels = mip_pyramid(texture)
    assert [tuple(level.shape[1:]) for level in levels] == [(8, 4), (4, 2), (2, 1), (1, 1)]
    assert torch.allclose(levels[-1][:, 0, 0], texture.mean(dim=(1, 2)), atol=1e-6)
    odd = mip_pyramid(torch.rand(3, 5, 3))
    assert tuple(odd[1].shape[1:]) == (3, 2) and tuple(odd[-1].shape[1:]) == (1, 1)


def test_level_of_detail_is_log2_of_the_footprint() -> None:
    # footprints of 1, 4 and 2.83 texels along the longer axis, then one beyond the coarsest level
    grad = torch.tensor([[1 / 16, 0, 0, 1 / 16], [0, 0, 4 / 16, 0], [2 / 16, 2 / 16, 0, 0], [10.0, 0, 0, 0]])
    lod = level_of_detail(grad, 16, 16, num_levels=5)
    assert torch.allclose(lod, torch.tensor([0.0, 2.0, 1.5, 4.0]), atol=1e-5)


def test_minified_constant_regions_are_their_average() -> None:
    # a 2-texel checker seen with a footprint of 4 texels is grey, not one of the squares (no aliasing)
    checker = ((torch.arange(8)[:, None] // 2 + torch.arange(8)[None] // 2) % 2).float().expand(3, 8, 8)
    uv = torch.rand(50, 2)
    grad = torch.tensor([[4 / 8, 0, 0, 4 / 8]]).expand(50, 4)
    assert torch.allclose(sample_points(checker, uv, grad), torch.full((50, 3), 0.5), atol=1e-5)


def test_fractional_lod_blends_the_two_nearest_levels() -> None:
    texture = torch.rand(3, 8, 8)
    uv = torch.rand(20, 2)
    levels = mip_pyramid(texture)
    grad = torch.full((20, 4), 0.0)
    grad[:, 0] = 2**1.25 / 8  # LOD 1.25
    blended = sample_points(texture, uv, grad)
    level1 = sample_points(levels[1], uv, None)
    level2 = sample_points(levels[2], uv, None)
    assert torch.allclose(blended, 0.75 * level1 + 0.25 * level2, atol=1e-5)


@pytest.mark.parametrize("wrap", ["repeat", "clamp"])
def test_gradcheck_texture_with_mip_blending(wrap: str) -> None:
    generator = torch.Generator().manual_seed(0)
    texture = torch.rand(2, 4, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    uv = torch.rand(1, 2, 5, 2, dtype=torch.float64, generator=generator) * 4 - 1.5  # well beyond [0, 1]
    # footprints from under one texel to the whole texture: fractional LODs across all 4 levels
    scale = torch.logspace(-3.5, 0, 10, base=2, dtype=torch.float64).reshape(1, 2, 5, 1)
    uv_grad = torch.cat((scale, scale * 0.3, scale * 0.1, scale * 0.5), dim=-1)

    def sample(tex: torch.Tensor) -> torch.Tensor:
        return sample_texture(tex, uv, uv_grad, wrap=wrap)

    assert torch.autograd.gradcheck(sample, (texture,), eps=1e-6, atol=1e-6)


def test_gradcheck_uv_through_the_repeat_border() -> None:
    texture = torch.rand(3, 4, 5, dtype=torch.float64)
    uv = torch.tensor([[[[0.999, 0.3], [0.001, 0.71], [-0.43, 1.02]]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sample_texture(texture, x, None, wrap="repeat"), (uv,), eps=1e-7)


def test_minified_gradients_reach_every_texel() -> None:
    texture = torch.rand(3, 16, 16, requires_grad=True)
    uv = torch.rand(1, 4, 4, 2)
    grad = torch.full((1, 4, 4, 4), 0.0)
    grad[..., 0] = 1.0  # each pixel covers the whole texture: LOD = coarsest level
    sample_texture(texture, uv, grad).sum().backward()
    assert torch.all(texture.grad > 0)


def test_sample_slots_picks_the_texture_of_each_slot() -> None:
    red = torch.tensor([1.0, 0.0, 0.0])[:, None, None].expand(3, 4, 4)
    blue = torch.tensor([0.0, 0.0, 1.0])[:, None, None].expand(3, 2, 2)
    uv = torch.rand(1, 2, 3, 2)
    slots = torch.tensor([[[0, 1, -1], [1, 0, 0]]])
    out = sample_slots([red, blue], ["repeat", "clamp"], uv, None, slots)
    assert out.shape == (1, 3, 2, 3)
    assert torch.allclose(out[0, :, 0, 0], red[:, 0, 0]) and torch.allclose(out[0, :, 1, 0], blue[:, 0, 0])
    assert torch.all(out[0, :, 0, 2] == 0)  # no slot: black


def test_bad_wrap_and_mismatched_slots_raise_config_error() -> None:
    texture = torch.rand(3, 2, 2)
    with pytest.raises(ConfigError, match="repeat, clamp"):
        sample_texture(texture, torch.rand(1, 1, 1, 2), None, wrap="mirror")
    with pytest.raises(ConfigError, match="wrap modes"):
        sample_slots([texture, texture], ["repeat"], torch.rand(1, 1, 1, 2), None, torch.zeros(1, 1, 1).long())
