"""``restyle image --text``: CLIPstyler (Kwon & Ye, CVPR 2022) for photos.

A small U-Net (``params.unet``) is trained on the content image alone: its output is pulled along the CLIP-space
direction from the source text ("a Photo") to the prompt, as a whole (directional loss) and over random
perspective-warped crops (patch loss, with CLIPstyler's rejection threshold), while VGG content and TV losses keep
the photo's structure. Shapes: content and output ``[1,3,H,W]`` sRGB 0..1, aspect ratio kept; crops
``[crops,3,S,S]`` with S the CLIP model's input side.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from restyle.backbones.base import Features
from restyle.errors import ConfigError, InputError
from restyle.io.atomic import atomic_path
from restyle.io.images import save_image
from restyle.jobs.image.config import ClipTextConfig, ImageConfig
from restyle.jobs.image.files import (
    ImageResult,
    check_output_format,
    claim_outputs,
    content_sizing,
    open_metrics,
    output_lock,
    prepare_run,
    require_content_and_output,
    write_result,
)
from restyle.jobs.image.inputs import load_sized
from restyle.jobs.image.steps import Evaluation, ScheduledStep, optimise_image
from restyle.losses.clip_text import directional_clip_loss, patch_clip_loss, random_patches
from restyle.losses.tv import tv_loss
from restyle.objectives.networks import build_networks
from restyle.objectives.style import content_objective
from restyle.objectives.text import load_clip, prompt_direction
from restyle.params.unet import UNet, UNetSpec, unet_checkpoint
from restyle.run.loop import PhaseCallback, StepCallback, report, weighted_total
from restyle.run.precision import resolve_precision
from restyle.text.clip_vit_b32 import ClipViTB32
from restyle.text.tokenizer import ClipTokenizer

# CLIP's input side (ViT-B/32): every crop goes through CLIP at this size, its activations kept for backward
_CLIP_SIDE = 224


@dataclass(frozen=True)
class TextTargets:
    """What every step compares against: fixed, computed once."""

    direction: torch.Tensor  # [D] unit, source text -> prompt
    content_embedding: torch.Tensor  # [1, D] CLIP embedding of the whole content image
    content_features: Features  # VGG features of the content at the content taps


def run_text(
    config: ImageConfig,
    on_step: StepCallback | None = None,
    *,
    config_file: Path | None = None,
    on_phase: PhaseCallback | None = None,
) -> ImageResult:
    """Stylise ``config.content`` after ``config.text``; writes the image, its config.toml and metrics.jsonl (and
    the U-Net with ``save_model``). The same reliability rules as the style-image run: inputs checked first, no
    input overwritten, an existing output only with ``overwrite``, one run per output at a time."""
    _check_text_inputs(config, config_file)
    with output_lock(config.output):
        return _run(config, on_step, on_phase)


def _check_text_inputs(config: ImageConfig, config_file: Path | None) -> None:
    require_content_and_output(config, styles=False)
    _check_text_options(config)
    check_output_format(config)
    if not config.content.exists():
        raise InputError(f"{config.content}: no such file")
    models = [config.save_model] if config.save_model is not None else []
    inputs = [("content image", config.content)] + ([("config file", config_file)] if config_file else [])
    claim_outputs(config, inputs, models)


def _check_text_options(config: ImageConfig) -> None:
    if not config.text or not config.text.strip():
        raise ConfigError("the text prompt is empty: give a few words describing the style")
    if config.optim.optimizer != "adam":
        raise ConfigError(f"--text trains a U-Net with adam; optimizer {config.optim.optimizer!r} is not available")
    if config.preserve_color != "none":
        raise ConfigError("preserve_color is not available with --text")


def _run(config: ImageConfig, on_step: StepCallback | None, on_phase: PhaseCallback | None) -> ImageResult:
    config, device = prepare_run(config, "this text run", extra_pixels=config.clip_text.crops * _CLIP_SIDE**2)
    report(on_phase, f"loading {config.content.name}")
    content = load_sized(config.content, content_sizing(config), device, option="size")
    training = _training(config, content, device, on_phase)
    metrics = open_metrics(config.output, on_phase, f"training the U-Net ({config.optim.iters} steps)")
    intermediates = optimise_image(ScheduledStep(config.optim, training.optimizer, training), config, metrics,
                                   training.save, on_step)
    result = write_result(config, training.image, metrics, intermediates, on_phase)
    if config.save_model is not None:
        with atomic_path(config.save_model) as temporary:
            torch.save(unet_checkpoint(training.unet), temporary)
    return dataclasses.replace(result, model=config.save_model)


def _training(
    config: ImageConfig, content: torch.Tensor, device: torch.device, on_phase: PhaseCallback | None
) -> UNetTraining:
    """The networks, the fixed targets and a fresh U-Net with its optimizer."""
    precision = resolve_precision(config.optim.precision, device)
    report(on_phase, f"loading networks ({precision.describe()})")
    clip, tokenizer = load_clip(config.clip_text.encoder, config.pretrained, device, precision=precision)
    # only the content backbone is needed; the style backbone of the config plays no part in a text run
    nets = build_networks(dataclasses.replace(config.style, backbone=config.style.content_backbone),
                          config.pretrained, device, precision=precision)
    targets = _targets(config, clip, tokenizer, nets.content, content)
    text, seed = config.clip_text, config.optim.seed
    unet = UNet(UNetSpec(text.base_channels, text.levels, seed)).to(device)
    optimizer = torch.optim.Adam(unet.parameters(), lr=config.optim.lr)
    generator = torch.Generator().manual_seed(seed)  # the crops' positions and warps
    return UNetTraining(config, clip, nets.content, targets, content, unet, optimizer, generator)


@dataclass(frozen=True)
class UNetTraining:
    """What a training step of the U-Net works with, and the step itself (:meth:`__call__`)."""

    config: ImageConfig
    clip: ClipViTB32
    content_net: torch.nn.Module
    targets: TextTargets
    content: torch.Tensor  # [1,3,H,W]
    unet: UNet
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # the crops' positions and warps

    def __call__(self, step: int) -> Evaluation:
        """One Adam step on the U-Net (``step`` plays no part: the text losses have no schedule)."""
        self.optimizer.zero_grad(set_to_none=True)
        terms = _loss_terms(self.config, self.clip, self.content_net, self.targets, self.unet(self.content),
                            self.generator)
        total = weighted_total(terms)
        total.backward()
        self.optimizer.step()
        return Evaluation(terms, total)

    @torch.no_grad()
    def image(self) -> torch.Tensor:
        """The U-Net's image of the content now, ``[3,H,W]`` on the CPU."""
        return self.unet(self.content)[0].cpu()

    def save(self, path: Path) -> None:
        save_image(self.image(), path)


