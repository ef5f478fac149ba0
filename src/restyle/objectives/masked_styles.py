"""Styles blended by depth: one style loss per mask (Jamgochian et al., CS231n), for photos and meshes alike.

Style images that share a mask spec share one objective (NNFM pools their features, Gram averages their Gram
matrices, as without masks); each distinct mask gets its own objective, weighted per position by that mask, and
the terms are summed. With complementary masks such as ``near`` and ``far`` each style lands in its own region.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from restyle.backbones.base import Features
from restyle.errors import ConfigError
from restyle.objectives.masks import MaskSpec, parse_mask
from restyle.objectives.style import StyleObjective


@dataclass(frozen=True)
class MaskGroup:
    """The style images (indices into the run's styles, in order) that share one mask."""

    spec: MaskSpec
    styles: tuple[int, ...]


def mask_groups(style_count: int, style_mask: str, style_masks: Sequence[str] | None) -> tuple[MaskGroup, ...]:
    """The styles grouped by mask, in order of first appearance; ``style_masks`` (one per style) overrides the
    ``style_mask`` every style gets otherwise."""
    if style_masks is not None and len(style_masks) != style_count:
        raise ConfigError(f"depth.style_masks has {len(style_masks)} masks for {style_count} style images; give "
                          "one per style image (or none, and style_mask for all)")
    texts = [text.strip() for text in (style_masks or [style_mask] * style_count)]
    specs = {text: parse_mask(text) for text in texts}
    return tuple(MaskGroup(specs[text], tuple(i for i, t in enumerate(texts) if t == text)) for text in specs)


def is_masked(groups: Sequence[MaskGroup]) -> bool:
    """Whether the style loss differs from the plain one (any mask but ``all``)."""
    return any(group.spec.kind != "all" for group in groups)


def style_coverage(masks: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """How much style each pixel is asked for, ``[B,1,H,W]`` in 0..1: the groups' masks summed (complementary masks
    such as ``near`` and ``far`` add up to 1) and clamped. None where every pixel is fully covered, or a style is
    unmasked (it covers every pixel)."""
    if not masks or any(mask is None for mask in masks):
        return None
    coverage = torch.stack(list(masks)).sum(0).clamp(0.0, 1.0)
    full = bool((coverage >= 1.0 - 1e-6).all())  # σ(x) + σ(−x) may round to 1 − 6e-8 in float32
    return None if full else coverage


@dataclass
class MaskedStyles:
    """Per mask group, a style objective; called with one mask ``[B,1,H,W]`` per group (``None``: unmasked)."""

    groups: tuple[MaskGroup, ...]
    parts: tuple[StyleObjective, ...]

    @classmethod
    def build(
        cls, groups: Sequence[MaskGroup], styles: Sequence[torch.Tensor],
        objective_of: Callable[[list[torch.Tensor]], StyleObjective],
    ) -> MaskedStyles:
        """``objective_of(style images)`` builds one group's objective (with the run's style options)."""
        parts = tuple(objective_of([styles[i] for i in group.styles]) for group in groups)
        return cls(tuple(groups), parts)

    def __call__(self, features: Features, masks: Sequence[torch.Tensor | None]) -> torch.Tensor:
        if len(masks) != len(self.parts):
            raise ValueError(f"{len(masks)} masks for {len(self.parts)} style groups")
        return torch.stack([part(features, mask) for part, mask in zip(self.parts, masks, strict=True)]).sum()
