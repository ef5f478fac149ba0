"""``restyle apply``: a saved U-Net run over images, folders and videos gives exactly the network's outputs; bad
models and inputs are one-line errors before any work, and inputs are never overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from restyle.api import apply_model
from restyle.errors import ConfigError, InputError
from restyle.io.images import load_image, save_image
from restyle.jobs.apply import run as apply_pipeline
from restyle.params import unet as unet_module
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


# ------------------------------------------------------------------------- refused before anything is written


def _small_model(path: Path, state_dict: dict[str, torch.Tensor], **config: object) -> Path:
    """A checkpoint of a few bytes whose config asks for whatever ``config`` says."""
    torch.save({"state_dict": state_dict, "config": json.dumps({"kind": "unet", **config})}, path)
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"base_channels": 4, "levels": 40, "seed": 0}, r"levels must be >= 1 and <= 8; got 40"),
        ({"base_channels": 512, "levels": 3, "seed": 0}, r"base_channels must be >= 1 and <= 256; got 512"),
        ({"base_channels": 4, "levels": 0, "seed": 0}, r"levels must be >= 1 and <= 8; got 0"),
        ({"base_channels": 4, "levels": 2, "seed": -1}, r"seed must be >= 0"),
        ({"base_channels": 4, "levels": "40", "seed": 0}, r"levels must be a whole number, got '40'"),
        ({"base_channels": 4, "levels": True, "seed": 0}, r"levels must be a whole number, got True"),
        ({"base_channels": 4, "levels": 2, "seed": 0, "width": 9}, r"its config has \['base_channels'"),
    ],
)
def test_a_model_spec_restyle_cannot_save_is_refused_before_building(tmp_path, monkeypatch, config,
                                                                      message) -> None:
    built = []
    monkeypatch.setattr(apply_pipeline, "build_unet", lambda *args: built.append(args))
    model = _small_model(tmp_path / "huge.pt", {}, **config)
    with pytest.raises(InputError, match=rf"huge\.pt: not a U-Net .*{message}"):
        apply_model(model, [_image(tmp_path / "photo.png", 20, 20)], tmp_path / "out", device="cpu")
    assert built == [] and not (tmp_path / "out").exists()


def test_a_spec_larger_than_its_tensors_is_refused_without_allocating_it(tmp_path, monkeypatch, unet) -> None:
    # within the options' ranges, but asking for far more than the file holds: refused by shape alone
    devices = []
    original_init = unet_module.UNet.__init__

    def recording_init(self, spec=UNetSpec()):
        original_init(self, spec)
        devices.append(next(self.parameters()).device.type)

    monkeypatch.setattr(unet_module.UNet, "__init__", recording_init)
    model = _small_model(tmp_path / "liar.pt", unet.state_dict(), base_channels=64, levels=4, seed=0)
    with pytest.raises(InputError, match=r"liar\.pt: not a U-Net .*tensors do not fit"):
        apply_model(model, [_image(tmp_path / "photo.png", 20, 20)], tmp_path / "out", device="cpu")
    assert devices == ["meta"] and not (tmp_path / "out").exists()


def _truncated_png(path: Path) -> Path:
    """A PNG whose header (size, mode) reads and whose pixel data stops half way."""
    _image(path, 64, 64)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with Image.open(path) as image:  # the header alone does not show the damage
        assert image.size == (64, 64)
    return path


def test_a_folder_with_one_undecodable_image_writes_nothing(tmp_path, model) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _image(folder / "a.png", 20, 20)  # sorted first: it would be written before b.png is read
    _truncated_png(folder / "b.png")
    with pytest.raises(InputError, match=r"b\.png: truncated or corrupt"):
        apply_model(model, [folder], tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()


def _damaged_video(path: Path) -> Path:
    """A clip whose container opens but whose frames do not decode: a GIF cut short, an MP4 with its frame data
    overwritten (imageio-ffmpeg puts the index at the end, so the middle of the file is frame data)."""
    if path.suffix == ".gif":
        imageio.mimwrite(path, _frames(6), format="GIF", duration=200, loop=0)
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
    else:
        imageio.mimwrite(path, _frames(30), format="FFMPEG", fps=5, codec="libx264", macro_block_size=2)
        data = bytearray(path.read_bytes())
        data[len(data) // 4 : len(data) // 2] = b"\x55" * (len(data) // 2 - len(data) // 4)
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_a_damaged_video_after_an_image_writes_nothing(tmp_path, model, suffix) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    _image(folder / "a.png", 20, 20)  # sorted first
    _damaged_video(folder / f"b{suffix}")
    with pytest.raises(InputError, match=rf"b\{suffix}: truncated or corrupt video"):
        apply_model(model, [folder], tmp_path / "out", device="cpu")
    assert not (tmp_path / "out").exists()


def test_a_video_without_a_frame_rate_after_an_image_writes_nothing(tmp_path, model) -> None:
    frames = [Image.fromarray(frame) for frame in _frames()]
    frames[0].save(tmp_path / "b.gif", save_all=True, append_images=frames[1:])  # no duration: no frame rate
    with pytest.raises(InputError, match=r"b\.gif: the video states no frame rate"):
        apply_model(model, [_image(tmp_path / "a.png", 20, 20), tmp_path / "b.gif"], tmp_path / "out",
                    device="cpu")
    assert not (tmp_path / "out").exists()


def test_cli_output_naming_an_existing_file_is_one_line(run_cli, tmp_path, model) -> None:
    source = _image(tmp_path / "photo.png", 20, 20)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    code, _, err = run_cli("apply", model, source, "-o", notes, "-q")
    assert code == 2 and err.strip().count("\n") == 0 and "notes.txt: output must be a folder" in err
    assert notes.read_text() == "mine"


def test_a_folder_in_an_outputs_place_is_refused_even_with_overwrite(tmp_path, model) -> None:
    sources = [_image(tmp_path / "a.png", 20, 20), _image(tmp_path / "b.png", 20, 20)]
    (tmp_path / "out" / "b.png").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"b\.png: output must be a file"):
        apply_model(model, sources, tmp_path / "out", device="cpu", overwrite=True)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.png"]


@pytest.mark.parametrize("where", ["model", "input", "in a folder"])
def test_cli_a_named_pipe_is_refused_at_once(tmp_path, model, where) -> None:
    """Opening a FIFO blocks until something writes to it: run in a child, so that a regression fails on the
    timeout instead of hanging the test run."""
    photos = tmp_path / "photos"
    photos.mkdir()
    _image(photos / "a.png", 20, 20)
    pipe = {"model": tmp_path / "model.pt", "input": tmp_path / "clip.mp4", "in a folder": photos / "clip.mp4"}[where]
    os.mkfifo(pipe)
    inputs = {"model": [photos], "input": [photos / "a.png", pipe], "in a folder": [photos]}[where]
    args = [pipe if where == "model" else model, *inputs, "-o", tmp_path / "out", "-q", "--device", "cpu"]
    done = subprocess.run([sys.executable, "-m", "restyle", "apply", *map(str, args)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and f"{pipe}: is a named pipe (FIFO), not a regular file" in done.stderr
    assert not (tmp_path / "out").exists()
