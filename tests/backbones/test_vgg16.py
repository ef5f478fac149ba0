"""VGG16 backbone: torchvision's layout and key names, taps, gradients, and real checkpoint formats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from restyle.backbones.vgg16 import IMAGENET_MEAN, VGG16Backbone
from restyle.errors import ConfigError, InputError

TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG16_CONV_PARAMETERS = 14_714_688  # torchvision vgg16().features, a published figure


@pytest.fixture(scope="module")
def vgg() -> VGG16Backbone:
    torch.manual_seed(1)
    return VGG16Backbone()


def torchvision_state_dict(model: VGG16Backbone) -> dict[str, torch.Tensor]:
    """What ``torch.save(torchvision.models.vgg16().state_dict())`` holds, with a shrunken classifier.

    The real classifier (120M parameters) is never used by restyle, so a small stand-in with the same
    key names keeps the test fast while proving those keys are ignored.
    """
    state = dict(model.state_dict())
    for index, shape in ((0, (8, 16)), (3, (8, 8)), (6, (10, 8))):
        state[f"classifier.{index}.weight"] = torch.randn(shape)
        state[f"classifier.{index}.bias"] = torch.randn(shape[0])
    return state


def timm_state_dict(model: VGG16Backbone) -> dict[str, torch.Tensor]:
    """timm's vgg16.tv_in1k layout: the same ``features.*`` keys, the classifier renamed."""
    state = {key: value.clone() for key, value in model.state_dict().items()}
    state["pre_logits.fc1.weight"] = torch.randn(8, 512, 1, 1)
    state["pre_logits.fc1.bias"] = torch.randn(8)
    state["head.fc.weight"] = torch.randn(10, 8)
    state["head.fc.bias"] = torch.randn(10)
    return state


def test_state_dict_has_exactly_torchvision_feature_keys(vgg: VGG16Backbone) -> None:
    expected = {f"features.{i}.{kind}" for i in TORCHVISION_CONV_INDICES for kind in ("weight", "bias")}
    state = vgg.state_dict()
    assert set(state) == expected
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.10.weight"].shape == (256, 128, 3, 3)
    assert state["features.28.weight"].shape == (512, 512, 3, 3)
    assert sum(value.numel() for value in state.values()) == VGG16_CONV_PARAMETERS


@pytest.mark.parametrize(
    ("tap", "channels", "stride"),
    [("0", 64, 1), ("1", 64, 1), ("6", 128, 2), ("11", 256, 4), ("15", 256, 4), ("18", 512, 8),
     ("22", 512, 8), ("25", 512, 16), ("30", 512, 32)],
)  # fmt: skip
def test_tap_shapes_and_strides(vgg: VGG16Backbone, tap: str, channels: int, stride: int) -> None:
    images = torch.rand(2, 3, 64, 96)
    (feature,) = vgg(images, [tap]).maps
    assert feature.shape == (2, channels, 64 // stride, 96 // stride)


def test_maps_come_back_in_request_order(vgg: VGG16Backbone) -> None:
    features = vgg(torch.rand(1, 3, 32, 32), ["11", "1", "6"])
    assert [m.shape[1] for m in features.maps] == [256, 64, 128]
    assert features.embedding is None


def test_input_is_normalised_with_imagenet_statistics(vgg: VGG16Backbone) -> None:
    # The ImageNet mean colour normalises to zero, so the first convolution outputs just its bias.
    images = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 32, 32)
    (conv1,) = vgg(images, ["0"]).maps
    bias = vgg.features[0].bias.view(1, -1, 1, 1).expand_as(conv1)
    torch.testing.assert_close(conv1, bias, atol=1e-6, rtol=0)


def test_default_taps_are_the_documented_layers(vgg: VGG16Backbone) -> None:
    assert VGG16Backbone.content_taps == ("11", "13", "15")
    assert VGG16Backbone.gram_taps == ("1", "6", "11", "18", "25")
    assert VGG16Backbone.style_taps == ("11", "13", "15")  # the CLIP paper's VGG baseline (its features.py)
    relu_taps = set(VGG16Backbone.content_taps + VGG16Backbone.gram_taps + VGG16Backbone.style_taps)
    assert all(isinstance(vgg.features[int(tap)], torch.nn.ReLU) for tap in relu_taps)


def test_unknown_tap_lists_valid_ones(vgg: VGG16Backbone) -> None:
    with pytest.raises(ConfigError, match=r"unknown feature tap\(s\) 'relu3_1'; valid: 0, 1, 2"):
        vgg(torch.rand(1, 3, 32, 32), ["relu3_1"])


def test_embedding_request_is_refused(vgg: VGG16Backbone) -> None:
    with pytest.raises(ConfigError, match="no image embedding"):
        vgg(torch.rand(1, 3, 32, 32), ["1"], embedding=True)


def test_too_small_input_is_refused(vgg: VGG16Backbone) -> None:
    with pytest.raises(ValueError, match="at least 32x32"):
        vgg(torch.rand(1, 3, 16, 64), ["1"])


def test_frozen_but_gradients_reach_the_input(vgg: VGG16Backbone) -> None:
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    vgg(images, ["11", "22"]).maps[1].square().mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in vgg.parameters())
    vgg.train()
    assert not vgg.training


def test_forward_stops_at_the_deepest_requested_tap(vgg: VGG16Backbone) -> None:
    ran: list[int] = []
    hooks = [
        module.register_forward_hook(lambda *_, index=index: ran.append(index))
        for index, module in enumerate(vgg.features)
    ]
    try:
        vgg(torch.rand(1, 3, 32, 32), ["6", "13"])
    finally:
        for hook in hooks:
            hook.remove()
    assert ran == list(range(14))


@pytest.mark.parametrize("file_format", ["torchvision_pth", "timm_safetensors"])
def test_published_formats_load_with_identical_outputs(vgg: VGG16Backbone, tmp_path: Path, file_format: str) -> None:
    if file_format == "torchvision_pth":
        path = tmp_path / "vgg16-397923af.pth"
        torch.save(torchvision_state_dict(vgg), path)
    else:
        path = tmp_path / "model.safetensors"
        save_file(timm_state_dict(vgg), str(path))
    loaded = VGG16Backbone.from_checkpoint(path)
    images, taps = torch.rand(1, 3, 40, 48), ["1", "15", "30"]
    for ours, theirs in zip(vgg(images, taps).maps, loaded(images, taps).maps, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_missing_key_names_the_file_and_the_key(vgg: VGG16Backbone, tmp_path: Path) -> None:
    state = torchvision_state_dict(vgg)
    del state["features.0.weight"]
    path = tmp_path / "x.pth"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"x\.pth: not a VGG16 checkpoint \(missing key features\.0\.weight\)"):
        VGG16Backbone.from_checkpoint(path)


def test_batchnorm_vgg_is_refused(vgg: VGG16Backbone, tmp_path: Path) -> None:
    state = torchvision_state_dict(vgg)
    state["features.1.running_mean"] = torch.zeros(64)  # vgg16_bn has BatchNorm at index 1
    path = tmp_path / "vgg16_bn.pth"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"vgg16_bn\.pth: not a VGG16 checkpoint \(unexpected key features\.1"):
        VGG16Backbone.from_checkpoint(path)


def test_wrong_shape_is_refused(vgg: VGG16Backbone, tmp_path: Path) -> None:
    state = torchvision_state_dict(vgg)
    state["features.28.weight"] = torch.zeros(256, 512, 3, 3)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"features\.28\.weight has shape \[256, 512, 3, 3\]"):
        VGG16Backbone.from_checkpoint(path)
