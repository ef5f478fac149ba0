"""encode_prompt: CLIPstyler's templates, average-then-normalise, the per-encoder cache, bad input."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from restyle.errors import InputError
from restyle.text.prompts import IMAGENET_TEMPLATES, PROMPT_TEMPLATES, encode_prompt


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


class FixedEncoder(nn.Module):
    """Row i of ``rows`` for the i-th sentence of a batch; remembers the sentences' token ids it was given."""

    name = "fixed"

    def __init__(self, rows: list[list[float]]) -> None:
        super().__init__()
        self.rows = torch.tensor(rows)
        self.seen = 0

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        self.seen = tokens.shape[0]
        return self.rows[: tokens.shape[0]]


def test_raw_embeddings_are_averaged_then_normalised() -> None:
    """CLIPstyler's order. Normalising each first would give (1, 1)/sqrt(2) here: the longer row must weigh more."""
    embedding = encode_prompt("moss", FixedEncoder([[3.0, 0.0], [0.0, 1.0]]), tokenizer, ("{}.", "a {}."))
    torch.testing.assert_close(embedding, torch.tensor([3.0, 1.0]) / 10**0.5)
    assert not embedding.requires_grad


def test_is_the_normalised_mean_over_the_given_templates() -> None:
    encoder = CountingEncoder()
    templates = ("a photo of {}.", "{}.", "a painting of {}.")
    embedding = encode_prompt("moss", encoder, tokenizer, templates)
    each = encoder.encode_text(tokenizer([t.format("moss") for t in templates]))
    torch.testing.assert_close(embedding, F.normalize(each.mean(dim=0), dim=-1))
    torch.testing.assert_close(embedding.norm(), torch.tensor(1.0))
    assert embedding.shape == (6,)


def test_the_default_is_clipstylers_79_imagenet_templates() -> None:
    assert PROMPT_TEMPLATES is IMAGENET_TEMPLATES and len(set(IMAGENET_TEMPLATES)) == 79
    assert all(template.count("{}") == 1 for template in IMAGENET_TEMPLATES)
    # CLIPstyler's template.py: OpenAI's list without "a photo of many {}.", in its order
    assert IMAGENET_TEMPLATES[0] == "a bad photo of a {}." and IMAGENET_TEMPLATES[-1] == "a tattoo of the {}."
    assert "a photo of many {}." not in IMAGENET_TEMPLATES
    encoder = FixedEncoder(torch.eye(79).tolist())
    encode_prompt("moss", encoder, tokenizer)
    assert encoder.seen == 79  # every template is embedded


def test_cached_per_encoder_and_prompt() -> None:
    first, second = CountingEncoder(), CountingEncoder()
    a = encode_prompt("moss", first, tokenizer)
    assert encode_prompt("  moss ", first, tokenizer) is a and first.calls == 1
    encode_prompt("rust", first, tokenizer)
    encode_prompt("moss", second, tokenizer)
    assert first.calls == 2 and second.calls == 1


@pytest.mark.parametrize(("prompt", "templates"), [("  ", PROMPT_TEMPLATES), ("moss", ()), ("moss", ("no slot",))])
def test_bad_prompts_and_templates_are_refused(prompt: str, templates: tuple[str, ...]) -> None:
    with pytest.raises(InputError):
        encode_prompt(prompt, CountingEncoder(), tokenizer, templates)
