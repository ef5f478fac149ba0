"""CLIP's byte-level BPE tokenizer (transformers ``CLIPTokenizer``) loaded from local ``vocab.json`` + ``merges.txt``.

Every OpenAI CLIP (RN50, ViT-B/32, ...) shares one vocabulary; the files come from the
``openai/clip-vit-base-patch32`` repository (weight sources "clip-tokenizer" and "clip-vit-b32").

Prompts are cleaned as OpenAI's tokenizer cleans them before the BPE, or a prompt typed with curly quotes
(``Van Gogh’s``), HTML entities, ligatures or full-width letters gets other token ids than real CLIP gives it,
and so another embedding: :func:`clean_text` does ``ftfy.fix_text`` and the HTML unescaping, and transformers'
``CLIPTokenizer`` itself collapses runs of whitespace and lower-cases (its normaliser, or its own ftfy path in
transformers 4), which the tests check.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import ftfy
import torch

from restyle.backbones.weights import load_backbone_weights, quiet_transformers
from restyle.errors import WeightsMissingError, first_line

CONTEXT_LENGTH = 77
START_OF_TEXT = "<|startoftext|>"
END_OF_TEXT = "<|endoftext|>"
# Encoded then decoded, this must come back word for word, one token per word (each is a single token in
# CLIP's vocabulary); a tokenizer that cannot do it is unusable. transformers can build an empty one, without
# error, from missing or empty files, and one without merges spells words letter by letter.
ROUND_TRIP_PROMPT = "a photo of a cat"


class ClipTokenizer:
    """Prompts -> token ids ``[B, context_length]`` (``<|startoftext|>`` ... ``<|endoftext|>``, padded, truncated)."""

    def __init__(self, backend: object, folder: Path, context_length: int = CONTEXT_LENGTH) -> None:
        self.backend = backend
        self.folder = folder
        self.context_length = context_length

    @classmethod
    def from_folder(cls, folder: Path, context_length: int = CONTEXT_LENGTH) -> ClipTokenizer:
        """Load ``folder/vocab.json`` + ``folder/merges.txt``; WeightsMissingError unless it round-trips a prompt."""
        from transformers import CLIPTokenizer

        folder = Path(folder)
        try:
            with quiet_transformers():
                backend = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
        except Exception as error:  # missing, empty or foreign files: all mean "no usable vocabulary here"
            raise WeightsMissingError(_unusable(folder, first_line(error))) from error
        tokenizer = cls(backend, folder, context_length)
        tokenizer.check_round_trip()
        return tokenizer

    @property
    def end_of_text_id(self) -> int:
        return int(self.backend.convert_tokens_to_ids(END_OF_TEXT))

    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        """``prompts`` (B strings) -> ``[B, context_length]`` int64 token ids."""
        if isinstance(prompts, str):
            prompts = [prompts]
        encoded = self.backend([clean_text(prompt) for prompt in prompts], padding="max_length",
                               max_length=self.context_length, truncation=True, return_tensors="pt")
        return encoded["input_ids"].long()

    def decode(self, ids: torch.Tensor) -> str:
        """One row of token ids -> text, special tokens removed."""
        return str(self.backend.decode(ids.tolist(), skip_special_tokens=True))

    def check_round_trip(self) -> None:
        """WeightsMissingError (one line, with the remedy) unless ``ROUND_TRIP_PROMPT`` survives encode + decode."""
        words = ROUND_TRIP_PROMPT.split()
        try:
            ids = self([ROUND_TRIP_PROMPT])[0]
            decoded = self.decode(ids)
        except Exception as error:  # the tokenizers backend raises plain Exception for a broken vocabulary
            raise WeightsMissingError(_unusable(self.folder, first_line(error))) from error
        if decoded.split() != words:
            raise WeightsMissingError(_unusable(self.folder, f"{ROUND_TRIP_PROMPT!r} came back as {decoded!r}"))
        # start, one token per word, end
        row = ids.tolist()
        used = row.index(self.end_of_text_id) + 1 if self.end_of_text_id in row else len(row)
        if used != len(words) + 2:
            reason = f"{ROUND_TRIP_PROMPT!r} took {used - 2} tokens instead of {len(words)} (merges.txt unusable?)"
            raise WeightsMissingError(_unusable(self.folder, reason))


def clean_text(text: str) -> str:
    """OpenAI CLIP's ``basic_clean``: ftfy's fixes (curly quotes, ligatures, full-width letters, mojibake), HTML
    entities unescaped twice (so a double-escaped ``&amp;amp;`` becomes ``&`` too), outer whitespace stripped."""
    return html.unescape(html.unescape(ftfy.fix_text(text))).strip()


def load_clip_tokenizer(weights_dir: Path | None = None, download: bool = False) -> ClipTokenizer:
    """The CLIP tokenizer from the weights machinery (weights dir, $RESTYLE_WEIGHTS_DIR, HF cache)."""
    vocab = load_backbone_weights("clip-tokenizer", weights_dir, download=download)
    return ClipTokenizer.from_folder(vocab.parent)


def _unusable(folder: Path, reason: str) -> str:
    return (
        f"{folder}: not a usable CLIP vocabulary ({reason}); expected vocab.json and merges.txt from "
        "huggingface.co/openai/clip-vit-base-patch32. Fix: run `restyle weights download clip-vit-b32`, "
        "or put both files in a folder and pass --weights-dir DIR"
    )
