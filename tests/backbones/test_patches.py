"""Patch backbone: known values, shapes, gradients, and that NNFM on it actually stylises."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restyle.backbones.patches import PatchBackbone, PatchBackboneConfig, patch_vectors, resize, to_opponent
from restyle.errors import ConfigError


def flat(colour: tuple[float, float, float], size: int = 32) -> torch.Tensor:
    return torch.tensor(colour).view(1, 3, 1, 1).expand(1, 3, size, size).clone()


def nnfm(features: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Local stand-in for restyle.losses.nnfm: mean cosine distance of each vector to its nearest style vector.

    features ``[B, C, H, W]``; style ``[M, C]``.
    """
    vectors = F.normalize(features.flatten(2).transpose(1, 2).reshape(-1, features.shape[1]), dim=1)
    return (1 - (vectors @ F.normalize(style, dim=1).T).max(dim=1).values).mean()


def style_vectors(backbone: PatchBackbone, style: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        maps = backbone(style, backbone.style_taps).maps
    return [m.flatten(2).transpose(1, 2).reshape(-1, m.shape[1]) for m in maps]


def test_map_shapes_per_level() -> None:
    backbone = PatchBackbone()
    features = backbone(torch.rand(2, 3, 64, 48), ["s0", "s1", "s2", "s3"])
    assert [tuple(m.shape) for m in features.maps] == [(2, 31, 64, 48), (2, 31, 32, 24), (2, 31, 16, 12), (2, 31, 8, 6)]
    assert backbone.channels == 31
    assert PatchBackbone(PatchBackboneConfig(patch_size=5)).channels == 3 + 75 + 1


def test_known_values_for_a_flat_colour() -> None:
    config = PatchBackboneConfig(chroma_gain=1.0, anchor=0.5)
    (level,) = PatchBackbone(config)(flat((1.0, 0.0, 0.0)), ["s1"]).maps
    vector = level[0, :, 5, 5]
    # Pure red: luminance 1/3 - 0.5, red-green 1/2, yellow-blue 1/4; no detail; the anchor last.
    torch.testing.assert_close(vector[:3], torch.tensor([1 / 3 - 0.5, 0.5, 0.25]))
    torch.testing.assert_close(vector[3:-1], torch.zeros(27))
    assert vector[-1] == pytest.approx(0.5)


def test_mid_grey_maps_to_the_opponent_origin() -> None:
    torch.testing.assert_close(to_opponent(flat((0.5, 0.5, 0.5)), chroma_gain=3.0), torch.zeros(1, 3, 32, 32))


def test_brightness_and_colour_change_the_cosine() -> None:
    # Cosine distance ignores length: black/white and red/blue must still point different ways.
    backbone = PatchBackbone()

    def vector(colour: tuple[float, float, float]) -> torch.Tensor:
        return backbone(flat(colour), ["s0"]).maps[0][0, :, 3, 3]

    def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
        return F.cosine_similarity(a, b, dim=0).item()

    assert cosine(vector((0.0, 0.0, 0.0)), vector((1.0, 1.0, 1.0))) < 0.1
    # Greys 0.2 and 0.4: (-0.3, anchor 0.5) vs (-0.1, 0.5) -> 0.28 / sqrt(0.34 * 0.26).
    assert cosine(vector((0.2, 0.2, 0.2)), vector((0.4, 0.4, 0.4))) == pytest.approx(0.28 / (0.34 * 0.26) ** 0.5)
    assert cosine(vector((0.9, 0.1, 0.1)), vector((0.1, 0.1, 0.9))) < 0.2
    assert cosine(vector((0.9, 0.1, 0.1)), vector((0.9, 0.1, 0.1))) == pytest.approx(1.0)


def test_detail_sees_local_structure() -> None:
    edge = torch.zeros(1, 3, 32, 32)
    edge[..., 16:] = 1.0
    (level,) = PatchBackbone()(edge, ["s0"]).maps
    detail = level[0, 3:-1]
    assert detail[:, 10, 15].abs().sum() > 1.0  # the pixel beside the edge sees it
    assert detail[:, 10, 5].abs().sum() == 0  # a flat area has no detail


def test_patch_vectors_gradcheck() -> None:
    opponent = torch.rand(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: patch_vectors(x, 3, 2.0, 0.5), (opponent,))


def test_resize_and_opponent_gradcheck() -> None:
    images = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: resize(to_opponent(x, 1.5), 0.5), (images,))


def test_gradients_reach_the_input() -> None:
    images = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(m.square().sum() for m in PatchBackbone()(images, ["s0", "s3"]).maps).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (PatchBackboneConfig(patch_size=4), "patch_size must be odd"),
        (PatchBackboneConfig(patch_size=9), "patch_size must be odd"),
        (PatchBackboneConfig(scales=(1.0, 0.5, 0.25)), "scales must be 4 factors"),  # type: ignore[arg-type]
        (PatchBackboneConfig(scales=(1.0, 0.5, 0.25, 0.0)), "scales must be 4 factors"),
        (PatchBackboneConfig(anchor=0.0), "anchor > 0"),
    ],
)
def test_invalid_config_is_refused(config: PatchBackboneConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        PatchBackbone(config)


def test_unknown_tap_and_embedding_are_refused() -> None:
    backbone = PatchBackbone()
    with pytest.raises(ConfigError, match=r"unknown feature tap\(s\) 's4'; valid: s0, s1, s2, s3"):
        backbone(torch.rand(1, 3, 32, 32), ["s4"])
    with pytest.raises(ConfigError, match="no image embedding"):
        backbone(torch.rand(1, 3, 32, 32), ["s0"], embedding=True)


def test_nnfm_on_patches_stylises_a_grey_image() -> None:
    """A few dozen Adam steps move a noisy grey image to the style's colours and stripes."""
    size = 32
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    stripes = (((rows + cols) // 4) % 2).float()
    red, blue = torch.tensor([0.85, 0.15, 0.1]).view(3, 1, 1), torch.tensor([0.1, 0.2, 0.8]).view(3, 1, 1)
    style = (stripes * red + (1 - stripes) * blue)[None]
    start = (0.5 + 0.05 * torch.randn(1, 3, size, size)).clamp(0.02, 0.98)

    backbone = PatchBackbone()
    targets = style_vectors(backbone, style)
    logits = torch.logit(start).requires_grad_(True)
    optimiser = torch.optim.Adam([logits], lr=0.1)

    def loss_of(image: torch.Tensor) -> torch.Tensor:
        maps = backbone(image, backbone.style_taps).maps
        return sum(nnfm(m, t) for m, t in zip(maps, targets, strict=True))

    initial = loss_of(start).item()
    for _ in range(40):
        loss = loss_of(torch.sigmoid(logits))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    result = torch.sigmoid(logits).detach()

    assert loss_of(result).item() < 0.35 * initial
    style_mean, start_mean, result_mean = (x.mean(dim=(0, 2, 3)) for x in (style, start, result))
    assert (result_mean - style_mean).norm() < 0.3 * (start_mean - style_mean).norm()
    # Most pixels end up near one of the two style colours rather than grey.
    pixels = result[0].flatten(1).T
    nearest = torch.cdist(pixels, torch.stack([red.flatten(), blue.flatten()])).min(dim=1).values
    assert (nearest < 0.25).float().mean() > 0.6
    assert ((start[0].flatten(1).T - 0.5).norm(dim=1) < 0.25).all()  # it really started grey
