"""CLIP RN50's text tower (a causal transformer), with OpenAI's module and key names.

Read from the same checkpoint as the image tower (``restyle.backbones.clip_rn50``): OpenAI's ``RN50.pt``
or open_clip's state dict, keys ``token_embedding.weight``, ``positional_embedding``,
``transformer.resblocks.N.{ln_1,attn,ln_2,mlp.c_fc,mlp.c_proj}.*``, ``ln_final.*`` and ``text_projection``
(``[width, embed_dim]``, used as ``x @ text_projection``). RN50: 12 layers, width 512, 8 heads, a
77-token context, a 1024-d embedding. The sentence embedding is read at the end-of-text token, which is
the largest id in CLIP's vocabulary, hence ``argmax`` over the ids (padding must use smaller ids or the
end-of-text id itself: the first largest id wins).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from restyle.backbones.base import load_matching, read_state_dict
from restyle.backbones.weights import load_backbone_weights

if TYPE_CHECKING:
    from typing_extensions import Self

RN50_TEXT_WIDTH = 512
RN50_TEXT_LAYERS = 12
RN50_EMBED_DIM = 1024
CLIP_VOCAB_SIZE = 49408
CLIP_CONTEXT_LENGTH = 77
_HEAD_WIDTH = 64  # CLIP's rule: heads = width / 64
_TEXT_KEY_PREFIXES = ("token_embedding.", "transformer.", "ln_final.")
_TEXT_KEYS = ("positional_embedding", "text_projection")


class QuickGELU(nn.Module):
    """OpenAI's GELU approximation, ``x * sigmoid(1.702 x)``; the published weights were trained with it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict([("c_fc", nn.Linear(width, width * 4)), ("gelu", QuickGELU()),
                         ("c_proj", nn.Linear(width * 4, width))])
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, causal_mask: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, L, width]``; ``causal_mask`` ``[L, L]`` additive (-inf above the diagonal)."""
        normed = self.ln_1(x)
        x = x + self.attn(normed, normed, normed, attn_mask=causal_mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of ``layers`` blocks held in ``resblocks`` (OpenAI's key names)."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor, causal_mask: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x, causal_mask)
        return x


class ClipRN50TextEncoder(nn.Module):
    """Token ids ``[B, L]`` -> CLIP text embeddings ``[B, embed_dim]`` (not normalised). Frozen, eval mode.

    Defaults are RN50's; smaller sizes keep every key name (for tests).
    """

    name = "clip-rn50"

    def __init__(
        self,
        width: int = RN50_TEXT_WIDTH,
        layers: int = RN50_TEXT_LAYERS,
        embed_dim: int = RN50_EMBED_DIM,
        vocab_size: int = CLIP_VOCAB_SIZE,
        context_length: int = CLIP_CONTEXT_LENGTH,
    ) -> None:
        super().__init__()
        self.context_length = context_length
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.randn(context_length, width) * 0.01)
        self.transformer = Transformer(width, layers, heads=max(1, width // _HEAD_WIDTH))
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, embed_dim) * width**-0.5)
        mask = torch.full((context_length, context_length), float("-inf")).triu(1)
        # Not persistent: the state dict must hold exactly the published keys.
        self.register_buffer("causal_mask", mask, persistent=False)
        self.requires_grad_(False)
        self.eval()

    @property
    def embed_dim(self) -> int:
        return int(self.text_projection.shape[1])

    def train(self, mode: bool = True) -> Self:
        # Frozen feature extractor: always in eval mode, whatever the caller asks.
        return super().train(False)

    @classmethod
    def from_checkpoint(cls, path: Path) -> Self:
        """Load the text tower from OpenAI's ``RN50.pt`` or an open_clip state dict (``visual.*`` ignored).

        Sizes are read from the file, so narrow test models load too; keys must match exactly.
        """
        path = Path(path)
        found = select_text_keys(read_state_dict(path))
        model = cls(**_dimensions_from(found))
        load_matching(model, found, path=path, what="CLIP text tower")
        return model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens`` ``[B, L]`` int64 (``L <= context_length``) -> ``[B, embed_dim]``."""
        length = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[:length]
        x = self.ln_final(self.transformer(x, self.causal_mask[:length, :length]))
        at_end_of_text = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
        return at_end_of_text @ self.text_projection

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Same as ``forward``: the method every text encoder offers."""
        return self(tokens)


def load_clip_rn50_text(weights_dir: Path | None = None, download: bool = False) -> ClipRN50TextEncoder:
    """The RN50 text tower from the ``clip-rn50`` checkpoint found by the weights machinery."""
    return ClipRN50TextEncoder.from_checkpoint(load_backbone_weights("clip-rn50", weights_dir, download=download))


def select_text_keys(found: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The text tower's entries of a full CLIP state dict (keys kept whole)."""
    return {key: value for key, value in found.items() if key in _TEXT_KEYS or key.startswith(_TEXT_KEY_PREFIXES)}


def _dimensions_from(found: dict[str, torch.Tensor]) -> dict[str, int]:
    """Constructor arguments implied by the keys; defaults (RN50) for absent ones (the strict check reports them)."""
    dimensions: dict[str, int] = {}
    embedding = found.get("token_embedding.weight")
    if embedding is not None and embedding.ndim == 2:
        dimensions["vocab_size"], dimensions["width"] = (int(size) for size in embedding.shape)
    positions = found.get("positional_embedding")
    if positions is not None and positions.ndim == 2:
        dimensions["context_length"] = int(positions.shape[0])
    projection = found.get("text_projection")
    if projection is not None and projection.ndim == 2:
        dimensions["embed_dim"] = int(projection.shape[1])
    blocks = {key.split(".")[2] for key in found if key.startswith("transformer.resblocks.")}
    if blocks:
        dimensions["layers"] = len(blocks)
    return dimensions
