"""Held-out views of a mesh: cameras the optimisation never uses (the run's distribution, another seed), drawn and
rasterised once, and what is measured on them; one place for a run's check as it goes and for the quality benchmark
(``benchmarks/_quality_mesh.py``) after it.

A run's check (:class:`HeldOutMeasure`, handed to the loop as ``restyle.run.heldout.HeldOutCheck``) renders the
current textures in ``outputs.eval_views`` fixed views at ``outputs.eval_size`` (2x supersampled, the views' own
random lights, over black) and measures them with the one evaluator (VGG19): Gram and NNFM distances to the style
images (their short side at the evaluation size, centre-cropped square, as the benchmark measures them) and the
content distance to the original asset's renders in the same views, every distance masked by the asset's coverage.
The first measurement (step 0) is the texture the optimisation starts from: the original, or its recolouring.

The network is the run's own VGG19 when it has one (style or content), else the shipped one is loaded; in a
reduced-precision run the run's own network measures in that precision. The check never changes the run: torch's
random state is put back around it, so a run gives the same texture with the check or without.

Shapes: renders ``[V,3,S,S]``, masks ``[V,1,S,S]``, textures ``[3,Ht,Wt]``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from restyle.backbones.base import Backbone
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.backbones.weights import find_checkpoint
from restyle.eval.evaluator import Evaluator
from restyle.io.images import square_style
from restyle.jobs.mesh.state import MeshState
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.geometry import MeshGeometry
from restyle.render.raster import rasterize
from restyle.render.shading import Lights, RenderOutput, ShadingConfig, render
from restyle.render.views import ViewConfig, ViewSampler
from restyle.run.heldout import HeldOutCheck

HELD_OUT_SEED_OFFSET = 1000  # held-out cameras: the run's view distribution with its seed + this
EVAL_SUPERSAMPLE = 2
EVAL_NETWORK = "vgg19"  # the evaluator's network, the one a run's own may stand in for


@dataclass(frozen=True)
class HeldOutViews:
    """Fixed views (cameras at the evaluation size, their lights) and their G-buffers at ``supersample`` times it."""

    cameras: Cameras
    lights: Lights
    gbuffer: GBuffer
    supersample: int

    @torch.no_grad()
    def render(self, geometry: MeshGeometry, textures: Sequence[torch.Tensor], wraps: Sequence[str],
               shading: ShadingConfig | None) -> RenderOutput:
        """``textures`` on the mesh in these views, over black."""
        return render(geometry, self.gbuffer, self.cameras, list(textures), wraps, self.lights, shading=shading,
                      supersample=self.supersample)


@torch.no_grad()
def held_out_views(geometry: MeshGeometry, views: ViewConfig, *, seed: int, count: int, size: int,
                   supersample: int = EVAL_SUPERSAMPLE, backend: str = "auto") -> HeldOutViews:
    """``count`` views ``size`` pixels square drawn from ``views`` with ``seed`` + :data:`HELD_OUT_SEED_OFFSET`
    (a run's seed gives cameras its training never draws), rasterised once."""
    sampler = ViewSampler(geometry, views, seed=seed + HELD_OUT_SEED_OFFSET)
    cameras, lights = sampler.sample(count, width=size, height=size)
    fine = cameras.resized(size * supersample, size * supersample)
    return HeldOutViews(cameras, lights, rasterize(geometry, fine, backend=backend), supersample)


class HeldOutMeasure:
    """A run's held-out check: ``measure()`` gives the current textures' distances (``gram``, ``nnfm`` against
    the style images, ``content`` against the original asset), each masked by the asset's coverage."""

    def __init__(self, job: MeshState) -> None:
        with _own_random_state():  # a network built before its weights load draws its initial weights
            self._prepare(job)

    def _prepare(self, job: MeshState) -> None:
        config = job.config
        outputs = config.outputs
        self.job = job
        self.views = held_out_views(job.geometry, config.views, seed=config.optim.seed, count=outputs.eval_views,
                                    size=outputs.eval_size, backend=config.render.backend)
        original = self.views.render(job.geometry, job.loaded_textures, job.wraps, config.shading)
        self.mask = original.mask
        styles = [square_style(path, outputs.eval_size, job.device) for path in config.styles]
        self.evaluator = Evaluator(styles, net=evaluation_network(job))
        self.reference = self.evaluator.content_features(original.images)

    @torch.no_grad()
    def measure(self) -> dict[str, float]:
        job = self.job
        with _own_random_state():
            current = self.views.render(job.geometry, job.textures(), job.wraps, job.config.shading)
            distances = self.evaluator.measure(current.images, self.reference, self.mask)
        return {name: value for name, value in distances.as_dict().items() if value is not None}


def _own_random_state() -> contextlib.AbstractContextManager:
    """torch's global random state as it was before, whatever happens inside: it is part of a run's state (saved in
    its checkpoint), and a run must be the same from its seed with the check or without it."""
    return torch.random.fork_rng(devices=[])


def evaluation_network(job: MeshState) -> Backbone:
    """The run's own VGG19 (style or content network) when it has one, so that it is not loaded twice; else the
    shipped VGG19 on the run's device."""
    for net in (job.nets.style, job.nets.content):
        if net.name == EVAL_NETWORK:
            return net
    path = find_checkpoint(EVAL_NETWORK, job.config.pretrained.weights_dir)
    return VGG19Backbone.from_checkpoint(path).to(job.device).eval()


def heldout_check(job: MeshState) -> HeldOutCheck | None:
    """The loop's held-out check of ``job``, or None when ``outputs.eval_every`` is 0 (nothing is prepared)."""
    every = job.config.outputs.eval_every
    if not every:
        return None
    return HeldOutCheck(every, HeldOutMeasure(job).measure)
