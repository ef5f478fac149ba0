"""Depth map I/O: every format, scale, normalisation and failure, on tiny synthetic files written in tmp_path."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from restyle.errors import ConfigError, InputError
from restyle.io import depth as depth_io
from restyle.io.depth import DepthMap, load_depth, read_depth, write_depth_png

# a 2x3 ramp with distinct values; its min-max normalisation is RAMP_UNIT
RAMP = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float64)
RAMP_UNIT = (RAMP - 1) / 5


def _save_png(path: Path, array: np.ndarray, text: dict[str, str] | None = None) -> Path:
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    Image.fromarray(array).save(path, format="PNG", pnginfo=info)
    return path


def _save_exr(path: Path, channels: dict[str, np.ndarray]) -> Path:
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION}, channels).write(str(path))
    return path


def _assert_depth(result: DepthMap, expected: np.ndarray) -> None:
    assert result.depth.shape == (1, 1, *expected.shape) and result.depth.dtype == torch.float32
    torch.testing.assert_close(result.depth[0, 0], torch.from_numpy(expected).float(), atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------------------- formats


def test_sixteen_bit_png(tmp_path: Path) -> None:
    result = load_depth(_save_png(tmp_path / "d.png", (RAMP * 1000).astype(np.uint16)), (2, 3))
    _assert_depth(result, RAMP_UNIT)
    assert result.valid.all() and result.valid.dtype == torch.bool
    assert result.near_far == (1000.0, 6000.0)  # raw units: no scale given or stored


def test_eight_bit_png(tmp_path: Path) -> None:
    _assert_depth(load_depth(_save_png(tmp_path / "d.png", (RAMP * 40).astype(np.uint8)), (2, 3)), RAMP_UNIT)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_grey_stored_as_colour_png(tmp_path: Path, mode: str) -> None:
    grey = (RAMP * 40).astype(np.uint8)
    image = Image.fromarray(grey).convert(mode)
    image.save(tmp_path / "d.png")
    _assert_depth(load_depth(tmp_path / "d.png", (2, 3)), RAMP_UNIT)


def test_float_tiff(tmp_path: Path) -> None:
    Image.fromarray((RAMP * 0.5).astype(np.float32)).save(tmp_path / "d.TIFF")  # suffix case does not matter
    result = load_depth(tmp_path / "d.TIFF", (2, 3))
    _assert_depth(result, RAMP_UNIT)
    assert result.near_far == pytest.approx((0.5, 3.0))


def test_exr_takes_z_before_colour(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).random((2, 3)).astype(np.float32)
    path = _save_exr(tmp_path / "d.exr", {"R": noise, "G": noise, "B": noise, "Z": RAMP.astype(np.float32)})
    _assert_depth(load_depth(path, (2, 3)), RAMP_UNIT)


@pytest.mark.parametrize("name", ["Y", "depth", "DEPTH", "ViewLayer.Depth.Z"])
def test_exr_channel_names(tmp_path: Path, name: str) -> None:
    path = _save_exr(tmp_path / "d.exr", {name: RAMP.astype(np.float16)})  # half floats too
    _assert_depth(load_depth(path, (2, 3)), RAMP_UNIT)


def test_exr_red_channel_when_no_depth_channel(tmp_path: Path) -> None:
    zeros = np.zeros((2, 3), np.float32)
    path = _save_exr(tmp_path / "d.exr", {"R": RAMP.astype(np.float32), "G": zeros, "B": zeros})
    _assert_depth(load_depth(path, (2, 3)), RAMP_UNIT)


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 1), (1, 2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.uint16, np.int64])
def test_npy_shapes_and_dtypes(tmp_path: Path, shape: tuple[int, ...], dtype: type) -> None:
    np.save(tmp_path / "d.npy", RAMP.astype(dtype).reshape(shape))
    _assert_depth(load_depth(tmp_path / "d.npy", (2, 3)), RAMP_UNIT)


# ------------------------------------------------------------------------------------------- scales and ranges


def test_nyu_millimetres_with_depth_range(tmp_path: Path) -> None:
    millimetres = np.array([[500, 1000, 2000], [3000, 4000, 6000]], dtype=np.uint16)
    path = _save_png(tmp_path / "nyu.png", millimetres)
    values, used = read_depth(path, scale=1e-3)
    assert used == 1e-3
    np.testing.assert_allclose(values, millimetres / 1000.0)
    result = load_depth(path, (2, 3), scale=1e-3, depth_range=(1.0, 5.0))
    _assert_depth(result, np.array([[0.0, 0.0, 0.25], [0.5, 0.75, 1.0]]))  # clipped at both ends
    assert result.near_far == (1.0, 5.0)


def test_tum_fifth_of_millimetre_scale(tmp_path: Path) -> None:
    counts = np.array([[5000, 10000], [15000, 20000]], dtype=np.uint16)  # 1, 2, 3, 4 m at 1/5000 m
    path = _save_png(tmp_path / "tum.png", counts)
    values, _ = read_depth(path, scale=2e-4)
    np.testing.assert_allclose(values, [[1.0, 2.0], [3.0, 4.0]])
    result = load_depth(path, (2, 2), scale=2e-4, depth_range=(0.0, 8.0))
    _assert_depth(result, np.array([[0.125, 0.25], [0.375, 0.5]]))


def test_disparity_flips_the_order(tmp_path: Path) -> None:
    np.save(tmp_path / "disp.npy", RAMP)
    result = load_depth(tmp_path / "disp.npy", (2, 3), disparity=True)
    _assert_depth(result, 1.0 - RAMP_UNIT)  # the largest disparity is the nearest point
    assert result.near_far is None


# ------------------------------------------------------------------------------------------- writing


def test_write_round_trip_uses_the_stored_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.3, 7.0, size=(5, 4))
    depth[0, 0], depth[1, 2], depth[4, 3] = 0.0, np.nan, np.inf
    path = tmp_path / "scene" / "depth.png"
    scale = write_depth_png(path, depth)
    assert scale == pytest.approx(np.nanmax(depth[np.isfinite(depth)]) / 65000)
    assert Image.open(path).mode == "I;16"
    values, used = read_depth(path)  # no scale given: it comes from the text chunk
    assert used == scale
    holes = ~np.isfinite(depth) | (depth == 0)
    assert np.array_equal(np.isnan(values), holes)
    np.testing.assert_allclose(values[~holes], depth[~holes], atol=scale / 2, rtol=0)
    assert [entry.name for entry in path.parent.iterdir()] == ["depth.png"]  # no temporary file left


def test_users_scale_wins_over_the_stored_one(tmp_path: Path) -> None:
    path = tmp_path / "d.png"
    write_depth_png(path, RAMP, scale=1e-3)
    values, used = read_depth(path, scale=2e-3)
    assert used == 2e-3
    np.testing.assert_allclose(values, RAMP * 2)


def test_stored_scale_gives_metres_to_load_depth(tmp_path: Path) -> None:
    path = tmp_path / "d.png"
    write_depth_png(path, RAMP, scale=1e-3)
    assert load_depth(path, (2, 3)).near_far == pytest.approx((1.0, 6.0))


def test_write_keeps_tiny_depths_valid(tmp_path: Path) -> None:
    write_depth_png(tmp_path / "d.png", np.array([[1e-6, 10.0]]), scale=1e-2)
    values, _ = read_depth(tmp_path / "d.png")
    np.testing.assert_allclose(values, [[1e-2, 10.0]])


@pytest.mark.parametrize(
    ("name", "depth", "scale"),
    [("d.jpg", RAMP, None), ("d.png", RAMP, 0.0), ("d.png", RAMP, float("nan")), ("d.png", RAMP * 1e3, 1e-3)],
)
def test_write_refuses_bad_requests(tmp_path: Path, name: str, depth: np.ndarray, scale: float | None) -> None:
    with pytest.raises(ConfigError, match="^" + str(tmp_path)):
        write_depth_png(tmp_path / name, depth, scale=scale)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- holes


@pytest.mark.parametrize("holes", ["fill", "mask"])
def test_valid_is_false_exactly_at_the_holes(tmp_path: Path, holes: str) -> None:
    depth = np.arange(1, 65, dtype=np.float64).reshape(8, 8)
    hole_mask = np.zeros((8, 8), dtype=bool)
    hole_mask[3, 3] = hole_mask[0, 7] = hole_mask[6, 1] = hole_mask[5, 5] = True
    depth[3, 3], depth[0, 7], depth[6, 1], depth[5, 5] = 0.0, np.nan, -2.0, -np.inf
    np.save(tmp_path / "d.npy", depth)
    result = load_depth(tmp_path / "d.npy", (8, 8), holes=holes)
    assert torch.equal(result.valid[0, 0], torch.from_numpy(~hole_mask))
    assert torch.isfinite(result.depth).all()
    unit = result.depth[0, 0].double().numpy() * 63 + 1  # back to the file's values
    for row, column in zip(*np.nonzero(hole_mask), strict=True):
        window = depth[max(row - 1, 0) : row + 2, max(column - 1, 0) : column + 2]
        neighbours = window[np.isfinite(window) & (window > 0)]
        assert neighbours.min() - 1e-4 <= unit[row, column] <= neighbours.max() + 1e-4


def test_large_hole_is_filled_within_the_valid_range(tmp_path: Path) -> None:
    depth = np.linspace(2.0, 9.0, 16 * 16).reshape(16, 16)
    depth[4:12, 4:12] = 0.0
    np.save(tmp_path / "d.npy", depth)
    result = load_depth(tmp_path / "d.npy", (16, 16))
    assert result.near_far == (2.0, 9.0)
    assert (result.depth >= 0).all() and (result.depth <= 1).all()
    assert not result.valid[0, 0, 4:12, 4:12].any() and result.valid.sum() == 16 * 16 - 64


# ------------------------------------------------------------------------------------------- resizing


def test_resized_to_an_image_of_the_same_aspect(tmp_path: Path) -> None:
    depth = np.tile(np.linspace(1.0, 4.0, 8), (4, 1))  # 8 wide x 4 high, increasing to the right
    depth[0, 0] = 0.0
    np.save(tmp_path / "d.npy", depth)
    bigger = load_depth(tmp_path / "d.npy", (8, 16))
    assert bigger.depth.shape == bigger.valid.shape == (1, 1, 8, 16)
    assert not bigger.valid[0, 0, :2, :2].any() and bigger.valid.sum() == 8 * 16 - 4
    assert (bigger.depth[0, 0, 4].diff() >= 0).all()
    smaller = load_depth(tmp_path / "d.npy", (2, 4))
    assert smaller.depth.shape == (1, 1, 2, 4) and (smaller.depth >= 0).all() and (smaller.depth <= 1).all()
    assert (smaller.depth[0, 0, 1].diff() > 0).all()


def test_small_aspect_difference_is_accepted(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.arange(1.0, 1 + 100 * 99).reshape(100, 99))
    assert load_depth(tmp_path / "d.npy", (200, 200)).depth.shape == (1, 1, 200, 200)


# ------------------------------------------------------------------------------------------- failures


def _write(name: str, make: Callable[[Path], object]) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        make(path)
        return path

    return build


def _truncated_png(path: Path) -> None:
    _save_png(path, np.random.default_rng(0).integers(1, 65535, (64, 64), dtype=np.uint16))
    path.write_bytes(path.read_bytes()[:300])


def _truncated_exr(path: Path) -> None:
    _save_exr(path, {"Z": np.random.default_rng(0).random((64, 64)).astype(np.float32)})
    path.write_bytes(path.read_bytes()[:-40])


def _truncated_npy(path: Path) -> None:
    np.save(path, np.ones((4, 4)))
    path.write_bytes(path.read_bytes()[:90])


BAD_FILES = {
    "missing": (lambda folder: folder / "absent.png", "no such file"),
    "directory": (_write("folder.png", lambda p: p.mkdir()), "directory"),
    "empty": (_write("empty.png", lambda p: p.write_bytes(b"")), "empty file"),
    "unknown suffix": (_write("d.jpg", lambda p: p.write_bytes(b"x")), "unsupported depth map format '.jpg'"),
    "text as png": (_write("d.png", lambda p: p.write_text("not an image")), "not a recognised image"),
    "truncated png": (_write("d.png", _truncated_png), "truncated or corrupt"),
    "colour png": (
        _write("d.png", lambda p: _save_png(p, np.dstack([RAMP, RAMP * 2, RAMP]).astype(np.uint8))),
        "a colour image, not a depth map",
    ),
    "cmyk tiff": (_write("d.tif", lambda p: Image.new("CMYK", (3, 2)).save(p)), "mode CMYK"),
    "bad stored scale": (
        _write("d.png", lambda p: _save_png(p, RAMP.astype(np.uint16), {"restyle:depth_scale": "-1"})),
        "depth_scale",
    ),
    "text as exr": (_write("d.exr", lambda p: p.write_text("not an exr" * 10)), "not a readable EXR"),
    "truncated exr": (_write("d.exr", _truncated_exr), "truncated or corrupt EXR"),
    "exr without depth": (
        _write("d.exr", lambda p: _save_exr(p, {"G": RAMP.astype(np.float32), "A": RAMP.astype(np.float32)})),
        "no depth channel .* A, G",
    ),
    "exr two layers": (
        _write("d.exr", lambda p: _save_exr(p, {"a.Z": RAMP.astype(np.float32), "b.Z": RAMP.astype(np.float32)})),
        "several channels",
    ),
    "png as npy": (_write("d.npy", lambda p: _save_png(p, RAMP.astype(np.uint8))), "not a NumPy"),
    "truncated npy": (_write("d.npy", _truncated_npy), "truncated or corrupt"),
    "npy 3 channels": (_write("d.npy", lambda p: np.save(p, np.ones((2, 3, 3)))), "shape \\(2, 3, 3\\)"),
    "npy 1d": (_write("d.npy", lambda p: np.save(p, np.ones(6))), "shape \\(6,\\)"),
    "npy bool": (_write("d.npy", lambda p: np.save(p, np.ones((2, 3), bool))), "dtype bool"),
    "npy complex": (_write("d.npy", lambda p: np.save(p, np.ones((2, 3), complex))), "dtype complex128"),
    "all holes": (
        _write("d.npy", lambda p: np.save(p, np.array([[0, np.nan, -1.0], [np.inf, -np.inf, 0]]))),
        "no valid depth",
    ),
    "constant": (
        _write("d.npy", lambda p: np.save(p, np.array([[2.0, 0.0, 2.0], [2.0, 2.0, np.nan]]))),
        "every pixel has the same depth: nothing to tell near from far",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_one_line_input_errors(tmp_path: Path, case: str) -> None:
    make, problem = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(InputError) as caught:
        load_depth(path, (2, 3))
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert re.search(problem, message), message


@pytest.mark.parametrize("suffix", [".png", ".exr", ".npy"])
def test_too_many_pixels_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"d{suffix}"
    writers = {".png": lambda: _save_png(path, RAMP.astype(np.uint16)), ".npy": lambda: np.save(path, RAMP)}
    writers.get(suffix, lambda: _save_exr(path, {"Z": RAMP.astype(np.float32)}))()
    monkeypatch.setattr(depth_io, "DEFAULT_MAX_PIXELS", 5)  # 2x3 = 6 pixels
    with pytest.raises(InputError, match="^" + re.escape(f"{path}: 3x2 has more than the 5 pixel limit") + "$"):
        load_depth(path, (2, 3))


def test_aspect_mismatch_is_an_input_error(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", np.arange(1.0, 13.0).reshape(3, 4))
    with pytest.raises(InputError) as caught:
        load_depth(tmp_path / "d.npy", (4, 4))
    assert str(caught.value) == (
        f"{tmp_path / 'd.npy'}: depth map is 4×3 but the image is 4×4: "
        "their aspect ratios differ (is it the depth of another photo?)"
    )


BAD_OPTIONS = {
    "zero scale": ({"scale": 0.0}, "scale"),
    "negative scale": ({"scale": -1e-3}, "scale"),
    "infinite scale": ({"scale": float("inf")}, "scale"),
    "nan scale": ({"scale": float("nan")}, "scale"),
    "near equals far": ({"depth_range": (2.0, 2.0)}, "near < far"),
    "near beyond far": ({"depth_range": (5.0, 1.0)}, "near < far"),
    "disparity with range": ({"disparity": True, "depth_range": (1.0, 5.0)}, "disparity"),
    "unknown holes mode": ({"holes": "inpaint"}, "holes must be one of fill, mask"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_options_are_one_line_config_errors(tmp_path: Path, case: str) -> None:
    options, problem = BAD_OPTIONS[case]
    np.save(tmp_path / "d.npy", RAMP)
    with pytest.raises(ConfigError, match=problem) as caught:
        load_depth(tmp_path / "d.npy", (2, 3), **options)
    assert str(caught.value).startswith(f"{tmp_path / 'd.npy'}: ") and "\n" not in str(caught.value)


def test_read_depth_refuses_a_bad_scale(tmp_path: Path) -> None:
    np.save(tmp_path / "d.npy", RAMP)
    with pytest.raises(ConfigError, match="positive finite"):
        read_depth(tmp_path / "d.npy", scale=-1.0)


def test_accepted_suffixes_are_listed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=", ".join(depth_io.SUFFIXES).replace(".", r"\.")):
        read_depth(tmp_path / "d.bmp")
