"""Depth Anything via transformers: a tiny random model saved as the hub repo lays it out, loaded for real."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from restyle.backbones.depth import (
    DEPTH_ESTIMATORS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DepthEstimator,
    load_depth_estimator,
    normalised_depth,
)
from restyle.backbones.weights import WEIGHT_SOURCES, find_checkpoint
from restyle.errors import ConfigError, InputError, WeightsMissingError

REPO_FOLDER = "Depth-Anything-V2-Small-hf"  # DIR/<repo name>/model.safetensors, as `hf download --local-dir`
INPUT_SIZE = 56  # 4 patches of 14


@pytest.fixture
def weights(tiny_depth_weights: Path, offline_caches: Path) -> Path:
    return tiny_depth_weights


@pytest.fixture(scope="module")
def estimator(tiny_depth_weights: Path) -> DepthEstimator:
    """Loaded once for the module (read-only use); the explicit weights dir is searched before any cache."""
    return load_depth_estimator("depth-anything-small", tiny_depth_weights, download=False, input_size=INPUT_SIZE)


def by_hand(model: torch.nn.Module, images: torch.Tensor, size: tuple[int, int], antialias: bool) -> torch.Tensor:
    """The documented preprocessing and postprocessing, written out, around the bare transformers model."""
    resized = F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=antialias)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    predicted = model(pixel_values=(resized - mean) / std).predicted_depth
    assert predicted.shape == (images.shape[0], *size)  # transformers returns [B, h, w] at the fed size
    return F.interpolate(predicted[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)


def test_the_source_is_the_published_repo_with_its_config() -> None:
    (source,) = WEIGHT_SOURCES["depth-anything-small"]
    assert source.repo_id == "depth-anything/Depth-Anything-V2-Small-hf"
    assert source.filename == "model.safetensors" and source.companions == ("config.json",)
    assert source.format == "transformers-safetensors"


def test_loads_through_the_weights_machinery(weights: Path) -> None:
    assert find_checkpoint("depth-anything-small", weights) == weights / REPO_FOLDER / "model.safetensors"
    estimator = load_depth_estimator("depth-anything-small", weights, download=False, input_size=INPUT_SIZE)
    assert estimator.name == "depth-anything-small" and estimator.input_size == INPUT_SIZE
    assert not estimator.training and not estimator.model.training
    assert all(not parameter.requires_grad for parameter in estimator.parameters())


def test_non_square_output_matches_the_model_run_by_hand(estimator: DepthEstimator) -> None:
    images = torch.rand(2, 3, 100, 150)  # shrunk to 56 x 84 for the network
    assert estimator.network_size(100, 150) == (56, 84)
    depth = estimator(images)
    assert depth.shape == (2, 1, 100, 150) and depth.dtype == torch.float32
    assert torch.isfinite(depth).all() and depth.std() > 0
    torch.testing.assert_close(depth, by_hand(estimator.model, images, (56, 84), antialias=True))


def test_small_inputs_are_enlarged_without_antialiasing(estimator: DepthEstimator) -> None:
    images = torch.rand(1, 3, 30, 20)  # portrait, short side 20 -> 56, long side 84
    assert estimator.network_size(30, 20) == (84, 56)
    torch.testing.assert_close(estimator(images), by_hand(estimator.model, images, (84, 56), antialias=False))


def test_an_input_at_the_network_size_is_only_normalised(estimator: DepthEstimator) -> None:
    images = torch.rand(1, 3, 56, 70)
    pixels = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(estimator.preprocess(images), pixels)
    expected = estimator.model(pixel_values=pixels).predicted_depth[:, None]
    torch.testing.assert_close(estimator(images), expected)


def test_network_size_follows_the_authors_lower_bound_resize(weights: Path) -> None:
    full = load_depth_estimator("depth-anything-small", weights, download=False)  # default 518 = 37 x 14
    assert full.input_size == 518
    assert full.network_size(480, 640) == (518, 686)  # 640 * 518/480 = 690.7 -> 49 patches
    assert full.network_size(1080, 1920) == (518, 924)  # 920.9 -> 66 patches
    assert full.network_size(256, 256) == (518, 518)
    assert DepthEstimator(full.model, input_size=50).input_size == 56  # rounded to the patch size
    assert DepthEstimator(full.model, input_size=3).input_size == 14


def test_gradient_reaches_the_input_image(estimator: DepthEstimator) -> None:
    images = torch.rand(1, 3, 60, 90, requires_grad=True)
    estimator(images).square().mean().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_train_keeps_eval_mode(estimator: DepthEstimator) -> None:
    assert estimator.train() is estimator
    assert not estimator.training and not any(module.training for module in estimator.modules())
    images = torch.rand(1, 3, 56, 56)
    torch.testing.assert_close(estimator(images), estimator(images))  # no dropout, no batch statistics


def test_follows_the_model_dtype(estimator: DepthEstimator) -> None:
    double = DepthEstimator(copy.deepcopy(estimator.model).double(), input_size=28)
    images = torch.rand(1, 3, 20, 30)  # float32 in, float64 model
    assert double(images).dtype == torch.float64


def test_rejects_images_that_are_not_b3hw(estimator: DepthEstimator) -> None:
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        estimator(torch.rand(1, 1, 56, 56))
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        estimator(torch.rand(3, 56, 56))


def test_missing_folder_is_a_one_line_error_with_the_download_command(tmp_path: Path, offline_caches: Path) -> None:
    with pytest.raises(WeightsMissingError) as caught:
        load_depth_estimator("depth-anything-small", tmp_path / "nothing-here", download=False)
    message = str(caught.value)
    assert "\n" not in message
    for needle in (
        "depth-anything-small",
        "restyle weights download depth-anything-small",
        "depth-anything/Depth-Anything-V2-Small-hf",
        "config.json",
        "--weights-dir",
        "--depth FILE",
    ):
        assert needle in message
    assert "--backbone" not in message  # an image backbone cannot stand in for a depth network


def test_download_offline_is_a_one_line_weights_missing_error(tmp_path: Path, offline_caches: Path) -> None:
    with pytest.raises(WeightsMissingError) as caught:
        load_depth_estimator("depth-anything-small", tmp_path, download=True)
    message = str(caught.value)
    assert "\n" not in message and "model.safetensors, config.json" in message and "HF_HUB_OFFLINE" in message


def test_weights_without_their_config_are_not_found(tmp_path: Path, tiny_depth_weights: Path,
                                                     offline_caches: Path) -> None:
    folder = tmp_path / "w" / REPO_FOLDER
    folder.mkdir(parents=True)
    shutil.copy(tiny_depth_weights / REPO_FOLDER / "model.safetensors", folder)
    with pytest.raises(WeightsMissingError, match="with config.json beside it"):
        load_depth_estimator("depth-anything-small", tmp_path / "w", download=False)


def test_corrupt_weights_are_a_one_line_input_error(tmp_path: Path, tiny_depth_weights: Path,
                                                    offline_caches: Path) -> None:
    folder = tmp_path / "w" / REPO_FOLDER
    shutil.copytree(tiny_depth_weights / REPO_FOLDER, folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file" * 4)
    with pytest.raises(InputError) as caught:
        load_depth_estimator("depth-anything-small", tmp_path / "w", download=False)
    message = str(caught.value)
    assert "\n" not in message and str(folder) in message


def test_a_metric_depth_checkpoint_is_refused(tmp_path: Path, tiny_depth_anything) -> None:
    tiny_depth_anything(depth_estimation_type="metric", max_depth=20).save_pretrained(tmp_path / "metric")
    with pytest.raises(InputError, match="metric depth model"):
        DepthEstimator.from_folder(tmp_path / "metric")


def test_a_depth_model_of_another_family_is_refused(tmp_path: Path) -> None:
    """AutoModelForDepthEstimation loads any depth model; the preprocessing here is Depth Anything's."""
    from transformers import GLPNConfig, GLPNForDepthEstimation

    config = GLPNConfig(num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], patch_sizes=[3],
                        strides=[2], num_attention_heads=[1], mlp_ratios=[1], decoder_hidden_size=8)
    GLPNForDepthEstimation(config).save_pretrained(tmp_path / "glpn")
    with pytest.raises(InputError, match="a glpn model; restyle's depth preprocessing is Depth Anything's"):
        DepthEstimator.from_folder(tmp_path / "glpn")


