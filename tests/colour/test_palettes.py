"""Palette sources: k-means, hex parsing, palette images, spec resolution, swatches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from restyle.colour.palettes import (
    palette_from_image_file,
    palette_kmeans,
    palette_swatch,
    parse_hex_palette,
    resolve_palette,
    sort_by_luminance,
)
from restyle.errors import ConfigError, InputError

DARK_BLUE, MID_GREEN, LIGHT_YELLOW = (0.1, 0.1, 0.4), (0.2, 0.6, 0.2), (0.95, 0.9, 0.3)


def _noisy_three_colour_image(size: int = 48) -> torch.Tensor:
    """Three vertical bands of well-separated colours with small noise: ``[3, size, size]``."""
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(size).repeat(size, 1) * 3 // size  # [H, W] band index
    centres = torch.tensor([LIGHT_YELLOW, DARK_BLUE, MID_GREEN])
    image = centres[labels].permute(2, 0, 1)
    return (image + 0.02 * torch.randn(image.shape, generator=generator)).clamp(0, 1)


def test_kmeans_finds_the_colour_clusters_sorted_by_luminance() -> None:
    palette = palette_kmeans(_noisy_three_colour_image(), 3, seed=0)
    assert palette.shape == (3, 3) and palette.dtype == torch.float32
    torch.testing.assert_close(palette, torch.tensor([DARK_BLUE, MID_GREEN, LIGHT_YELLOW]), atol=0.01, rtol=0)


def test_kmeans_is_deterministic_and_leaves_global_rng_alone() -> None:
    image = torch.rand(3, 40, 40)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = palette_kmeans(image, 5, seed=7, max_samples=500)
    assert torch.equal(torch.rand(1), expected_next)
    assert torch.equal(palette_kmeans(image, 5, seed=7, max_samples=500), first)
    luminance = first @ torch.tensor([0.2126, 0.7152, 0.0722])
    assert torch.all(luminance[1:] >= luminance[:-1])


def test_kmeans_returns_distinct_colours_when_there_are_few() -> None:
    image = torch.zeros(3, 4, 4)
    image[:, :2] = 1.0
    palette = palette_kmeans(image, 5)
    torch.testing.assert_close(palette, torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))


def _grey_ramp_with_a_one_percent_accent(accent: torch.Tensor, size: int = 100) -> torch.Tensor:
    """``[3, size, size]``: 99% of the pixels in 8 flat grey bands, 1% a painted (noisy) muted red."""
    count = size * size
    greys = torch.linspace(0, 1, 8).repeat_interleave(count * 99 // 100 // 8)[:, None].expand(-1, 3)
    noise = 0.03 * torch.randn(count - greys.shape[0], 3, generator=torch.Generator().manual_seed(0))
    return torch.cat([greys, (accent + noise).clamp(0, 1)]).T.reshape(3, size, size)


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_counts_each_distinct_colour_once_so_a_small_accent_keeps_its_centre(seed: int) -> None:
    """Clustering the pixels, the greys' 99% outvote the accent: for these seeds its nearest centre ended 0.34
    to 0.38 away, merged with a grey. Clustering the distinct colours (the paper's code) gives it its own."""
    accent = torch.tensor([0.75, 0.35, 0.3])
    palette = palette_kmeans(_grey_ramp_with_a_one_percent_accent(accent), 4, seed=seed)
    assert palette.shape == (4, 3)
    assert (palette - accent).norm(dim=1).min() < 0.05


def test_kmeans_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        palette_kmeans(torch.rand(1, 3, 4, 4), 2)
    with pytest.raises(ConfigError, match=">= 1"):
        palette_kmeans(torch.rand(3, 4, 4), 0)


def test_parse_hex_palette_forms() -> None:
    expected = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [170 / 255, 187 / 255, 204 / 255]])
    torch.testing.assert_close(parse_hex_palette("#ff0000,#00ff00,#aabbcc"), expected)
    torch.testing.assert_close(parse_hex_palette(" ff0000, 00FF00  #abc "), expected)


