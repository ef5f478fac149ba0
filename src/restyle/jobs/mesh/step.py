"""What one optimisation step of a mesh job computes: its losses and the textures' gradients.

A step draws its batch of B views at once (the same random streams whatever the split), then renders and scores
them in passes (``render.views_per_pass``; under torchrun, over this rank's share only). Every pass's terms are
means over its views; each pass backpropagates its total times its share of the batch (pass size / B), so the
gradients add up to those of the batch's mean. The ranks then sum gradients, losses and coverage (one process: a
no-op), and the texture terms (the palette's, on every covered texel) come last, the same on every rank.

Shapes: renders ``[P,3,H,W]`` per pass of P views; backgrounds ``[B,3,H,W]`` (or ``[B,3,1,1]`` solid).
"""

from __future__ import annotations

import torch

from restyle.jobs.mesh.state import MeshState
from restyle.losses.tv import tv_loss
from restyle.objectives.networks import style_and_content_features
from restyle.objectives.style import content_objective
from restyle.render.camera import Cameras
from restyle.render.gbuffer import GBuffer
from restyle.render.shading import Lights
from restyle.run.loop import StepInfo, as_floats, check_finite, palette_weight, weighted_total


def take_step(job: MeshState) -> StepInfo:
    """One optimisation step of ``job``: its gradients, then the optimiser's move. A non-finite loss raises
    DivergedError before the optimiser moves the textures, so a NaN step never reaches them."""
    lr = job.begin_step()
    losses = step_gradients(job)
    check_finite(losses, job.step_count + 1)  # before the optimiser moves the textures
    job.end_step()
    return StepInfo(job.step_count, job.config.optim.iters, lr, losses)


def step_gradients(job: MeshState) -> dict[str, float]:
    """Accumulate the step's gradients in the textures' ``.grad``; returns the loss values (global ones)."""
    losses = _view_gradients(job)
    terms = texture_terms(job)
    if terms:  # the same on every rank: added after the exchange, so counted once
        total = weighted_total(terms)
        job.backward(total)
        views_total = losses.pop("total")
        losses = {**losses, **as_floats(terms, total)}
        losses["total"] += views_total
    return losses


def _view_gradients(job: MeshState) -> dict[str, float]:
    batch = job.config.render.views_per_step
    views = job.views.draw(batch)
    backgrounds = job.style_backgrounds(batch, job.config.render.render_size) if job.style_objective else None
    share = (job.passes[0].stop - job.passes[0].start) / batch
    losses: dict[str, float] = {}
    for part in job.passes:
        terms = view_terms(job, *views.part(part), None if backgrounds is None else backgrounds[part])
        total = weighted_total(terms)
        job.backward(share * total)
        for name, value in as_floats(terms, total).items():
            losses[name] = losses.get(name, 0.0) + share * value
    job.share_coverage()
    job.ranks.sum_gradients(list(job.params.parameters()), job.step_count + 1)
    return job.ranks.summed_losses(losses)


def view_terms(job: MeshState, cameras: Cameras, lights: Lights, gbuffer: GBuffer,
               backgrounds: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The losses of one pass over some of the step's views (means over them); ``backgrounds`` are their style
    backgrounds, None without a style loss. Adds the texels the views read to the job's coverage."""
    config, weights = job.config, job.config.weights
    out = job.render_batch(job.textures(), cameras, lights, gbuffer)
    job.add_coverage(out.surface)
    terms, content_features, reference_behind = {}, None, torch.zeros_like(out.images)
    if job.style_objective is not None:
        # Shading over black is premultiplied colour, so either composite is one multiply-add away.
        behind = (1 - out.mask) * backgrounds
        over_style = out.images + behind
        if config.texture.shared_content_pass:
            # the content loss sees the style composite too, so its reference gets the same background
            style_features, content_features = style_and_content_features(
                job.nets, over_style, config.style.style_taps, config.style.content_taps
            )
            reference_behind = behind.detach()
        else:
            style_features = job.nets.style(over_style, config.style.style_taps)
        terms["style"] = weights.style * job.style_objective(style_features, out, cameras)
    if weights.content or job.text is not None:
        with torch.no_grad():  # the original asset in the same views, over black
            originals = job.render_batch(job.originals(), cameras, lights, gbuffer).images
    if weights.content:
        with torch.no_grad():
            targets = job.nets.content(originals + reference_behind, config.style.content_taps)
        if content_features is None:  # the paper's content render: over black
            content_features = job.nets.content(out.images, config.style.content_taps)
        terms["content"] = weights.content * content_objective(
            content_features, targets, reduction=config.style.content_reduction
        )
    if job.text is not None:
        terms.update(job.text.terms(config.clip_text, out.images, originals))
    if weights.tv:
        terms["tv"] = weights.tv * tv_loss(out.images)
    return terms


def texture_terms(job: MeshState) -> dict[str, torch.Tensor]:
    """The losses on the whole textures: the palette's, over every texel covered so far."""
    if job.palette is None:
        return {}
    weight = palette_weight(job.config.palette, job.config.optim, job.step_count)
    return {"palette": weight * job.covered_palette_loss(job.unclamped_textures())}
