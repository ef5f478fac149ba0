"""Shared pieces of the text-side tests: a hand-made BPE vocabulary and isolated, offline weight caches."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

# A tiny CLIP vocabulary: single characters, word-final pieces ("</w>"), a few merges, and the two special
# tokens with the largest ids (as in CLIP, where the end-of-text id is the vocabulary's largest).
TINY_TOKENS = (
    "a", "c", "f", "h", "o", "p", "t",  # 0..6
    "a</w>", "f</w>", "o</w>", "t</w>",  # 7..10
    "ca", "cat</w>", "ph", "pho", "to</w>", "photo</w>", "of</w>",  # 11..17
    "<|startoftext|>", "<|endoftext|>",  # 18, 19
)
TINY_MERGES = ("c a", "ca t</w>", "p h", "ph o", "t o</w>", "pho to</w>", "o f</w>")
START, END = 18, 19  # the test modules repeat these two numbers


def write_tiny_vocabulary(folder: Path, tokens: tuple[str, ...] = TINY_TOKENS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({token: index for index, token in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(TINY_MERGES) + "\n")
    return folder


@pytest.fixture
def write_vocabulary() -> Callable[[Path], Path]:
    """``write(folder) -> folder`` holding the tiny ``vocab.json`` + ``merges.txt``."""
    return write_tiny_vocabulary


@pytest.fixture
def tiny_vocabulary(tmp_path: Path) -> Path:
    return write_tiny_vocabulary(tmp_path / "vocab")


@pytest.fixture(scope="module")
def tiny_clip_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights dir holding ``clip-vit-base-patch32/`` (config.json, model.safetensors; vocabulary added by tests)."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(3)
    config = CLIPConfig(
        text_config={"vocab_size": 20, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 77, "bos_token_id": 18,
                     "eos_token_id": 19, "pad_token_id": 19},
        vision_config={"image_size": 32, "patch_size": 8, "hidden_size": 32, "intermediate_size": 48,
                       "num_hidden_layers": 2, "num_attention_heads": 2},
        projection_dim=16,  # test_clip_vit_b32.PROJECTION
    )
    root = tmp_path_factory.mktemp("weights")
    CLIPModel(config).save_pretrained(root / "clip-vit-base-patch32")
    return root


@pytest.fixture
def weights(tiny_clip_weights: Path, write_vocabulary: Callable[[Path], Path], offline_caches: Path) -> Path:
    """A weights folder with the tiny CLIP and its vocabulary, as `restyle weights download clip-vit-b32` lays out."""
    write_vocabulary(tiny_clip_weights / "clip-vit-base-patch32")
    return tiny_clip_weights
