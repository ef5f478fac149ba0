"""One evaluator for every quality figure: style and content distances on the real VGG19 features.

Used by ``benchmarks/bench_quality.py`` to compare runs (restyle against itself before/after a change, restyle
against pastiche, mesh results on held-out views) and by a mesh run's own held-out check as it goes
(``restyle.jobs.mesh.heldout``), so every number comes from the same network and taps, whatever backbone a run
optimised. The distances are scale-free, so layers and images of different sizes
weigh alike:

- ``gram``: mean over relu1_1..relu5_1 of ``||G - G_style||_F / ||G_style||_F`` (Gatys' statistics),
- ``nnfm``: mean over relu3_1 and relu4_1 of the mean cosine distance of each image feature to its nearest
  style feature (ARF's neural neighbours),
- ``content``: ``||F - F_ref||^2 / ||F_ref||^2`` at conv4_2 (Gatys' content layer), when references are given.

A ``[B,1,H,W]`` mask (a render's coverage) restricts every distance to the object's pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from restyle.backbones.base import Backbone
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.backbones.weights import find_checkpoint
from restyle.losses.gram import gram_matrix, prepare_mask
from restyle.losses.nnfm import flatten_maps, nnfm_loss

GRAM_TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
NNFM_TAPS = ("relu3_1", "relu4_1")
CONTENT_TAP = "conv4_2"


@dataclass(frozen=True)
class Distances:
    """Lower is closer. ``content`` is None when no reference images were given; ``gram`` and ``nnfm`` when the
    evaluator has no style images (a text-driven run)."""

    gram: float | None
    nnfm: float | None
    content: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"gram": self.gram, "nnfm": self.nnfm, "content": self.content}


class Evaluator:
    """Distances of images to a set of style images (and to content references), on the shipped VGG19."""

    def __init__(self, styles: Sequence[torch.Tensor], *, net: Backbone | None = None) -> None:
        """``styles``: one ``[1,3,h,w]`` sRGB image each (sizes may differ); their statistics are pooled. ``net``:
        a VGG19 already loaded (a run's own), else the shipped one is loaded."""
        self.net = net if net is not None else VGG19Backbone.from_checkpoint(find_checkpoint("vgg19"))
        with torch.no_grad():
            maps = [self.net(style, GRAM_TAPS).maps for style in styles]
            self.style_grams = [
                torch.stack([gram_matrix(m[i])[0] for m in maps]).mean(0) for i in range(len(GRAM_TAPS))
            ] if maps else []
            self.style_sets = [
                torch.cat([flatten_maps(m[GRAM_TAPS.index(tap)])[0] for m in maps]) for tap in NNFM_TAPS
            ] if maps else []

    @torch.no_grad()
    def distances(
        self, images: torch.Tensor, references: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> Distances:
        """``images`` and ``references`` ``[B,3,H,W]`` sRGB 0..1; ``mask`` ``[B,1,H,W]`` in 0..1 or None."""
        reference = None if references is None else self.content_features(references)
        return self.measure(images, reference, mask)

    @torch.no_grad()
    def content_features(self, references: torch.Tensor) -> torch.Tensor:
        """The content features ``[B,C,h,w]`` of ``references`` ``[B,3,H,W]``, to measure many images against the
        same references (:meth:`measure`) without taking them again."""
        return self.net(references, (CONTENT_TAP,)).maps[0]

    @torch.no_grad()
    def measure(
        self, images: torch.Tensor, reference: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> Distances:
        """As :meth:`distances`, against references' :meth:`content_features`; one pass of the network over
        ``images`` gives every distance."""
        taps = (*GRAM_TAPS, CONTENT_TAP) if reference is not None else GRAM_TAPS
        maps = dict(zip(taps, self.net(images, taps).maps, strict=True))
        content = None if reference is None else _content(maps[CONTENT_TAP], reference, mask)
        if not self.style_grams:
            return Distances(None, None, content)
        gram = torch.stack([
            ((gram_matrix(maps[tap], mask) - target).flatten(1).norm(dim=1) / target.norm()).mean()
            for tap, target in zip(GRAM_TAPS, self.style_grams, strict=True)
        ]).mean()
        nnfm = torch.stack([
            nnfm_loss(flatten_maps(maps[tap]), style, weights=_vector_weights(mask, maps[tap]))
            for tap, style in zip(NNFM_TAPS, self.style_sets, strict=True)
        ]).mean()
        return Distances(float(gram), float(nnfm), content)


def _content(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor | None) -> float:
    weights = torch.ones_like(ours[:, :1]) if mask is None else prepare_mask(mask, ours)
    error = ((ours - theirs).square() * weights).sum()
    return float(error / (theirs.square() * weights).sum().clamp_min(1e-12))


def _vector_weights(mask: torch.Tensor | None, feature_map: torch.Tensor) -> torch.Tensor | None:
    """A ``[B,1,H,W]`` mask as NNFM per-vector weights ``[B,N]`` at the feature map's resolution."""
    return None if mask is None else prepare_mask(mask, feature_map).flatten(1)
