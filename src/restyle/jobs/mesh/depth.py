"""The style loss of ``restyle mesh``, optionally weighted per pixel by the renderer's exact depth and by the view
angle: styles blended by depth (Jamgochian et al., CS231n, carried to meshes) and StyleMesh's angle weighting
(Höllein et al. 2022), which keeps patterns from being learnt off stretched, grazing views.

With any mask or angle weighting the style loss counts the asset's pixels only, each weighted by
``coverage · γ(d) · cos(θ)^P``: the background behind a render has no depth and no angle, and weighting it would only
dilute the asset's share. Without them the loss is the plain one over the whole composite (the paper's).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from restyle.backbones.base import Features
from restyle.errors import ConfigError
from restyle.jobs.mesh.config import MeshConfig
from restyle.objectives.depth_config import check_near_far
from restyle.objectives.masked_styles import MaskedStyles, MaskGroup, is_masked, mask_groups
from restyle.objectives.masks import depth_mask
from restyle.objectives.networks import Networks, build_style_objective
from restyle.objectives.style import StyleObjective
from restyle.render.camera import Cameras
from restyle.render.depth_weights import view_angle_weights, view_depth
from restyle.render.shading import RenderOutput


class MeshStyleLoss:
    """``(features of the composites, the renders, their cameras) -> scalar``: the run's style loss."""

    def __init__(self, config: MeshConfig, nets: Networks, styles: Sequence[torch.Tensor]) -> None:
        depth = config.depth
        self.groups = check_mesh_depth(config)
        self.config = depth
        self.supersample = config.render.supersample
        self.weighted = is_masked(self.groups) or depth.angle_power > 0
        objective_of = functools.partial(build_style_objective, config.style, nets, seed=config.optim.seed)
        self.masked = MaskedStyles.build(self.groups, styles, objective_of) if self.weighted else None
        self.plain: StyleObjective | None = None if self.weighted else objective_of(list(styles))

    def __call__(self, features: Features, out: RenderOutput, cameras: Cameras) -> torch.Tensor:
        if self.masked is None:
            return self.plain(features)
        return self.masked(features, self.pixel_weights(out, cameras))

    @torch.no_grad()
    def pixel_weights(self, out: RenderOutput, cameras: Cameras) -> list[torch.Tensor]:
        """Per mask group, ``[B,1,H,W]`` weights of the style loss: coverage · γ(depth) · cos(θ)^P."""
        weight = out.mask
        if self.config.angle_power > 0:
            weight = weight * view_angle_weights(out, cameras, supersample=self.supersample,
                                                 power=self.config.angle_power)
        if not is_masked(self.groups):  # the view angle alone: one group, and no depth to normalise
            return [weight]
        depth = view_depth(out.depth, out.mask, mode=self.config.mode, depth_range=self.config.near_far)
        return [weight * depth_mask(group.spec, depth) for group in self.groups]


def check_mesh_depth(config: MeshConfig) -> tuple[MaskGroup, ...]:
    """The style images' mask groups, once the depth options are known to make sense for a mesh."""
    groups = mask_groups(len(config.styles), config.depth.style_mask, config.depth.style_masks)
    check_near_far(config.depth.near_far)
    if any(group.spec.kind == "image" for group in groups):
        raise ConfigError("image: masks are for photos; a mesh's masks come from its render depth (near, far, "
                          "sigmoid:C:K, linear:A:B)")
    if config.depth.mode == "world" and is_masked(groups) and config.depth.near_far is None:
        raise ConfigError("depth mode world needs --depth-range NEAR FAR in the mesh's units")
    return groups
