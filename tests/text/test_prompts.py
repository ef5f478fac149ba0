"""encode_prompt: templates, normalise-average-normalise, the per-encoder cache, bad input."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from restyle.errors import InputError
from restyle.text.prompts import PROMPT_TEMPLATES, encode_prompt


class CountingEncoder(nn.Module):
    """Embeds token ids with a fixed random linear map; counts its calls."""

    name = "counting"

    def __init__(self, dim: int = 6) -> None:
        super().__init__()
        self.map = nn.Linear(8, dim)
        self.calls = 0

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.map(tokens.float())


def tokenizer(prompts: Sequence[str]) -> torch.Tensor:
    """Deterministic fake ids: character codes of the first 8 characters, scaled."""
    return torch.tensor([[ord(c) / 100 for c in prompt.ljust(8)[:8]] for prompt in prompts])


def test_is_the_normalised_mean_of_per_template_unit_embeddings() -> None:
    encoder = CountingEncoder()
    templates = ("a photo of {}.", "{}.", "a painting of {}.")
    embedding = encode_prompt("moss", encoder, tokenizer, templates)
    each = F.normalize(encoder.encode_text(tokenizer([t.format("moss") for t in templates])), dim=-1)
    torch.testing.assert_close(embedding, F.normalize(each.mean(dim=0), dim=-1))
    torch.testing.assert_close(embedding.norm(), torch.tensor(1.0))
    assert embedding.shape == (6,) and not embedding.requires_grad


def test_cached_per_encoder_and_prompt() -> None:
    first, second = CountingEncoder(), CountingEncoder()
    a = encode_prompt("moss", first, tokenizer)
    assert encode_prompt("  moss ", first, tokenizer) is a and first.calls == 1
    encode_prompt("rust", first, tokenizer)
    encode_prompt("moss", second, tokenizer)
    assert first.calls == 2 and second.calls == 1


def test_our_templates_each_hold_one_slot() -> None:
    assert 10 <= len(PROMPT_TEMPLATES) <= 20
    assert all(template.count("{}") == 1 for template in PROMPT_TEMPLATES)


@pytest.mark.parametrize(("prompt", "templates"), [("  ", PROMPT_TEMPLATES), ("moss", ()), ("moss", ("no slot",))])
def test_bad_prompts_and_templates_are_refused(prompt: str, templates: tuple[str, ...]) -> None:
    with pytest.raises(InputError):
        encode_prompt(prompt, CountingEncoder(), tokenizer, templates)
