"""The mesh job's views and texel coverage: where its training views come from, and which texels they have read.

Coverage is what the palette loss is restricted to and what the exported texture keeps of the optimisation. A
texel counts as covered once a full-resolution bilinear tap of some rendered pixel has read it (coarse mip levels
touch everything and do not count), accumulated over every step, and only inside the mesh's UV islands.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from restyle.errors import ConfigError
from restyle.render.geometry import MeshGeometry
from restyle.render.shading import SurfaceSamples, sampled_texels
from restyle.render.views import ViewSampler, ViewSource, training_views
from restyle.sections import RenderConfig


def job_views(geometry: MeshGeometry, sampler: ViewSampler, render: RenderConfig) -> ViewSource:
    """Fresh views every step (``render.view_pool`` 0, the paper) or a pool of that many, as configured."""
    return training_views(geometry, sampler, render.view_pool, render.render_size,
                          supersample=render.supersample, backend=render.backend)


def solid_background(spec: str) -> torch.Tensor | None:
    """The solid background colour ``[3]`` behind style-loss renders, or None for the style image(s)."""
    if spec in ("style", "primary"):
        return None
    try:
        values = [float(v) for v in spec.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigError(f"render.background must be 'style', 'primary' or 'R,G,B' in 0..1; got {spec!r}")
    return torch.tensor(values)


def no_coverage(islands: Sequence[Tensor]) -> list[Tensor]:
    """Per slot, an all-False ``[Ht, Wt]`` map: nothing is seen before the first step."""
    return [torch.zeros_like(island, dtype=torch.bool) for island in islands]


def add_seen_texels(
    coverage: Sequence[Tensor], islands: Sequence[Tensor], surface: SurfaceSamples, wraps: Sequence[str]
) -> list[Tensor]:
    """``coverage`` with the texels read by the render of ``surface`` added, kept inside ``islands``.

    A union, so adding the same render twice changes nothing: a step redone after an interruption (whose
    checkpoint may already hold its texels) ends with the same coverage as an uninterrupted run.
    """
    seen = sampled_texels(surface, [tuple(c.shape) for c in coverage], wraps)
    return [
        covered | (new.to(covered.device) & island)
        for covered, new, island in zip(coverage, seen, islands, strict=True)
    ]
