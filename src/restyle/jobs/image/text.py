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
from restyle.io.images import SAVE_FORMATS, save_image
from restyle.jobs.image.config import ImageConfig
from restyle.jobs.image.files import (
    ImageResult,
    content_sizing,
    output_pixels,
    resolve_defaults,
    sidecar_paths,
)
from restyle.jobs.image.inputs import load_sized
from restyle.jobs.image.steps import intermediate_path, intermediate_paths
from restyle.losses.clip_text import directional_clip_loss, patch_clip_loss, random_patches
from restyle.losses.tv import tv_loss
from restyle.objectives.networks import build_networks
from restyle.objectives.style import content_objective
from restyle.objectives.text import load_clip, prompt_direction
from restyle.params.unet import UNet, UNetSpec, unet_checkpoint
from restyle.run.files import locked_output, refuse_existing_file, refuse_overlap
from restyle.run.loop import (
    MetricsLog,
    PhaseCallback,
    StepCallback,
    StepInfo,
    as_floats,
    check_finite,
    learning_rate,
    report,
    resolve_device,
    set_learning_rate,
    weighted_total,
    write_config,
)
from restyle.run.preflight import check_image_output, check_memory, image_bytes
from restyle.text.clip_vit_b32 import ClipViTB32
from restyle.text.tokenizer import ClipTokenizer


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
    output = _check_text_inputs(config, config_file)
    with locked_output(output.parent, f".{output.name}.lock"):
        return _run(config, on_step, on_phase)


def _check_text_inputs(config: ImageConfig, config_file: Path | None) -> Path:
    if config.content is None:
        raise ConfigError("no content image given")
    if config.output is None:
        raise ConfigError("no output path given (use -o OUT)")
    if not config.text or not config.text.strip():
        raise ConfigError("the text prompt is empty: give a few words describing the style")
    if config.optim.optimizer != "adam":
        raise ConfigError(f"--text trains a U-Net with adam; optimizer {config.optim.optimizer!r} is not available")
    if config.preserve_color != "none":
        raise ConfigError("preserve_color is not available with --text")
    check_image_output(config.output, tuple(SAVE_FORMATS))
    if not config.content.exists():
        raise InputError(f"{config.content}: no such file")
    models = [config.save_model] if config.save_model is not None else []
    outputs = [config.output, *sidecar_paths(config.output), *models,
               *intermediate_paths(config.output, config.save_every, config.optim.iters)]
    inputs = [("content image", config.content)] + ([("config file", config_file)] if config_file else [])
    refuse_overlap(outputs, inputs)
    for path in [config.output, *models]:
        refuse_existing_file(path, overwrite=config.overwrite)
    return config.output


def _run(config: ImageConfig, on_step: StepCallback | None, on_phase: PhaseCallback | None) -> ImageResult:
    output = config.output
    # a permission of this invocation, not a setting of the run: the config.toml written must not carry it
    config = dataclasses.replace(resolve_defaults(config), overwrite=False)
    text = config.clip_text
    device = resolve_device(config.device)
    # the crops go through CLIP at its input side (224 for ViT-B/32), each with its activations kept for backward
    check_memory(image_bytes(output_pixels(config) + text.crops * 224**2), str(device), "this text run")
    torch.manual_seed(config.optim.seed)

    report(on_phase, f"loading {config.content.name}")
    content = load_sized(config.content, content_sizing(config), device, option="size")
    report(on_phase, "loading networks")
    clip, tokenizer = load_clip(text.encoder, config.pretrained, device)
    # only the content backbone is needed; the style backbone of the config plays no part in a text run
    nets = build_networks(dataclasses.replace(config.style, backbone=config.style.content_backbone),
                          config.pretrained, device)
    targets = _targets(config, clip, tokenizer, nets.content, content)

    unet = UNet(UNetSpec(text.base_channels, text.levels, config.optim.seed)).to(device)
    optimizer = torch.optim.Adam(unet.parameters(), lr=config.optim.lr)
    generator = torch.Generator().manual_seed(config.optim.seed)  # the crops' positions and warps
    metrics = MetricsLog()
    report(on_phase, f"training the U-Net ({config.optim.iters} steps)")
    metrics.open(sidecar_paths(output)[1])
    intermediates: list[Path] = []
    for step in range(config.optim.iters):
        lr = learning_rate(config.optim, step)
        set_learning_rate(optimizer, lr)
        optimizer.zero_grad(set_to_none=True)
        terms = _loss_terms(config, clip, nets.content, targets, unet(content), generator)
        total = weighted_total(terms)
        total.backward()
        optimizer.step()
        info = StepInfo(step + 1, config.optim.iters, lr, as_floats(terms, total))
        check_finite(info.losses, info.step)
        metrics.record(info, config.optim.log_every)
        if config.save_every and info.step % config.save_every == 0:
            intermediates.append(_save(unet, content, intermediate_path(output, info.step)))
        if on_step is not None:
            on_step(info)
    return _finish(config, unet, content, output, metrics, tuple(intermediates), on_phase)


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
    text, weights = config.clip_text, config.weights
    # CLIPstyler's crops fit its 512 x 512 images; a narrow photo gets crops as large as its short side
    crop_size = min(text.crop_size, *current.shape[-2:])
    patches = random_patches(current, text.crops, crop_size, clip.image_size, perspective_p=text.perspective,
                             generator=generator)
    terms = {
        "patch": text.patch_weight * patch_clip_loss(clip.encode_image(patches), targets.content_embedding,
                                                     targets.direction, text.threshold),
        "directional": text.directional_weight * directional_clip_loss(
            clip.encode_image(current), targets.content_embedding, targets.direction),
    }
    if weights.content:
        features = content_net(current, config.style.content_taps)
        terms["content"] = weights.content * content_objective(
            features, targets.content_features, tap_weights=config.style.content_tap_weights,
            reduction=config.style.content_reduction)
    if weights.tv:
        terms["tv"] = weights.tv * tv_loss(current)
    return terms


@torch.no_grad()
def _save(unet: UNet, content: torch.Tensor, path: Path) -> Path:
    save_image(unet(content)[0].cpu(), path)
    return path


def _finish(
    config: ImageConfig, unet: UNet, content: torch.Tensor, output: Path, metrics: MetricsLog,
    intermediates: tuple[Path, ...], on_phase: PhaseCallback | None,
) -> ImageResult:
    report(on_phase, f"writing {output.name}")
    with torch.no_grad():
        image = unet(content)[0].cpu()
    config_path, metrics_path = sidecar_paths(output)
    save_image(image, output)
    write_config(config, config_path)
    metrics.write(metrics_path)
    if config.save_model is not None:
        with atomic_path(config.save_model) as temporary:
            torch.save(unet_checkpoint(unet), temporary)
    return ImageResult(image, output, config_path, metrics_path, config, intermediates, config.save_model)
