"""ViT-B/32 CLIP via transformers: a tiny random model saved as the hub repo lays it out, loaded for real."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from restyle.backbones.precision import FP32, Precision
from restyle.errors import InputError, WeightsMissingError
from restyle.objectives.text import load_clip
from restyle.sections import WeightsConfig
from restyle.text.clip_vit_b32 import ClipViTB32, load_clip_vit_b32
from restyle.text.prompts import encode_prompt
from restyle.text.tokenizer import load_clip_tokenizer

PROJECTION = 16


@pytest.fixture
def weights(tiny_clip_weights: Path, write_vocabulary: Callable[[Path], Path], offline_caches: Path) -> Path:
    write_vocabulary(tiny_clip_weights / "clip-vit-base-patch32")
    return tiny_clip_weights


def test_loads_through_the_weights_machinery_and_embeds_text_and_images(weights: Path) -> None:
    assert (weights / "clip-vit-base-patch32" / "model.safetensors").is_file()
    model = load_clip_vit_b32(weights)
    tokenizer = load_clip_tokenizer(weights)
    assert model.embed_dim == PROJECTION and not model.training
    assert all(not parameter.requires_grad for parameter in model.parameters())
    text = model.encode_text(tokenizer(["a cat", "a photo of a cat"]))
    assert text.shape == (2, PROJECTION) and torch.isfinite(text).all()
    images = model.encode_image(torch.rand(3, 3, 40, 48))  # resized to the model's 32 x 32
    assert images.shape == (3, PROJECTION)


def test_image_gradients_flow_to_the_pixels(weights: Path) -> None:
    model = load_clip_vit_b32(weights)
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    model.encode_image(images).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_the_image_tower_runs_in_the_runs_precision_and_answers_in_float32(weights: Path) -> None:
    """bf16 (the run's ``--precision``) for the image tower that runs every step; embeddings back in float32, close
    to fp32's (bf16's 8-bit mantissa through two tiny layers: within a few percent)."""
    bf16 = Precision("bf16", "cpu")
    clip, _ = load_clip("clip-vit-b32", WeightsConfig(weights_dir=weights), torch.device("cpu"), precision=bf16)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert clip.precision == bf16
    embedding = clip.encode_image(images)
    clip.precision = FP32
    reference = clip.encode_image(images)
    assert embedding.dtype == torch.float32 and not torch.equal(embedding, reference)
    assert float((embedding - reference).norm() / reference.norm()) < 0.03


def test_encode_prompt_with_the_vit_gives_a_unit_vector(weights: Path) -> None:
    embedding = encode_prompt("a cat", load_clip_vit_b32(weights), load_clip_tokenizer(weights))
    assert embedding.shape == (PROJECTION,)
    torch.testing.assert_close(embedding.norm(), torch.tensor(1.0))


def test_missing_weights_name_the_download_command(tmp_path: Path, offline_caches: Path) -> None:
    with pytest.raises(WeightsMissingError) as caught:
        load_clip_vit_b32(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and "restyle weights download clip-vit-b32" in message
    assert "model.safetensors with config.json, vocab.json, merges.txt beside it" in message


def test_weights_without_their_config_are_not_found(
    tmp_path: Path, offline_caches: Path, write_vocabulary: Callable[[Path], Path]
) -> None:
    folder = write_vocabulary(tmp_path / "clip-vit-base-patch32")
    (folder / "model.safetensors").write_bytes(b"x")
    with pytest.raises(WeightsMissingError, match="restyle weights download clip-vit-b32"):
        load_clip_vit_b32(tmp_path)


def test_a_corrupt_model_file_is_a_one_line_input_error(
    tmp_path: Path, offline_caches: Path, write_vocabulary: Callable[[Path], Path]
) -> None:
    folder = write_vocabulary(tmp_path / "clip-vit-base-patch32")
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError) as caught:
        ClipViTB32.from_folder(folder)
    assert "\n" not in str(caught.value) and "not a loadable CLIP ViT-B/32 folder" in str(caught.value)
