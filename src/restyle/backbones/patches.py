"""A weight-free backbone: multi-scale raw colour patches, for example-based texture optimisation.

Classic non-parametric texture synthesis matches small neighbourhoods of the output to neighbourhoods
of the exemplar at several resolutions. Feeding these "features" to NNFM (cosine distance of each
output vector to its nearest style vector) gives the same behaviour with no pretrained network, which
is what runs offline, in the demo and in CI.

Each pixel's vector at one pyramid level, in an opponent colour space (luminance, red-green,
yellow-blue; decorrelated enough that colour and brightness are matched independently)::

    [ mean colour of the k x k patch (3) | structure_gain * (patch - its mean) (3 k^2) | anchor (1) ]

Why this layout: cosine distance ignores vector length, so absolute colour must change the vector's
*direction*. Luminance is centred on mid-grey and a constant ``anchor`` component is appended, so a
dark and a bright flat patch point different ways; the patch mean is kept (never subtracted from
everything), so saturation and hue matter; the mean-free detail carries local structure (edges,
strokes), weighted by ``structure_gain`` against colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from restyle.backbones.base import Backbone, Features
from restyle.errors import ConfigError

NUM_LEVELS = 4

# Rows: luminance, red-green, yellow-blue. Each spans about [-0.5, 0.5] for sRGB inputs in 0..1
# (luminance after subtracting the 0.5 offset below), so no channel dominates the cosine.
_OPPONENT = torch.tensor(
    [
        [1 / 3, 1 / 3, 1 / 3],
        [1 / 2, -1 / 2, 0.0],
        [1 / 4, 1 / 4, -1 / 2],
    ]
)
_OPPONENT_OFFSET = torch.tensor([0.5, 0.0, 0.0])


@dataclass(frozen=True)
class PatchBackboneConfig:
    """Options of the patch backbone.

    patch_size: side of the square neighbourhood per pixel (odd, 1..7). 3 captures edges and strokes;
        5 captures larger motifs at a higher cost.
    scales: resize factor of each of the four pyramid levels ``s0..s3`` relative to the input.
        Coarser levels match larger structures and the overall colour layout.
    structure_gain: weight of the within-patch detail relative to the patch's mean colour.
    chroma_gain: weight of the two colour-opponent channels relative to luminance.
    anchor: value of the constant component that makes brightness change the vector's direction.
    """

    patch_size: int = 3
    scales: tuple[float, float, float, float] = (1.0, 0.5, 0.25, 0.125)
    structure_gain: float = 2.0
    chroma_gain: float = 1.5
    anchor: float = 0.5

    def validate(self) -> None:
        if self.patch_size % 2 != 1 or not 1 <= self.patch_size <= 7:
            raise ConfigError(f"patch backbone: patch_size must be odd and in 1..7, got {self.patch_size}")
        if len(self.scales) != NUM_LEVELS or not all(0.0 < scale <= 1.0 for scale in self.scales):
            raise ConfigError(f"patch backbone: scales must be {NUM_LEVELS} factors in (0, 1], got {self.scales}")
        if self.structure_gain < 0 or self.chroma_gain < 0 or self.anchor <= 0:
            raise ConfigError("patch backbone: structure_gain and chroma_gain must be >= 0 and anchor > 0")


def to_opponent(images: torch.Tensor, chroma_gain: float = 1.0) -> torch.Tensor:
    """sRGB ``[B, 3, H, W]`` in 0..1 -> (luminance - 0.5, red-green, yellow-blue) ``[B, 3, H, W]``."""
    matrix = _OPPONENT.to(images)
    gains = torch.tensor([1.0, chroma_gain, chroma_gain]).to(images)
    offset = (_OPPONENT_OFFSET.to(images) * gains).view(1, 3, 1, 1)
    return torch.einsum("oc,bchw->bohw", matrix * gains[:, None], images) - offset


def patch_vectors(opponent: torch.Tensor, patch_size: int, structure_gain: float, anchor: float) -> torch.Tensor:
    """Opponent images ``[B, 3, H, W]`` -> per-pixel patch vectors ``[B, 3 + 3 k^2 + 1, H, W]``.

    Borders are reflect-padded so every level keeps its resolution (and a known stride).
    """
    batch, channels, height, width = opponent.shape
    pad = patch_size // 2
    padded = F.pad(opponent, (pad, pad, pad, pad), mode="reflect") if pad else opponent
    patches = F.unfold(padded, patch_size).view(batch, channels, patch_size * patch_size, height, width)
    mean = patches.mean(dim=2)
    detail = (patches - mean[:, :, None]).flatten(1, 2) * structure_gain
    constant = torch.full((batch, 1, height, width), anchor, dtype=opponent.dtype, device=opponent.device)
    return torch.cat([mean, detail, constant], dim=1)


def resize(images: torch.Tensor, scale: float) -> torch.Tensor:
    """Anti-aliased bilinear downscale by ``scale`` (identity at 1)."""
    if scale == 1.0:
        return images
    height, width = images.shape[-2:]
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)


class PatchBackbone(Backbone):
    """Multi-scale opponent-colour patches. Tap ``"sI"`` is pyramid level I at ``scales[I]`` of the input.

    Map shapes: ``[B, 3 + 3 k^2 + 1, round(H * scale), round(W * scale)]`` (31 channels for k = 3).
    """

    name: ClassVar[str] = "patch"
    style_taps: ClassVar[tuple[str, ...]] = tuple(f"s{level}" for level in range(NUM_LEVELS))
    content_taps: ClassVar[tuple[str, ...]] = ("s2", "s3")  # coarse: layout and colour, not texture
    gram_taps: ClassVar[tuple[str, ...]] = style_taps
    reduced_precision: ClassVar[bool] = False  # raw colours: no convolution stack to speed up, always float32

    def __init__(self, config: PatchBackboneConfig | None = None) -> None:
        super().__init__()
        self.config = config or PatchBackboneConfig()
        self.config.validate()
        self.freeze()

    @property
    def channels(self) -> int:
        return 3 * self.config.patch_size**2 + 4

    def available_taps(self) -> tuple[str, ...]:
        return self.style_taps

    def forward(self, images: torch.Tensor, taps: Sequence[str], *, embedding: bool = False) -> Features:
        """``images`` ``[B, 3, H, W]`` sRGB 0..1 -> one ``[B, C, H * scale, W * scale]`` map per tap."""
        self.check_input(images)
        self.refuse_embedding(embedding)
        self.check_taps(taps)
        opponent = to_opponent(images, self.config.chroma_gain)
        maps = {tap: self._level(opponent, int(tap[1:])) for tap in dict.fromkeys(taps)}
        return Features(maps=tuple(maps[tap] for tap in taps))

    def _level(self, opponent: torch.Tensor, level: int) -> torch.Tensor:
        config = self.config
        return patch_vectors(
            resize(opponent, config.scales[level]), config.patch_size, config.structure_gain, config.anchor
        )
