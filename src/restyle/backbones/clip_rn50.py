"""CLIP's ResNet-50 image tower ("ModifiedResNet"), with OpenAI's module and key names.

Differences from a torchvision ResNet-50, all reproduced here because the weights depend on them:
a three-convolution stem, anti-aliased strides (an ``AvgPool2d`` after ``conv2`` instead of a strided
convolution; likewise in the downsample branch), and an attention pool instead of global average
pooling. Keys carry the ``visual.`` prefix of the published checkpoints (OpenAI ``RN50.pt``,
open_clip ``RN50``/``openai``).

Feature taps follow the seed paper (Mishra & Granskog 2022): tap ``"layerX.Y"`` is the output of the
second convolution (``conv2``, before ``bn2``) of bottleneck ``Y`` of stage ``X``. In a block that
downsamples, ``conv2`` runs before the block's pooling, so ``layer3.0`` has stride 8, ``layer3.1..5``
stride 16, ``layer4.0`` stride 16 and ``layer4.1..2`` stride 32.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from restyle.backbones.base import Backbone, Features, load_matching, read_state_dict, select_prefixed
from restyle.errors import InputError

if TYPE_CHECKING:
    from typing_extensions import Self

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
RN50_STAGE_DEPTHS = (3, 4, 6, 3)
RN50_INPUT_RESOLUTION = 224
_EXPANSION = 4


class Bottleneck(nn.Module):
    """CLIP's bottleneck: 1x1, 3x3, avg-pool (when strided), 1x1, with an avg-pool + 1x1 shortcut."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * _EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Sequential | None = None
        if stride > 1 or in_channels != out_channels:
            # "-1" is OpenAI's own (odd) name for the pooling step; it has no weights but keeps indices 0/1.
            self.downsample = nn.Sequential(
                OrderedDict(
                    [
                        ("-1", nn.AvgPool2d(stride)),
                        ("0", nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False)),
                        ("1", nn.BatchNorm2d(out_channels)),
                    ]
                )
            )

    def forward_with_tap(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Block output ``[B, 4P, H/s, W/s]`` and the ``conv2`` output ``[B, P, H, W]``."""
        hidden = F.relu(self.bn1(self.conv1(x)))
        tap = self.conv2(hidden)
        hidden = self.avgpool(F.relu(self.bn2(tap)))
        hidden = self.bn3(self.conv3(hidden))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(hidden + identity), tap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_tap(x)[0]


class AttentionPool2d(nn.Module):
    """CLIP's attention pooling: the mean token attends over all positions; output ``[B, D]``.

    The positional embedding is learnt for a square grid (7x7 at 224 px); other input sizes get it
    bicubically resampled to their grid, as open_clip does.
    """

    def __init__(self, grid_size: int, embed_dim: int, num_heads: int, output_dim: int) -> None:
        super().__init__()
        self.grid_size = grid_size
        self.num_heads = num_heads
        self.positional_embedding = nn.Parameter(torch.randn(grid_size**2 + 1, embed_dim) / embed_dim**0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)

    def positional_embedding_for(self, height: int, width: int) -> torch.Tensor:
        """``[1 + height * width, C]``: the class slot unchanged, the grid resampled to ``height x width``."""
        if (height, width) == (self.grid_size, self.grid_size):
            return self.positional_embedding
        class_slot, grid = self.positional_embedding[:1], self.positional_embedding[1:]
        grid = grid.T.reshape(1, -1, self.grid_size, self.grid_size)
        grid = F.interpolate(grid, size=(height, width), mode="bicubic", align_corners=False)
        return torch.cat([class_slot, grid.reshape(grid.shape[1], -1).T], dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C, h, w]`` -> ``[B, output_dim]``."""
        height, width = x.shape[-2:]
        tokens = x.flatten(start_dim=2).permute(2, 0, 1)  # [h*w, B, C]
        tokens = torch.cat([tokens.mean(dim=0, keepdim=True), tokens], dim=0)
        tokens = tokens + self.positional_embedding_for(height, width)[:, None, :].to(tokens.dtype)
        pooled, _ = F.multi_head_attention_forward(
            query=tokens[:1],
            key=tokens,
            value=tokens,
            embed_dim_to_check=tokens.shape[-1],
            num_heads=self.num_heads,
            q_proj_weight=self.q_proj.weight,
            k_proj_weight=self.k_proj.weight,
            v_proj_weight=self.v_proj.weight,
            in_proj_weight=None,
            in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None,
            bias_v=None,
            add_zero_attn=False,
            dropout_p=0.0,
            out_proj_weight=self.c_proj.weight,
            out_proj_bias=self.c_proj.bias,
            use_separate_proj_weight=True,
            training=self.training,
            need_weights=False,
        )
        return pooled.squeeze(0)


class ModifiedResNet(nn.Module):
    """CLIP's image tower. ``width`` 64 is RN50; smaller widths keep every key name (for tests)."""

    def __init__(
        self, width: int = 64, output_dim: int = 1024, stage_depths: Sequence[int] = RN50_STAGE_DEPTHS
    ) -> None:
        super().__init__()
        stem = width // 2
        self.conv1 = nn.Conv2d(3, stem, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.conv2 = nn.Conv2d(stem, stem, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(stem)
        self.conv3 = nn.Conv2d(stem, width, kernel_size=3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        in_channels = width
        for stage, depth in enumerate(stage_depths, start=1):
            planes = width * 2 ** (stage - 1)
            stride = 1 if stage == 1 else 2
            blocks = [Bottleneck(in_channels, planes, stride)]
            blocks += [Bottleneck(planes * _EXPANSION, planes) for _ in range(depth - 1)]
            self.add_module(f"layer{stage}", nn.Sequential(*blocks))
            in_channels = planes * _EXPANSION
        embed_dim = width * 32
        heads = width * 32 // 64  # CLIP's rule: 64 channels per attention head
        self.attnpool = AttentionPool2d(RN50_INPUT_RESOLUTION // 32, embed_dim, heads, output_dim)
        self.stage_depths = tuple(stage_depths)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``[B, 3, H, W]`` -> ``[B, width, H/4, W/4]``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return self.avgpool(x)

    def named_blocks(self) -> Iterator[tuple[str, Bottleneck]]:
        """``("layer1.0", block), ...`` in forward order."""
        for stage, depth in enumerate(self.stage_depths, start=1):
            layer = getattr(self, f"layer{stage}")
            for index in range(depth):
                yield f"layer{stage}.{index}", layer[index]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> image embedding ``[B, output_dim]``."""
        x = self.stem(x)
        for _, block in self.named_blocks():
            x = block(x)
        return self.attnpool(x)


class ClipRN50Backbone(Backbone):
    """CLIP RN50 image features (conv2 of each bottleneck) and, on request, the CLIP image embedding."""

    name: ClassVar[str] = "clip-rn50"
    style_taps: ClassVar[tuple[str, ...]] = tuple(
        [f"layer3.{i}" for i in range(6)] + [f"layer4.{i}" for i in range(3)]
    )  # the seed paper's NNFM layers
    content_taps: ClassVar[tuple[str, ...]] = ("layer3.5",)  # content normally uses VGG16
    gram_taps: ClassVar[tuple[str, ...]] = ("layer1.2", "layer2.3", "layer3.5", "layer4.2")

    def __init__(self, width: int = 64, output_dim: int = 1024) -> None:
        super().__init__()
        self.visual = ModifiedResNet(width=width, output_dim=output_dim)
        # Not persistent: the state dict must hold exactly the published ``visual.*`` keys.
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self._tap_names = tuple(name for name, _ in self.visual.named_blocks())
        self.freeze()

    @classmethod
    def from_checkpoint(cls, path: Path) -> Self:
        """Load the image tower from OpenAI's ``RN50.pt`` (TorchScript) or an open_clip state dict.

        Only ``visual.*`` keys are used (text-tower keys are ignored) and they must match exactly.
        The width and embedding size are read from the file, so narrow test models load too.
        """
        path = Path(path)
        found = select_prefixed(read_state_dict(path), "visual.")
        model = cls(**_dimensions_from(found, path))
        load_matching(model, found, path=path, what="CLIP RN50")
        return model

    def available_taps(self) -> tuple[str, ...]:
        return self._tap_names

    def forward(self, images: torch.Tensor, taps: Sequence[str], *, embedding: bool = False) -> Features:
        """``images`` ``[B, 3, H, W]`` sRGB 0..1 -> conv2 maps per tap (+ ``[B, output_dim]`` embedding)."""
        self.check_input(images)
        self.check_taps(taps, embedding=embedding)
        wanted = set(taps)
        last_needed = len(self._tap_names) - 1 if embedding else self.deepest_tap_index(taps)
        outputs: dict[str, torch.Tensor] = {}
        x = self.visual.stem((images - self.mean) / self.std)
        for index, (name, block) in enumerate(self.visual.named_blocks()):
            if index > last_needed:
                break
            x, tap = block.forward_with_tap(x)
            if name in wanted:
                outputs[name] = tap
        pooled = self.visual.attnpool(x) if embedding else None
        return Features(maps=tuple(outputs[tap] for tap in taps), embedding=pooled)


def _dimensions_from(found: dict[str, torch.Tensor], path: Path) -> dict[str, int]:
    """Constructor arguments implied by a checkpoint; defaults (full RN50) when the keys are absent.

    Absent keys are reported later by the strict key check, with the file name. The stem shape is
    checked first so that a foreign tower (e.g. a ViT's 32x32 patch embedding) is refused before
    building an absurdly wide model from it.
    """
    dimensions: dict[str, int] = {}
    stem = found.get("visual.conv1.weight")
    if stem is not None:
        if stem.ndim != 4 or tuple(stem.shape[1:]) != (3, 3, 3):
            raise InputError(
                f"{path}: not a CLIP RN50 checkpoint (visual.conv1.weight has shape {list(stem.shape)}, "
                "expected [width/2, 3, 3, 3])"
            )
        dimensions["width"] = int(stem.shape[0]) * 2
    projection = found.get("visual.attnpool.c_proj.weight")
    if projection is not None:
        dimensions["output_dim"] = int(projection.shape[0])
    return dimensions
