"""``restyle mesh --text``: CLIPstyler's text losses (Kwon & Ye 2022) on the renders of a mesh run.

Each step the stylised texture's renders over black are compared in CLIP space with the original asset's renders
of the same views (no gradient): the change from each original view to its stylised one should follow the
direction from the source text to the prompt, for the whole view (directional loss) and for random crops of it
(patch loss, every crop against its own view's original, with CLIPstyler's rejection threshold). With style
images as well, these terms are added to the style loss; with the prompt alone there is no style loss, no style
backbone and no style image (the palette then comes only from ``--palette``).

Shapes: renders ``[B,3,H,W]`` sRGB 0..1; embeddings ``[B,D]``; crops ``[B*crops,3,S,S]`` with S the CLIP input side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from restyle.backbones.precision import Precision
from restyle.errors import ConfigError
from restyle.jobs.mesh.config import MeshConfig
from restyle.losses.clip_text import directional_clip_loss, patch_clip_loss, random_patches
from restyle.objectives.text import load_clip, prompt_direction
from restyle.sections import ClipTextConfig, StyleConfig
from restyle.text.clip_vit_b32 import ClipViTB32


def text_defaults(config: MeshConfig) -> MeshConfig:
    """Check the prompt; with it alone (no style image), no recolouring and palette ``auto`` means no palette."""
    if config.text is None:
        return config
    if not config.text.strip():
        raise ConfigError("the text prompt is empty: give a few words describing the style")
    if config.styles:
        return config
    # no style colours to recolour to or take a palette from (the CPU presets recolour)
    config = dataclasses.replace(config, texture=dataclasses.replace(config.texture, recolour="none"))
    if config.palette.source.strip().lower() == "auto":
        config = dataclasses.replace(config, palette=dataclasses.replace(config.palette, source="none"))
    return config


def network_style(config: MeshConfig) -> StyleConfig:
    """The style section the networks are built from: without style images only the content backbone is loaded
    (it then stands in for the style one, which no loss uses)."""
    if config.styles:
        return config.style
    return dataclasses.replace(config.style, backbone=config.style.content_backbone)


@dataclass
class MeshText:
    """The CLIP model and the text direction of a run, and the generator of its crops."""

    clip: ClipViTB32
    direction: torch.Tensor  # [D] unit, source text -> prompt
    generator: torch.Generator  # the crops' positions and warps

    def terms(self, text: ClipTextConfig, renders: torch.Tensor, originals: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted ``patch`` and ``directional`` terms of ``renders`` against the ``originals`` (no grad)."""
        with torch.no_grad():
            sources = self.clip.encode_image(originals)  # [B, D], one per view
        crop_size = min(text.crop_size, *renders.shape[-2:])
        patches = random_patches(renders, text.crops, crop_size, self.clip.image_size,
                                 perspective_p=text.perspective, generator=self.generator)
        # random_patches is image-major: view b's crops follow view b-1's, so each source repeats per crop
        patch_sources = sources.repeat_interleave(text.crops, dim=0)
        return {
            "patch": text.patch_weight * patch_clip_loss(self.clip.encode_image(patches), patch_sources,
                                                         self.direction, text.threshold),
            "directional": text.directional_weight * directional_clip_loss(
                self.clip.encode_image(renders), sources, self.direction),
        }


def load_text(config: MeshConfig, device: torch.device, precision: Precision) -> MeshText | None:
    """The run's CLIP model (its image tower in ``precision``) and direction, or None without ``--text``."""
    if config.text is None:
        return None
    clip, tokenizer = load_clip(config.clip_text.encoder, config.pretrained, device, precision=precision)
    direction = prompt_direction(config.text, config.clip_text.source, clip, tokenizer)
    return MeshText(clip, direction, torch.Generator().manual_seed(config.optim.seed))
