"""The feature networks and style objective of a run, resolved from a StyleConfig (shared by every pipeline)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from restyle.backbones.base import Backbone, Features
from restyle.pipelines.config import LossWeights, StyleConfig, WeightsConfig
from restyle.pipelines.objectives import StyleObjective
from restyle.pipelines.registry import BACKBONES, STYLE_OBJECTIVES, content_backbone_name, lookup


@dataclass
class Networks:
    style: Backbone
    content: Backbone  # the same object as ``style`` when one backbone serves both losses


def resolve_loss_defaults(style: StyleConfig, weights: LossWeights) -> tuple[StyleConfig, LossWeights]:
    """Fill the "backbone default" choices (content backbone, loss weights, style-set size, Gram normalisation)
    with the values used.

    Validates the backbone and method names, so a typo fails before any file is read."""
    style_entry = lookup(BACKBONES, style.backbone, "backbone")
    lookup(STYLE_OBJECTIVES, style.method, "style method")
    content_name = content_backbone_name(style.backbone, style.content_backbone)
    content_entry = lookup(BACKBONES, content_name, "content backbone")
    style_weight = style_entry.nnfm_weight if style.method == "nnfm" else style_entry.gram_weight
    weights = dataclasses.replace(
        weights,
        style=weights.style if weights.style is not None else style_weight,
        content=weights.content if weights.content is not None else content_entry.content_weight,
    )
    max_vectors = style.max_style_vectors if style.max_style_vectors is not None else style_entry.max_style_vectors
    gram_norm = style.gram_norm if style.gram_norm is not None else style_entry.gram_norm
    resolved = dataclasses.replace(style, content_backbone=content_name, max_style_vectors=max_vectors,
                                   gram_norm=gram_norm)
    return resolved, weights


def build_networks(style: StyleConfig, pretrained: WeightsConfig, device: torch.device) -> Networks:
    """Load the style and content backbones (once when they are the same), frozen, on ``device``."""
    style_net = lookup(BACKBONES, style.backbone, "backbone").build(pretrained)
    if style.content_backbone == style.backbone:
        content_net = style_net
    else:
        content_net = lookup(BACKBONES, style.content_backbone, "content backbone").build(pretrained)
    return Networks(_prepared(style_net, device), _prepared(content_net, device))


def _prepared(net: Backbone, device: torch.device) -> Backbone:
    """On ``device``, in eval mode, with channels-last convolution weights: the activations follow the weights'
    layout, and a Gram/VGG19 step at 256 px ran 5-8% faster so on 2 CPU cores (oneDNN); features agree to ~1e-6."""
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


def resolve_taps(style: StyleConfig, nets: Networks) -> StyleConfig:
    """Fill unset layer choices with the backbones' defaults (Gram taps for the Gram method)."""
    default_style = nets.style.gram_taps if style.method == "gram" else nets.style.style_taps
    return dataclasses.replace(
        style,
        style_taps=style.style_taps or default_style,
        content_taps=style.content_taps or nets.content.content_taps,
    )


def build_style_objective(
    style: StyleConfig, nets: Networks, style_images: Sequence[torch.Tensor], *, seed: int
) -> StyleObjective:
    """The style loss with the style images' features precomputed; images ``[1,3,H,W]`` each."""
    return lookup(STYLE_OBJECTIVES, style.method, "style method").from_styles(
        nets.style, style_images, style.style_taps,
        chunk_size=style.nnfm_chunk, smoothing=style.smoothing,
        max_style_vectors=style.max_style_vectors, seed=seed, relative=style.gram_norm == "relative",
    )
