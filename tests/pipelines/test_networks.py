"""Networks of a run: backbone defaults from the registry, and one forward pass for both losses when it can."""

from __future__ import annotations

import pytest
import torch

from restyle.backbones.base import Features
from restyle.backbones.vgg19 import VGG19Backbone
from restyle.losses.gram import gram_matrix
from restyle.pipelines.config import LossWeights, StyleConfig
from restyle.pipelines.networks import Networks, resolve_loss_defaults, style_and_content_features
from restyle.pipelines.objectives import GramObjective
from restyle.pipelines.registry import BACKBONES

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
