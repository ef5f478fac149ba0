"""Image I/O: every mode and failure generated synthetically with Pillow in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from restyle.errors import ConfigError, InputError
from restyle.io.images import (
    from_pil,
    load_image,
    load_image_rgba,
    resize_long_side,
    save_image,
    to_pil,
)


def _rgb_array(height: int = 4, width: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _save(tmp_path: Path, name: str, image: Image.Image, **options: object) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


# --------------------------------------------------------------------------------------------- reading


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp", ".webp"])
def test_lossless_rgb_formats_load_exactly(tmp_path: Path, suffix: str) -> None:
    pixels = _rgb_array()
    options = {"lossless": True} if suffix == ".webp" else {}
    path = _save(tmp_path, f"rgb{suffix}", Image.fromarray(pixels), **options)
    image = load_image(path)
    assert image.shape == (3, 4, 5) and image.dtype == torch.float32
    torch.testing.assert_close(image, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255.0)


def test_jpeg_loads_close(tmp_path: Path) -> None:
    path = _save(tmp_path, "flat.jpg", Image.new("RGB", (8, 8), (200, 100, 50)), quality=100)
    image = load_image(path)
    torch.testing.assert_close(image[:, 3, 3], torch.tensor([200, 100, 50]) / 255.0, atol=3 / 255, rtol=0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (3, 2), (0, 0, 0))  # W=3, H=2, red at the stored top-left
    stored.putpixel((0, 0), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image = load_image(_save(tmp_path, "rotated.png", stored, exif=exif))
    assert image.shape == (3, 3, 2)
    assert image[0, 0, 1].item() == 1.0 and image[0].sum().item() == 1.0  # red now at the top-right


def test_greyscale_is_copied_to_rgb(tmp_path: Path) -> None:
    grey = np.array([[0, 128, 255]], dtype=np.uint8)
    rgb, alpha = load_image_rgba(_save(tmp_path, "grey.png", Image.fromarray(grey)))
    assert alpha is None
    torch.testing.assert_close(rgb, torch.from_numpy(grey).float().expand(3, 1, 3) / 255.0)


def test_grey_alpha_gives_grey_rgb_and_alpha(tmp_path: Path) -> None:
    image = Image.new("LA", (2, 1), (100, 255))
    image.putpixel((1, 0), (50, 0))
    rgb, alpha = load_image_rgba(_save(tmp_path, "la.png", image))
    torch.testing.assert_close(rgb, torch.tensor([100.0, 50.0]).expand(3, 1, 2) / 255.0)
    torch.testing.assert_close(alpha, torch.tensor([[[1.0, 0.0]]]))


def test_rgba_colour_is_not_premultiplied(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (1, 1), (200, 100, 50, 64))
    rgb, alpha = load_image_rgba(_save(tmp_path, "rgba.png", rgba))
    torch.testing.assert_close(rgb.flatten(), torch.tensor([200.0, 100.0, 50.0]) / 255.0)
    assert alpha.shape == (1, 1, 1) and alpha.item() == pytest.approx(64 / 255)
    assert load_image(tmp_path / "rgba.png").shape == (3, 1, 1)


def test_palette_image_with_and_without_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    rgb, alpha = load_image_rgba(_save(tmp_path, "opaque.png", image))
    assert alpha is None
    torch.testing.assert_close(rgb[:, 0, :], torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    rgb, alpha = load_image_rgba(_save(tmp_path, "transparent.png", image, transparency=1))
    torch.testing.assert_close(alpha, torch.tensor([[[1.0, 0.0]]]))
    torch.testing.assert_close(rgb[:, 0, 1], torch.tensor([0.0, 1.0, 0.0]))


def test_cmyk_is_converted_to_rgb(tmp_path: Path) -> None:
    image = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    image.putpixel((1, 0), (255, 0, 0, 0))
    rgb = load_image(_save(tmp_path, "cmyk.tif", image))
    torch.testing.assert_close(rgb[:, 0, :], torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0]]))


def test_sixteen_bit_greyscale_scaled_by_65535(tmp_path: Path) -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    rgb = load_image(_save(tmp_path, "grey16.png", image))
    expected = torch.tensor([0.0, 32768 / 65535, 1.0]).expand(3, 1, 3)
    torch.testing.assert_close(rgb, expected)


def test_thirty_two_bit_integer_and_float_modes(tmp_path: Path) -> None:
    integers = Image.fromarray(np.array([[0, 65535, 100000, -5]], dtype=np.int32))
    assert integers.mode == "I"
    rgb = load_image(_save(tmp_path, "int32.tif", integers))
    torch.testing.assert_close(rgb[0, 0], torch.tensor([0.0, 1.0, 1.0, 0.0]))

    floats = Image.fromarray(np.array([[0.25, 1.5, -1.0, np.nan]], dtype=np.float32))
    assert floats.mode == "F"
    rgb = load_image(_save(tmp_path, "float.tif", floats))
    torch.testing.assert_close(rgb, torch.tensor([0.25, 1.0, 0.0, 0.0]).expand(3, 1, 4))


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path, "big.png", Image.new("RGB", (100, 100)))

    def refuse_to_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded before the pixel check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse_to_decode)
    with pytest.raises(InputError, match=r"big\.png: 100x100 has more than the 5,000 pixel limit"):
        load_image(path, max_pixels=5000)


def test_pillow_decompression_bomb_becomes_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _save(tmp_path, "bomb.png", Image.new("RGB", (100, 100)))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(InputError, match="bomb.png: too many pixels"):
        load_image(path)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.mkdir(), p)[1], "is a directory"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty file"),
        (lambda p: (p.write_text("not an image, just text\n"), p)[1], "not a recognised image file"),
    ],
)
def test_unusable_paths_raise_one_line_input_errors(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path / "input.png")
    with pytest.raises(InputError, match=message) as caught:
        load_image(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_truncated_image_raises(tmp_path: Path) -> None:
    path = _save(tmp_path, "full.png", Image.fromarray(_rgb_array(64, 64)), compress_level=0)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated.png: truncated or corrupt"):
        load_image(truncated)


# --------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_save_load_roundtrip_lossless(tmp_path: Path, suffix: str) -> None:
    image = torch.from_numpy(_rgb_array()).permute(2, 0, 1).float() / 255.0
    save_image(image, tmp_path / f"out{suffix}")
    torch.testing.assert_close(load_image(tmp_path / f"out{suffix}"), image)
    save_image(image[None], tmp_path / f"batched{suffix}")
    torch.testing.assert_close(load_image(tmp_path / f"batched{suffix}"), image)


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg", ".webp"])
def test_save_lossy_formats(tmp_path: Path, suffix: str) -> None:
    image = torch.full((3, 16, 16), 0.5)
    save_image(image, tmp_path / f"out{suffix}", quality=90)
    torch.testing.assert_close(load_image(tmp_path / f"out{suffix}"), image, atol=3 / 255, rtol=0)


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_save_rgba(tmp_path: Path, suffix: str) -> None:
    rgba = torch.rand(4, 3, 5)
    rgba[3] = torch.tensor([0.0, 1.0, 0.5, 1.0, 0.0]).expand(3, 5)
    rgba[:3] = (rgba[:3] * 255).round() / 255
    if suffix == ".webp":  # lossy 4:2:0 colour: only a flat colour comes back close, so test with one
        rgba[:3] = torch.tensor([200.0, 120.0, 40.0])[:, None, None] / 255
    save_image(rgba, tmp_path / f"out{suffix}")
    rgb, alpha = load_image_rgba(tmp_path / f"out{suffix}")
    # WebP stores alpha losslessly even at lossy quality, so alpha is exact for every format
    torch.testing.assert_close(alpha, (rgba[3:] * 255).round() / 255)
    visible = alpha[0] > 0
    tolerance = 4 / 255 if suffix == ".webp" else 1e-6
    torch.testing.assert_close(rgb[:, visible], rgba[:3, visible], rtol=0, atol=tolerance)


def test_save_clamps_out_of_range_values(tmp_path: Path) -> None:
    image = torch.tensor([-1.0, 0.5, 2.0, float("nan")]).reshape(1, 1, 4).expand(3, 1, 4)
    save_image(image, tmp_path / "clamped.png")
    torch.testing.assert_close(load_image(tmp_path / "clamped.png")[0, 0], torch.tensor([0.0, 128 / 255, 1.0, 0.0]))


def test_save_rejects_unknown_suffix_and_alpha_in_jpeg(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"out\.gif: unsupported image format '.gif'"):
        save_image(torch.rand(3, 2, 2), tmp_path / "out.gif")
    with pytest.raises(ConfigError, match="cannot store an alpha channel"):
        save_image(torch.rand(4, 2, 2), tmp_path / "out.jpg")
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        save_image(torch.rand(2, 3, 2, 2), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_failing_save_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    existing = tmp_path / "keep.png"
    save_image(torch.zeros(3, 2, 2), existing)
    before = existing.read_bytes()

    def write_half_then_fail(self: Image.Image, fp: Path, *args: object, **kwargs: object) -> None:
        Path(fp).write_bytes(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_image(torch.ones(3, 2, 2), tmp_path / "new.png")
    with pytest.raises(OSError, match="disk full"):
        save_image(torch.ones(3, 2, 2), existing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]
    assert existing.read_bytes() == before


def test_pil_helpers_roundtrip() -> None:
    image = torch.from_numpy(_rgb_array()).permute(2, 0, 1).float() / 255.0
    pil = to_pil(image)
    assert pil.mode == "RGB" and pil.size == (5, 4)
    torch.testing.assert_close(from_pil(pil), image)
    assert to_pil(torch.rand(4, 2, 2)).mode == "RGBA"


# --------------------------------------------------------------------------------------------- resizing


def test_resize_long_side_keeps_aspect_and_range() -> None:
    image = torch.rand(3, 100, 50)
    resized = resize_long_side(image, 20)
    assert resized.shape == (3, 20, 10)
    assert resized.min() >= image.min() and resized.max() <= image.max()
    assert resize_long_side(torch.rand(2, 3, 30, 90), 45).shape == (2, 3, 15, 45)
    assert resize_long_side(torch.rand(3, 4, 400), 10).shape == (3, 1, 10)
    assert resize_long_side(image, 100) is image


def test_resize_long_side_antialiases_and_keeps_constants() -> None:
    constant = torch.full((3, 64, 64), 0.3)
    torch.testing.assert_close(resize_long_side(constant, 17), torch.full((3, 17, 17), 0.3))
    checkerboard = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float().expand(3, 64, 64)
    downsampled = resize_long_side(checkerboard, 8)
    torch.testing.assert_close(downsampled, torch.full((3, 8, 8), 0.5), atol=0.02, rtol=0)


def test_resize_long_side_bad_inputs() -> None:
    with pytest.raises(ValueError, match="size"):
        resize_long_side(torch.rand(3, 4, 4), 0)
    with pytest.raises(ValueError, match=r"\[\.\.\., C, H, W\]"):
        resize_long_side(torch.rand(4, 4), 2)
