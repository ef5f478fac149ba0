"""CLIP RN50 image tower: published key names and shapes, taps, embedding, and the real file formats."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from restyle.backbones.clip_rn50 import ClipRN50Backbone
from restyle.errors import ConfigError, InputError

NARROW_WIDTH = 8
NARROW_OUTPUT = 32

# Shapes of OpenAI's RN50 image tower as published (RN50.pt / open_clip "RN50" "openai").
PUBLISHED_RN50_SHAPES = {
    "visual.conv1.weight": (32, 3, 3, 3),
    "visual.conv3.weight": (64, 32, 3, 3),
    "visual.layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "visual.layer2.0.downsample.1.running_var": (512,),
    "visual.layer3.0.conv2.weight": (256, 256, 3, 3),
    "visual.layer3.5.conv3.weight": (1024, 256, 1, 1),
    "visual.layer4.2.conv3.weight": (2048, 512, 1, 1),
    "visual.attnpool.positional_embedding": (50, 2048),
    "visual.attnpool.q_proj.weight": (2048, 2048),
    "visual.attnpool.c_proj.weight": (1024, 2048),
    "visual.attnpool.c_proj.bias": (1024,),
}
RN50_VISUAL_PARAMETERS = 38_316_896


def randomise_batchnorm(module: nn.Module) -> None:
    """Non-trivial running statistics, so a loader that skipped buffers would be caught."""
    for bn in module.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.1, 0.1)


@pytest.fixture(scope="module")
def clip() -> ClipRN50Backbone:
    torch.manual_seed(2)
    model = ClipRN50Backbone(width=NARROW_WIDTH, output_dim=NARROW_OUTPUT)
    randomise_batchnorm(model)
    return model


def open_clip_state_dict(model: ClipRN50Backbone) -> dict[str, torch.Tensor]:
    """An open_clip CLIP state dict: ``visual.*`` plus text-tower keys that must be ignored."""
    state = {key: value.clone() for key, value in model.state_dict().items()}
    state["positional_embedding"] = torch.randn(77, 16)
    state["token_embedding.weight"] = torch.randn(100, 16)
    state["transformer.resblocks.0.attn.in_proj_weight"] = torch.randn(48, 16)
    state["logit_scale"] = torch.tensor(4.6052)
    return state


class OpenAIStyleClip(nn.Module):
    """Stand-in for OpenAI's scripted CLIP: holds ``.visual`` and a text parameter, runs the image tower."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual
        self.token_embedding = nn.Embedding(100, 16)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


def images(batch: int = 2, height: int = 64, width: int = 64) -> torch.Tensor:
    return torch.rand(batch, 3, height, width)


def test_full_size_key_names_and_shapes_match_the_published_rn50() -> None:
    state = ClipRN50Backbone().state_dict()
    for key, shape in PUBLISHED_RN50_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    assert all(key.startswith("visual.") for key in state)
    assert "visual.layer1.0.downsample.-1.weight" not in state  # the pooling step has no weights
    assert not any(key.startswith("visual.layer3.6") or key.startswith("visual.layer4.3") for key in state)
    parameters = sum(value.numel() for key, value in state.items() if "running" not in key and "num_batches" not in key)
    assert parameters == RN50_VISUAL_PARAMETERS


def test_taps_are_every_bottleneck_in_forward_order(clip: ClipRN50Backbone) -> None:
    taps = clip.available_taps()
    assert len(taps) == 3 + 4 + 6 + 3
    assert taps[0] == "layer1.0" and taps[-1] == "layer4.2"
    assert ClipRN50Backbone.style_taps == tuple(f"layer3.{i}" for i in range(6)) + ("layer4.0", "layer4.1", "layer4.2")
    assert ClipRN50Backbone.content_taps == ("layer3.5",)
    assert ClipRN50Backbone.gram_taps == ("layer1.2", "layer2.3", "layer3.5", "layer4.2")