def test_unknown_network_lists_the_valid_ones(tmp_path: Path) -> None:
    assert set(DEPTH_ESTIMATORS) == {"depth-anything-small"}
    with pytest.raises(ConfigError, match="unknown depth network 'midas'; valid: depth-anything-small"):
        load_depth_estimator("midas", tmp_path, download=False)


# --------------------------------------------------------------------------------------------------
# normalised_depth


def test_normalised_depth_flips_the_order_into_0_near_1_far_per_image() -> None:
    inverse = torch.tensor([[1.0, 3.0], [2.0, 5.0]]).view(1, 1, 2, 2)
    other = torch.tensor([[10.0, 20.0], [30.0, 40.0]]).view(1, 1, 2, 2)
    depth = normalised_depth(torch.cat([inverse, other]))
    torch.testing.assert_close(depth[0, 0], torch.tensor([[1.0, 0.5], [0.75, 0.0]]))
    torch.testing.assert_close(depth[1, 0], torch.tensor([[1.0, 2 / 3], [1 / 3, 0.0]]))
    assert depth.amin(dim=(1, 2, 3)).tolist() == [0.0, 0.0] and depth.amax(dim=(1, 2, 3)).tolist() == [1.0, 1.0]


def test_normalised_depth_of_a_constant_map_is_zeros_with_finite_gradients() -> None:
    inverse = torch.cat([torch.full((1, 1, 3, 3), 7.0), torch.rand(1, 1, 3, 3)]).requires_grad_(True)
    depth = normalised_depth(inverse)
    assert torch.equal(depth[0], torch.zeros(1, 3, 3))
    depth.sum().backward()
    assert inverse.grad is not None and torch.isfinite(inverse.grad).all()


def test_normalised_depth_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        normalised_depth(torch.rand(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        normalised_depth(torch.ones(1, 1, 4, 4, dtype=torch.int64))
