"""VGG16 convolutional features, laid out exactly like torchvision's ``vgg16().features``.

Defining the layers in-house (torchvision cannot be imported here) with torchvision's module indices
means the published checkpoints load by key name: torchvision's ``vgg16-397923af.pth`` and timm's
``vgg16.tv_in1k`` safetensors (same ``features.N.*`` keys, classifier renamed; we use no classifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from restyle.backbones.base import Backbone, Features, load_matching, read_state_dict, select_prefixed

if TYPE_CHECKING:
    from typing_extensions import Self

# torchvision's configuration "D": channel counts, "M" for a 2x2 max-pool.
_VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_vgg16_features() -> nn.Sequential:
    """torchvision's VGG16 ``features``: conv/relu pairs and max-pools, 31 modules indexed 0..30.

    ReLUs are not in-place so that a tapped conv output is not overwritten by the next module.
    """
    layers: list[nn.Module] = []
    in_channels = 3
    for entry in _VGG16_LAYOUT:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        out_channels = int(entry)
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
        in_channels = out_channels
    return nn.Sequential(*layers)


class VGG16Backbone(Backbone):
    """VGG16 (ImageNet) features. Tap ``"i"`` is the output of ``features[i]``.

    Useful taps: ``"1"`` relu1_1, ``"6"`` relu2_1, ``"11"`` relu3_1, ``"13"`` relu3_2, ``"15"`` relu3_3,
    ``"18"`` relu4_1, ``"20"`` relu4_2, ``"22"`` relu4_3, ``"25"`` relu5_1. Tap ``"i"`` has stride
    ``2 ** (number of max-pools before i)``.
    """

    name: ClassVar[str] = "vgg16"
    content_taps: ClassVar[tuple[str, ...]] = ("11", "13", "15")  # relu3_1..relu3_3 (seed paper)
    gram_taps: ClassVar[tuple[str, ...]] = ("1", "6", "11", "18", "25")  # relu1_1..relu5_1 (Gatys)
    style_taps: ClassVar[tuple[str, ...]] = ("11", "13", "15")  # relu3_1..relu3_3: the CLIP paper's VGG NNFM

    def __init__(self) -> None:
        super().__init__()
        self.features = build_vgg16_features()
        # Not persistent: the state dict must hold exactly torchvision's keys.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    @classmethod
    def from_checkpoint(cls, path: Path) -> Self:
        """Load torchvision's ``vgg16-397923af.pth`` or a safetensors file with the same ``features.*`` keys.

        Classifier weights (``classifier.*``, timm's ``pre_logits.*``/``head.*``) are ignored; the
        ``features.*`` part must match exactly.
        """
        path = Path(path)
        model = cls()
        found = select_prefixed(read_state_dict(path), "features.")
        load_matching(model, found, path=path, what="VGG16")
        return model

    def available_taps(self) -> tuple[str, ...]:
        return tuple(str(index) for index in range(len(self.features)))

    def forward(self, images: torch.Tensor, taps: Sequence[str], *, embedding: bool = False) -> Features:
        """``images`` ``[B, 3, H, W]`` sRGB 0..1 -> one ``[B, C, H / s, W / s]`` map per tap."""
        self.check_input(images)
        self.refuse_embedding(embedding)
        self.check_taps(taps)
        wanted = {int(tap) for tap in taps}
        outputs: dict[int, torch.Tensor] = {}
        x = (images - self.mean) / self.std
        for index in range(max(wanted) + 1):  # layers past the deepest tap are never run
            x = self.features[index](x)
            if index in wanted:
                outputs[index] = x
        return Features(maps=tuple(outputs[int(tap)] for tap in taps))
