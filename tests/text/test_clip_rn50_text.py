"""CLIP RN50 text tower: published keys, loading from the random checkpoint, causal mask, pooling at the EOT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restyle.backbones.testing import random_rn50_text_state
from restyle.errors import InputError, WeightsMissingError
from restyle.text.clip_rn50_text import ClipRN50TextEncoder, load_clip_rn50_text

SMALL = {"width": 64, "layers": 2, "embed_dim": 24, "vocab_size": 30, "context_length": 12}
EOT = SMALL["vocab_size"] - 1


@pytest.fixture(scope="module")
def small_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A narrow text tower in the published key layout, beside image keys that the loader must ignore."""
    torch.manual_seed(5)
    state = random_rn50_text_state(**SMALL)
    state["visual.conv1.weight"] = torch.randn(4, 3, 3, 3)
    state["logit_scale"] = torch.tensor(4.6)
    path = tmp_path_factory.mktemp("rn50-text") / "open_clip_pytorch_model.bin"
    torch.save(state, path)
    return path


def tokens(*rows: list[int]) -> torch.Tensor:
    padded = [row + [0] * (SMALL["context_length"] - len(row)) for row in rows]
    return torch.tensor(padded)


def test_full_size_keys_and_shapes_are_the_published_ones() -> None:
    expected = {key: tuple(value.shape) for key, value in random_rn50_text_state().items()}
    model = ClipRN50TextEncoder()
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == expected
    assert expected["text_projection"] == (512, 1024) and expected["positional_embedding"] == (77, 512)
    assert expected["transformer.resblocks.11.attn.in_proj_weight"] == (1536, 512)


def test_random_checkpoint_fixture_holds_the_text_tower(random_weights_dir: Path) -> None:
    model = load_clip_rn50_text(random_weights_dir)
    assert model.embed_dim == 1024 and model.context_length == 77
    embedding = model.encode_text(torch.tensor([[49406, 320, 1125, 49407] + [0] * 73] * 2))
    assert embedding.shape == (2, 1024) and torch.isfinite(embedding).all()


def test_loads_sizes_from_the_file_and_gives_b_by_d(small_checkpoint: Path) -> None:
    model = ClipRN50TextEncoder.from_checkpoint(small_checkpoint)
    assert len(model.transformer.resblocks) == 2 and not model.training
    assert all(not parameter.requires_grad for parameter in model.parameters())
    assert model(tokens([EOT - 1, 3, 4, EOT], [EOT - 1, 5, EOT])).shape == (2, SMALL["embed_dim"])


def test_tokens_after_the_end_of_text_do_not_change_the_embedding(small_checkpoint: Path) -> None:
    model = ClipRN50TextEncoder.from_checkpoint(small_checkpoint)
    base = model(tokens([EOT - 1, 3, 4, EOT, 0, 0]))
    changed = model(tokens([EOT - 1, 3, 4, EOT, 7, 8]))
    torch.testing.assert_close(base, changed)
    # ...whereas a token before it does (the mask is causal, not a no-op)
    assert not torch.allclose(base, model(tokens([EOT - 1, 3, 5, EOT])))


def test_the_embedding_is_read_at_the_end_of_text_token(small_checkpoint: Path) -> None:
    model = ClipRN50TextEncoder.from_checkpoint(small_checkpoint)
    ids = tokens([EOT - 1, 3, 4, EOT])
    x = model.token_embedding(ids) + model.positional_embedding[: ids.shape[1]]
    hidden = model.ln_final(model.transformer(x, model.causal_mask))
    torch.testing.assert_close(model(ids), hidden[:, 3] @ model.text_projection)


def test_a_checkpoint_without_the_text_tower_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "visual_only.bin"
    torch.save({"visual.conv1.weight": torch.randn(4, 3, 3, 3)}, path)
    with pytest.raises(InputError, match=r"visual_only.bin: not a CLIP text tower checkpoint \(missing key"):
        ClipRN50TextEncoder.from_checkpoint(path)


def test_missing_checkpoint_is_a_one_line_error(tmp_path: Path, offline_caches: Path) -> None:
    with pytest.raises(WeightsMissingError) as caught:
        load_clip_rn50_text(tmp_path)
    assert "\n" not in str(caught.value) and "restyle weights download clip-rn50" in str(caught.value)
