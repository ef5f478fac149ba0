"""The mesh job's views and texel coverage: where its training views come from, and which texels they have read.

Coverage is what the palette loss is restricted to and what the exported texture keeps of the optimisation. A
texel counts as covered once a full-resolution bilinear tap of some rendered pixel has read it (coarse mip levels
touch everything and do not count), accumulated over every step, and only inside the mesh's UV islands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from restyle.errors import ConfigError
from restyle.pipelines.config import RenderConfig
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import MeshGeometry
from restyle.render.shading import Lights, SurfaceSamples, sampled_texels
from restyle.render.views import ViewSampler, ViewSource, rasterize_views, training_views

Block = Callable[[int], slice]  # a rank's share of a global batch of views (see ``distributed.Ranks.block``)


def job_views(geometry: MeshGeometry, sampler: ViewSampler, render: RenderConfig, block: Block | None = None
              ) -> ViewSource:
    """Fresh views every step (``render.view_pool`` 0, the paper) or a pool of that many, as configured; with
    ``block``, each ``sample(n)`` draws the global batch of ``n`` (the same random streams on every rank) and
    returns only this rank's share of it."""
    if block is not None and not render.view_pool:
        return _FreshShare(geometry, sampler, render, block)
    views = training_views(
        geometry, sampler, render.view_pool, render.render_size,
        supersample=render.supersample, backend=render.backend,
    )
    return views if block is None else _PoolShare(views, block)


class _FreshShare:
    """Fresh views of which only this rank's share is rasterised."""

    def __init__(self, geometry: MeshGeometry, sampler: ViewSampler, render: RenderConfig, block: Block) -> None:
        self.geometry, self.sampler, self.render, self.block = geometry, sampler, render, block

    def sample(self, n: int) -> tuple[Cameras, Lights, GBuffer]:
        size = self.render.render_size
        cameras, lights = self.sampler.sample(n, width=size, height=size)
        index = list(range(n))[self.block(n)]
        cameras, lights = cameras.select(index), lights.select(index)
        return cameras, lights, rasterize_views(self.geometry, cameras, self.render.supersample, self.render.backend)


class _PoolShare:
    """Pool views, of which this rank keeps its share."""

    def __init__(self, pool: ViewSource, block: Block) -> None:
        self.pool, self.block = pool, block

    def sample(self, n: int) -> tuple[Cameras, Lights, GBuffer]:
        cameras, lights, gbuffer = self.pool.sample(n)
        index = list(range(n))[self.block(n)]
        return cameras.select(index), lights.select(index), gbuffer.select(index)


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