@torch.no_grad()
def _targets(
    config: ImageConfig, clip: ClipViTB32, tokenizer: ClipTokenizer, content_net: torch.nn.Module,
    content: torch.Tensor,
) -> TextTargets:
    direction = prompt_direction(config.text, config.clip_text.source, clip, tokenizer)
    return TextTargets(direction, clip.encode_image(content), content_net(content, config.style.content_taps))


def _loss_terms(
    config: ImageConfig, clip: ClipViTB32, content_net: torch.nn.Module, targets: TextTargets,
    current: torch.Tensor, generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    weights = config.weights
    terms = _clip_terms(config.clip_text, clip, targets, current, generator)
    if weights.content:
        features = content_net(current, config.style.content_taps)
        terms["content"] = weights.content * content_objective(
            features, targets.content_features, tap_weights=config.style.content_tap_weights,
            reduction=config.style.content_reduction)
    if weights.tv:
        terms["tv"] = weights.tv * tv_loss(current)
    return terms


def _clip_terms(
    text: ClipTextConfig, clip: ClipViTB32, targets: TextTargets, current: torch.Tensor, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """CLIPstyler's two weighted CLIP terms: over random perspective-warped crops, and over the whole image."""
    # CLIPstyler's crops fit its 512 x 512 images; a narrow photo gets crops as large as its short side
    crop_size = min(text.crop_size, *current.shape[-2:])
    patches = random_patches(current, text.crops, crop_size, clip.image_size, perspective_p=text.perspective,
                             generator=generator)
    return {
        "patch": text.patch_weight * patch_clip_loss(clip.encode_image(patches), targets.content_embedding,
                                                     targets.direction, text.threshold),
        "directional": text.directional_weight * directional_clip_loss(
            clip.encode_image(current), targets.content_embedding, targets.direction),
    }
