"""CLIP tokenizer: ids computed by hand on a tiny vocabulary, OpenAI's text cleaning, and the refusal of unusable
vocabularies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from tokenizers.pre_tokenizers import ByteLevel

from restyle.errors import WeightsMissingError
from restyle.text.tokenizer import ClipTokenizer, load_clip_tokenizer

START, END = 18, 19  # ids of <|startoftext|> and <|endoftext|> in the tiny vocabulary (conftest.py)
BYTES = tuple(sorted(ByteLevel.alphabet()))  # the 256 characters byte-level BPE spells any text with


def ids(tokenizer: ClipTokenizer, prompt: str) -> list[int]:
    row = tokenizer([prompt])[0].tolist()
    return row[: row.index(END) + 1]


def test_token_ids_match_a_hand_computed_bpe(tiny_vocabulary: Path) -> None:
    tokenizer = ClipTokenizer.from_folder(tiny_vocabulary)
    # "a" -> "a</w>" (7); "cat" -> c a t</w> -> ca t</w> -> cat</w> (12)
    assert ids(tokenizer, "a cat") == [START, 7, 12, END]
    # "photo" -> p h o t o</w> -> ph, pho, to</w>, photo</w> (16); "of" -> o f</w> -> of</w> (17); lower-cased
    assert ids(tokenizer, "A Photo of a CAT") == [START, 7, 16, 17, 7, 12, END]
    # no merge applies to "tot": t o t</w> -> t (6), o (4), t</w> (10)
    assert ids(tokenizer, "tot") == [START, 6, 4, 10, END]


@pytest.fixture
def byte_vocabulary(tmp_path: Path, write_vocabulary: Callable[..., Path]) -> Path:
    """Every byte a token of its own (alone and word-final), with the tiny vocabulary's merges: any two texts that
    differ after cleaning get different ids, so equal ids are the cleaning's doing."""
    merged = ("ca", "cat</w>", "ph", "pho", "to</w>", "photo</w>", "of</w>")
    tokens = (*BYTES, *(byte + "</w>" for byte in BYTES), *merged, "<|startoftext|>", "<|endoftext|>")
    return write_vocabulary(tmp_path / "bytes", tokens)


def used_ids(tokenizer: ClipTokenizer, prompt: str) -> list[int]:
    row = tokenizer([prompt])[0].tolist()
    return row[: row.index(tokenizer.end_of_text_id) + 1]


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("Van Gogh’s “Starry Night”", 'van gogh\'s "starry night"'),
        ("rock &amp; roll &amp;amp; blues", "rock & roll & blues"),  # an entity escaped twice too
        ("ﬁreﬂies", "fireflies"),
        ("ＦＵＬＬ－ｗｉｄｔｈ ｃａｔ", "full-width cat"),
    ],
    ids=["curly-quotes", "html-entities", "ligatures", "full-width"],
)
def test_prompts_are_cleaned_as_openai_clip_cleans_them(byte_vocabulary: Path, typed: str, clean: str) -> None:
    tokenizer = ClipTokenizer.from_folder(byte_vocabulary)
    assert used_ids(tokenizer, typed) == used_ids(tokenizer, clean)
    uncleaned = tokenizer.backend([typed, clean], padding="max_length", max_length=77)["input_ids"]
    assert uncleaned[0] != uncleaned[1]  # transformers alone tokenises the typed text differently


def test_whitespace_is_collapsed_and_text_lower_cased(byte_vocabulary: Path) -> None:
    tokenizer = ClipTokenizer.from_folder(byte_vocabulary)
    assert used_ids(tokenizer, " \t A  Photo\n\nof a  CAT \n") == used_ids(tokenizer, "a photo of a cat")
    assert used_ids(tokenizer, "a photo of a cat") == [tokenizer.backend.convert_tokens_to_ids(t) for t in (
        "<|startoftext|>", "a</w>", "photo</w>", "of</w>", "a</w>", "cat</w>", "<|endoftext|>")]


def test_batches_are_padded_to_the_context_length(tiny_vocabulary: Path) -> None:
    tokens = ClipTokenizer.from_folder(tiny_vocabulary)(["a cat", "a photo of a cat"])
    assert tokens.shape == (2, 77) and tokens.dtype == torch.int64
    # the end of text is the first largest id of each row: what the text towers pool at
    assert tokens.argmax(dim=-1).tolist() == [3, 6]


def test_long_prompts_are_truncated_to_the_context(tiny_vocabulary: Path) -> None:
    tokens = ClipTokenizer.from_folder(tiny_vocabulary, context_length=8)(["a cat " * 20])
    assert tokens.shape == (1, 8) and tokens[0, 0] == START


@pytest.mark.parametrize(
    "break_it",
    [
        lambda folder: (folder / "vocab.json").write_text("{}"),
        lambda folder: (folder / "vocab.json").unlink(),
        lambda folder: (folder / "merges.txt").write_text("#version: 0.2\n"),  # loads, but cannot merge
        lambda folder: (folder / "vocab.json").write_text('{"<|startoftext|>": 0, "<|endoftext|>": 1}'),
    ],
    ids=["empty-vocab", "no-vocab", "no-merges", "specials-only"],
)
def test_an_unusable_vocabulary_is_a_one_line_error_with_the_remedy(tiny_vocabulary: Path, break_it) -> None:
    break_it(tiny_vocabulary)
    with pytest.raises(WeightsMissingError) as caught:
        ClipTokenizer.from_folder(tiny_vocabulary)
    message = str(caught.value)
    assert "\n" not in message and "not a usable CLIP vocabulary" in message
    assert "restyle weights download clip-vit-b32" in message and str(tiny_vocabulary) in message


def test_load_finds_the_vocabulary_in_the_weights_dir(
    tmp_path: Path, offline_caches: Path, write_vocabulary: Callable[[Path], Path]
) -> None:
    folder = write_vocabulary(tmp_path / "weights" / "clip-vit-base-patch32")
    tokenizer = load_clip_tokenizer(tmp_path / "weights")
    assert tokenizer.folder == folder and ids(tokenizer, "a cat") == [START, 7, 12, END]


def test_vocab_without_merges_beside_it_is_not_found(offline_caches: Path, tiny_vocabulary: Path) -> None:
    folder = tiny_vocabulary
    (folder / "merges.txt").unlink()
    with pytest.raises(WeightsMissingError) as caught:
        load_clip_tokenizer(folder)
    message = str(caught.value)
    assert "\n" not in message and "vocab.json with merges.txt beside it" in message
    assert "restyle weights download clip-tokenizer" in message and "clip-vit-b32" in message