@pytest.mark.parametrize(
    ("tap", "planes", "stride"),
    [("layer1.0", 1, 4), ("layer1.2", 1, 4), ("layer2.0", 2, 4), ("layer2.1", 2, 8), ("layer3.0", 4, 8),
     ("layer3.5", 4, 16), ("layer4.0", 8, 16), ("layer4.2", 8, 32)],
)  # fmt: skip
def test_tap_shapes_and_strides(clip: ClipRN50Backbone, tap: str, planes: int, stride: int) -> None:
    # conv2 runs before a strided block's pooling, so the first block of a stage keeps the previous stride.
    (feature,) = clip(images(2, 64, 96), [tap]).maps
    assert feature.shape == (2, NARROW_WIDTH * planes, 64 // stride, 96 // stride)


def test_tap_is_conv2_output_before_batchnorm(clip: ClipRN50Backbone) -> None:
    captured: list[torch.Tensor] = []
    hook = clip.visual.layer3[2].conv2.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        (feature,) = clip(images(1), ["layer3.2"]).maps
    finally:
        hook.remove()
    torch.testing.assert_close(feature, captured[0], rtol=0, atol=0)


def test_embedding_shape_for_224_and_other_sizes(clip: ClipRN50Backbone) -> None:
    at_224 = clip(images(2, 224, 224), [], embedding=True)
    assert at_224.maps == () and at_224.embedding is not None
    assert at_224.embedding.shape == (2, NARROW_OUTPUT)
    odd = clip(images(1, 96, 160), ["layer2.1"], embedding=True)
    assert odd.embedding is not None and odd.embedding.shape == (1, NARROW_OUTPUT)
    assert clip(images(1), ["layer2.1"]).embedding is None


def test_positional_embedding_is_resampled_for_other_grids(clip: ClipRN50Backbone) -> None:
    pool = clip.visual.attnpool
    assert pool.positional_embedding_for(7, 7) is pool.positional_embedding
    resampled = pool.positional_embedding_for(3, 5)
    assert resampled.shape == (1 + 15, pool.positional_embedding.shape[1])
    torch.testing.assert_close(resampled[0], pool.positional_embedding[0])
    # Resampling a 7x7 grid onto itself through the general path must give it back.
    same = torch.nn.functional.interpolate(
        pool.positional_embedding[1:].T.reshape(1, -1, 7, 7), size=(7, 7), mode="bicubic", align_corners=False
    )
    torch.testing.assert_close(same.reshape(same.shape[1], -1).T, pool.positional_embedding[1:])


def test_unknown_tap_lists_valid_ones(clip: ClipRN50Backbone) -> None:
    with pytest.raises(ConfigError, match=r"unknown feature tap\(s\) 'layer5.0'; valid: layer1.0, layer1.1"):
        clip(images(1), ["layer5.0"])
    with pytest.raises(ConfigError, match="no feature taps requested"):
        clip(images(1), [])


def test_frozen_but_gradients_reach_the_input(clip: ClipRN50Backbone) -> None:
    pixels = images(1).requires_grad_(True)
    features = clip(pixels, ["layer3.5", "layer4.2"], embedding=True)
    (features.maps[0].square().mean() + features.embedding.sum()).backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
    assert all(p.grad is None for p in clip.parameters())
    clip.train()
    assert not clip.visual.bn1.training


def test_forward_runs_no_block_past_the_deepest_tap(clip: ClipRN50Backbone) -> None:
    ran: list[str] = []
    hooks = [
        block.conv1.register_forward_hook(lambda *_, name=name: ran.append(name))
        for name, block in clip.visual.named_blocks()
    ]
    hooks.append(clip.visual.attnpool.register_forward_pre_hook(lambda *_: ran.append("attnpool")))
    try:
        clip(images(1), ["layer3.1", "layer2.0"])
    finally:
        for hook in hooks:
            hook.remove()
    assert ran == [*(f"layer1.{i}" for i in range(3)), *(f"layer2.{i}" for i in range(4)), "layer3.0", "layer3.1"]


def check_same_outputs(reference: ClipRN50Backbone, loaded: ClipRN50Backbone) -> None:
    pixels = images(2)
    taps = ["layer1.1", "layer3.0", "layer4.2"]
    expected, actual = reference(pixels, taps, embedding=True), loaded(pixels, taps, embedding=True)
    for ours, theirs in zip(expected.maps, actual.maps, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    torch.testing.assert_close(expected.embedding, actual.embedding, rtol=0, atol=0)


def test_open_clip_bin_loads_with_identical_outputs(clip: ClipRN50Backbone, tmp_path: Path) -> None:
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(open_clip_state_dict(clip), path)
    check_same_outputs(clip, ClipRN50Backbone.from_checkpoint(path))


def test_wrapped_ddp_checkpoint_loads(clip: ClipRN50Backbone, tmp_path: Path) -> None:
    path = tmp_path / "epoch_32.pt"
    state = {f"module.{key}": value for key, value in open_clip_state_dict(clip).items()}
    torch.save({"epoch": 32, "state_dict": state}, path)
    check_same_outputs(clip, ClipRN50Backbone.from_checkpoint(path))


def test_open_clip_safetensors_loads_with_identical_outputs(clip: ClipRN50Backbone, tmp_path: Path) -> None:
    path = tmp_path / "open_clip_model.safetensors"
    save_file(open_clip_state_dict(clip), str(path))
    check_same_outputs(clip, ClipRN50Backbone.from_checkpoint(path))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace/save: OpenAI's format needs them
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_openai_torchscript_fp16_archive_loads_with_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(3)
    reference = ClipRN50Backbone(width=NARROW_WIDTH, output_dim=NARROW_OUTPUT)
    randomise_batchnorm(reference)
    with torch.no_grad():  # OpenAI ships float16 weights: make ours exactly representable in half
        for tensor in reference.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    wrapper = OpenAIStyleClip(copy.deepcopy(reference.visual)).eval()
    archive = torch.jit.trace(wrapper, torch.rand(1, 3, 64, 64), check_trace=False).half()
    path = tmp_path / "RN50.pt"
    torch.jit.save(archive, str(path))
    loaded = ClipRN50Backbone.from_checkpoint(path)
    assert loaded.visual.conv1.weight.dtype == torch.float32
    check_same_outputs(reference, loaded)


def test_vgg_file_is_not_a_clip_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "vgg16-397923af.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(InputError, match=r"vgg16-397923af\.pth: not a CLIP RN50 checkpoint \(missing key visual"):
        ClipRN50Backbone.from_checkpoint(path)


def test_vit_checkpoint_is_refused_before_building_a_model(tmp_path: Path) -> None:
    path = tmp_path / "ViT-B-32.bin"
    vit_keys = {"visual.conv1.weight": torch.zeros(768, 3, 32, 32), "visual.class_embedding": torch.zeros(768)}
    torch.save(vit_keys, path)
    with pytest.raises(InputError, match=r"ViT-B-32\.bin: not a CLIP RN50 checkpoint \(visual\.conv1\.weight"):
        ClipRN50Backbone.from_checkpoint(path)


def test_deeper_resnet_is_refused(clip: ClipRN50Backbone, tmp_path: Path) -> None:
    state = open_clip_state_dict(clip)
    state["visual.layer3.6.conv1.weight"] = torch.zeros(32, 128, 1, 1)  # RN101 has 23 blocks in layer3
    path = tmp_path / "RN101.bin"
    torch.save(state, path)
    with pytest.raises(InputError, match=r"RN101\.bin: not a CLIP RN50 checkpoint \(unexpected key visual\.layer3\.6"):
        ClipRN50Backbone.from_checkpoint(path)
