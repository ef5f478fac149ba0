"""``restyle image --text`` end to end (CLIPstyler for photos): the tiny random CLIP model of conftest, real VGG19
content features, a 48-pixel content image and 2 steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restyle.configs import load_toml
from restyle.io.images import save_image
from restyle.jobs.image.inputs import Sizing, load_sized
from restyle.params.unet import load_unet

FAST = ("--size", "48", "--iters", "2", "--crops", "3", "--crop-size", "16", "-q")




@pytest.fixture
def content(tmp_path: Path) -> Path:
    path = tmp_path / "content.png"
    save_image(torch.rand(3, 36, 48), path)
    return path


def test_text_run_writes_image_metrics_config_and_model(run_cli, weights, content, tmp_path) -> None:
    out, model = tmp_path / "out.png", tmp_path / "unet.pt"
    code, _, err = run_cli("image", content, "--text", "a cat", "-o", out, "--weights-dir", weights,
                        "--save-model", model, *FAST)
    assert code == 0, err
    assert out.is_file()
    entries = [json.loads(line) for line in out.with_suffix(".metrics.jsonl").read_text().splitlines()]
    assert len(entries) == 2 and {"patch", "directional", "content", "tv"} <= set(entries[-1])
    config = load_toml(out.with_suffix(".config.toml"))
    assert config["text"] == "a cat" and config["clip_text"]["source"] == "a Photo"
    assert config["optim"]["lr"] == 5e-4 and config["style"]["content_taps"] == ["conv4_2", "conv5_2"]
    assert config["weights"]["content"] == 150.0 and config["size"] == 48

    from restyle.io.images import load_image

    written = load_image(out)
    assert written.shape == (3, 36, 48)  # aspect ratio kept
    torch.testing.assert_close(_reloaded(model, content), written, atol=1 / 255 + 1e-4, rtol=0)  # 8-bit PNG


def test_saved_model_reproduces_the_final_image(weights, content, tmp_path) -> None:
    from restyle.api import stylize_image

    model = tmp_path / "unet.pt"
    result = stylize_image(content, output=tmp_path / "out.png", text="a cat", size=48, save_model=model,
                           optim={"iters": 2}, clip_text={"crops": 3, "crop_size": 16},
                           pretrained={"weights_dir": weights})
    assert result.model == model
    torch.testing.assert_close(_reloaded(model, content), result.image, atol=1e-5, rtol=0)


def _reloaded(model: Path, content: Path) -> torch.Tensor:
    """The saved U-Net applied to the content as the run sized it (48 px long side)."""
    unet = load_unet(torch.load(model, weights_only=True))
    with torch.no_grad():
        return unet(load_sized(content, Sizing(long_side=48), torch.device("cpu"), option="size"))[0]


def test_missing_clip_weights_is_one_line(run_cli, offline_caches, content, tmp_path) -> None:
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", content, "--text", "a cat", "-o", out,
                        "--weights-dir", tmp_path / "empty", *FAST)
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "restyle weights download clip-vit-b32" in err and "Traceback" not in err
    assert not out.exists() and not out.with_suffix(".metrics.jsonl").exists()


def test_text_with_style_images_is_refused(run_cli, content, tmp_path) -> None:
    code, _, err = run_cli("image", content, "--text", "a cat", "-s", content,
                        "-o", tmp_path / "out.png", *FAST)
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "--text with -s is not available yet" in err


def test_text_run_refuses_to_overwrite_an_input_or_an_output(run_cli, content, tmp_path) -> None:
    code, _, err = run_cli("image", content, "--text", "a cat", "-o", tmp_path / "out.png",
                        "--save-model", content, *FAST)
    assert code != 0 and "would overwrite an input" in err
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"keep")
    code, _, err = run_cli("image", content, "--text", "a cat", "-o", existing, *FAST)
    assert code != 0 and "--overwrite" in err and existing.read_bytes() == b"keep"
