"""How a network runs in a precision: fp32 is the plain call, bit for bit; bf16 runs under autocast with
channels-last images and hands back float32 features close to fp32's, with float32 gradients at the images; the
weight-free patch backbone stays float32 (CLIP's image tower: ``tests/text/test_clip_vit_b32.py``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restyle.backbones.patches import PatchBackbone
from restyle.backbones.precision import FP32, Precision
from restyle.backbones.vgg19 import VGG19Backbone

BF16 = Precision("bf16", "cpu")
TAPS = ("relu2_1", "relu3_1", "conv4_2")
# bf16 keeps 8 bits of mantissa; through a dozen random-weight convolutions the features stay within a few percent
# (measured 0.4-0.6%) and the images' gradient points the same way (measured cosine 0.9994).
FEATURE_TOLERANCE, GRADIENT_COSINE = 0.03, 0.99


@pytest.fixture(scope="module")
def vgg() -> VGG19Backbone:
    torch.manual_seed(4)
    return VGG19Backbone().to(memory_format=torch.channels_last)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(9))


def _features_and_gradient(net: torch.nn.Module, images: torch.Tensor, precision: Precision):
    net.precision = precision
    try:
        pixels = images.clone().requires_grad_(True)
        maps = net(pixels, TAPS).maps
        sum(fmap.pow(2).mean() for fmap in maps).backward()
        return maps, pixels.grad
    finally:
        net.precision = FP32


def _relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value - reference).detach().norm() / reference.detach().norm())


def test_fp32_is_the_plain_forward_bit_for_bit(vgg, images) -> None:
    assert vgg.precision == FP32
    with torch.no_grad():
        called, plain = vgg(images, TAPS), vgg.forward(images, TAPS)
    assert all(torch.equal(a, b) for a, b in zip(called.maps, plain.maps, strict=True))


def test_bf16_features_come_back_float32_and_close_to_fp32(vgg, images) -> None:
    reference, reference_grad = _features_and_gradient(vgg, images, FP32)
    maps, grad = _features_and_gradient(vgg, images, BF16)
    assert all(fmap.dtype == torch.float32 for fmap in maps) and grad.dtype == torch.float32
    for fmap, expected in zip(maps, reference, strict=True):
        assert _relative_error(fmap, expected) < FEATURE_TOLERANCE
    assert not torch.equal(maps[-1], reference[-1])  # it did run in bf16
    assert float(F.cosine_similarity(grad.flatten(), reference_grad.flatten(), dim=0)) > GRADIENT_COSINE


def test_bf16_runs_the_network_under_autocast_on_channels_last_images(vgg, images) -> None:
    seen: list[tuple[torch.dtype, bool]] = []
    hook = vgg.features[0].register_forward_hook(
        lambda module, inputs, output: seen.append(
            (output.dtype, inputs[0].is_contiguous(memory_format=torch.channels_last))))
    try:
        _features_and_gradient(vgg, images, BF16)
    finally:
        hook.remove()
    assert seen == [(torch.bfloat16, True)]


def test_the_patch_backbone_stays_float32_whatever_the_precision(images) -> None:
    patches = PatchBackbone()
    plain = patches(images, ("s0", "s2")).maps
    patches.precision = BF16
    assert all(torch.equal(a, b) for a, b in zip(patches(images, ("s0", "s2")).maps, plain, strict=True))