@pytest.mark.parametrize(("text", "token"), [("#ff0000,#12345g", "#12345g"), ("#ff00", "#ff00"), ("red", "red")])
def test_parse_hex_palette_names_the_bad_token(text: str, token: str) -> None:
    with pytest.raises(ConfigError, match=f"'{token}' is not a hex colour"):
        parse_hex_palette(text)


def test_parse_hex_palette_empty() -> None:
    with pytest.raises(ConfigError, match="empty"):
        parse_hex_palette(" , ")


def test_palette_image_with_few_colours_gives_exactly_those(tmp_path: Path) -> None:
    image = Image.new("RGB", (3, 1))
    for x, colour in enumerate([(255, 255, 255), (255, 0, 0), (0, 0, 0)]):
        image.putpixel((x, 0), colour)
    image.save(tmp_path / "swatch.png")
    palette = palette_from_image_file(tmp_path / "swatch.png", 8)
    torch.testing.assert_close(palette, torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))


def test_palette_image_with_many_colours_uses_kmeans_and_ignores_transparent(tmp_path: Path) -> None:
    rgb = (_noisy_three_colour_image(30) * 255).round().byte().permute(1, 2, 0).numpy()
    image = Image.fromarray(rgb).convert("RGBA")
    for y in range(30):
        image.putpixel((0, y), (255, 0, 255, 0))  # transparent magenta column: must not appear
    image.save(tmp_path / "palette.png")
    palette = palette_from_image_file(tmp_path / "palette.png", 3)
    torch.testing.assert_close(palette, torch.tensor([DARK_BLUE, MID_GREEN, LIGHT_YELLOW]), atol=0.015, rtol=0)


def test_resolve_palette_specs(tmp_path: Path) -> None:
    style = _noisy_three_colour_image()
    assert resolve_palette("none", [style], k=3, seed=0) is None
    assert resolve_palette(" None ", [], k=3, seed=0) is None
    torch.testing.assert_close(resolve_palette("auto", [style, torch.zeros(3, 8, 8)], k=3, seed=0),
                               palette_kmeans(style, 3, seed=0))
    torch.testing.assert_close(resolve_palette("#000000 #ffffff", [], k=3, seed=0),
                               torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]))
    Image.new("RGB", (2, 2), (0, 255, 0)).save(tmp_path / "green.png")
    torch.testing.assert_close(resolve_palette(str(tmp_path / "green.png"), [], k=3, seed=0),
                               torch.tensor([[0.0, 1.0, 0.0]]))


def test_resolve_palette_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs at least one style image"):
        resolve_palette("auto", [], k=3, seed=0)
    with pytest.raises(ConfigError, match="'#ff0000,#zzzzzz'|'#zzzzzz' is not a hex colour"):
        resolve_palette("#ff0000,#zzzzzz", [], k=3, seed=0)
    missing = str(tmp_path / "missing.png")
    with pytest.raises(ConfigError, match="neither a hex colour list nor an existing file"):
        resolve_palette(missing, [], k=3, seed=0)
    (tmp_path / "notes.png").write_text("text")
    with pytest.raises(InputError, match="not a recognised image file"):
        resolve_palette(str(tmp_path / "notes.png"), [], k=3, seed=0)


def test_palette_swatch_layout() -> None:
    palette = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    swatch = palette_swatch(palette, height=5, width_per_colour=4)
    assert swatch.shape == (3, 5, 8)
    assert torch.equal(swatch[:, 2, 3], palette[0]) and torch.equal(swatch[:, 4, 4], palette[1])
    with pytest.raises(ValueError, match=r"\[K, 3\]"):
        palette_swatch(torch.rand(3))


def test_sort_by_luminance() -> None:
    palette = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert sort_by_luminance(palette).tolist() == [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
