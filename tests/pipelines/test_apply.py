"""``restyle apply``: a saved U-Net run over images, folders and videos gives exactly the network's outputs; bad
models and inputs are one-line errors before any work, and inputs are never overwritten."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from restyle.api import apply_model
from restyle.errors import ConfigError, InputError
from restyle.io.images import load_image, save_image
from restyle.params.unet import UNet, UNetSpec, unet_checkpoint


@pytest.fixture
def unet() -> UNet:
    net = UNet(UNetSpec(base_channels=4, levels=2, seed=3)).eval()
    with torch.no_grad():  # a non-trivial network: the fresh head is near 0.5 everywhere
        net.head.bias.copy_(torch.tensor([0.3, -0.2, 0.1]))
    return net


@pytest.fixture
def model(tmp_path: Path, unet: UNet) -> Path:
    path = tmp_path / "style.pt"
    torch.save(unet_checkpoint(unet), path)
    return path


def _image(path: Path, height: int, width: int, seed: int = 0) -> Path:
    save_image(torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed)), path)
    return path


def _expected(unet: UNet, source: Path, path: Path) -> Path:
    with torch.no_grad():
        save_image(unet(load_image(source).unsqueeze(0))[0], path)
    return path




def test_image_reproduces_the_network_exactly(tmp_path, unet, model) -> None:
    source = _image(tmp_path / "photo.png", 37, 52)  # odd sizes: the U-Net pads and crops itself
    result = apply_model(model, [source], tmp_path / "out", device="cpu")
    assert result.outputs == (tmp_path / "out" / "photo.png",)
    expected = _expected(unet, source, tmp_path / "expected.png")
    assert result.outputs[0].read_bytes() == expected.read_bytes()


def test_size_sets_the_long_side_and_jpg_is_kept(tmp_path, model) -> None:
    source = _image(tmp_path / "photo.jpg", 40, 80)
    (output,) = apply_model(model, [source], tmp_path / "out", size=32, device="cpu").outputs
    assert output.name == "photo.jpg"
    assert load_image(output).shape == (3, 16, 32)


def test_folder_gives_one_output_per_image_sorted(tmp_path, model) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _image(folder / "b.png", 20, 30, seed=1)
    _image(folder / "a.png", 30, 20, seed=2)
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()  # not recursive
    _image(folder / "sub" / "c.png", 20, 20)
    result = apply_model(model, [folder], tmp_path / "out", device="cpu")
    assert [p.name for p in result.outputs] == ["a.png", "b.png"]
    assert all(p.is_file() for p in result.outputs)


def _frames(count: int = 3) -> list[np.ndarray]:
    """Smooth, distinct frames: H.264 halves the colour resolution, which noise would not survive."""
    rows, cols = np.meshgrid(np.linspace(0, 1, 24), np.linspace(0, 1, 32), indexing="ij")
    base = np.stack([rows, cols, 1 - rows], axis=-1)
    return [(np.roll(base, i, axis=-1) * 255).astype(np.uint8) for i in range(count)]


def _network_frames(unet: UNet, frames: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    with torch.no_grad():
        for frame in frames:
            image = torch.from_numpy(frame).permute(2, 0, 1).float() / 255.0
            result = unet(image.unsqueeze(0))[0]
            out.append((result.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())
    return out


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_video_keeps_frame_count_and_rate(tmp_path, unet, model, suffix) -> None:
    frames = _frames()
    source = tmp_path / f"clip{suffix}"
    if suffix == ".gif":
        imageio.mimwrite(source, frames, format="GIF", duration=200, loop=0)  # 200 ms per frame: 5 fps
    else:
        imageio.mimwrite(source, frames, format="FFMPEG", fps=5, codec="libx264", macro_block_size=2)
    read_back = [f[..., :3] for f in imageio.mimread(source)]  # what the codec kept of the input
    steps = []
    (output,) = apply_model(model, [source], tmp_path / "out", device="cpu", on_step=steps.append).outputs
    assert output == tmp_path / "out" / f"clip{suffix}"
    assert [s.step for s in steps] == [1, 2, 3] and steps[-1].total == 3
    written = [f[..., :3] for f in imageio.mimread(output)]
    assert len(written) == 3
    meta = imageio.get_reader(output).get_meta_data()
    fps = meta["fps"] if suffix == ".mp4" else 1000.0 / meta["duration"]
    assert fps == pytest.approx(5.0)
    for got, want in zip(written, _network_frames(unet, read_back), strict=True):
        assert got.shape == want.shape
        # GIF palettes and H.264 both lose a little; a wrong frame would be off by far more
        assert np.abs(got.astype(float) - want.astype(float)).mean() < 4


def test_existing_output_needs_overwrite_and_inputs_are_never_overwritten(tmp_path, model) -> None:
    source = _image(tmp_path / "photo.png", 20, 20)
    apply_model(model, [source], tmp_path / "out", device="cpu")
    with pytest.raises(ConfigError, match="--overwrite"):
        apply_model(model, [source], tmp_path / "out", device="cpu")
    apply_model(model, [source], tmp_path / "out", device="cpu", overwrite=True)
    before = source.read_bytes()
    with pytest.raises(ConfigError, match="overwrite an input"):
        apply_model(model, [source], tmp_path, device="cpu", overwrite=True)
    assert source.read_bytes() == before


def test_two_inputs_with_one_output_name_are_refused(tmp_path, model) -> None:
    first, second = _image(tmp_path / "a.png", 20, 20), _image(tmp_path / "a.bmp", 20, 20)
    with pytest.raises(ConfigError, match="both"):
        apply_model(model, [first, second], tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()


def test_cli_applies_and_bad_model_is_one_line(run_cli, tmp_path, model) -> None:
    source = _image(tmp_path / "photo.png", 20, 20)
    code, out, err = run_cli("apply", model, source, "-o", tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out" / "photo.png").is_file() and "stylising photo.png" in err
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    code, _, err = run_cli("apply", bad, source, "-o", tmp_path / "other", "-q")
    assert code == 2 and err.strip().count("\n") == 0 and "bad.pt" in err
    assert not (tmp_path / "other").exists()
    torch.save({"state_dict": {}, "config": "{}"}, bad)  # loadable, but not a U-Net of this spec
    code, _, err = run_cli("apply", bad, source, "-o", tmp_path / "other", "-q")
    assert code == 2 and err.strip().count("\n") == 0


@pytest.mark.parametrize("name", ["notes.txt", "missing.png"])
def test_cli_non_media_or_missing_input_is_one_line_before_any_work(run_cli, tmp_path, model,
                                                                   name) -> None:
    good = _image(tmp_path / "good.png", 20, 20)
    if name == "notes.txt":
        (tmp_path / name).write_text("hello")
    code, _, err = run_cli("apply", model, good, tmp_path / name, "-o", tmp_path / "out", "-q")
    assert code == 2 and err.strip().count("\n") == 0 and name in err
    assert not (tmp_path / "out").exists()


def test_unreadable_video_is_an_input_error(tmp_path, model) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    with pytest.raises(InputError, match="clip.mp4"):
        apply_model(model, [fake], tmp_path / "out", device="cpu")
