"""CLIPstyler losses: known values on hand-made embeddings, rejection, gradients, patch sampling."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from restyle.losses.clip_text import (
    DirectionalCLIPLoss,
    GlobalCLIPLoss,
    PatchCLIPLoss,
    directional_clip_loss,
    directional_clip_losses,
    global_clip_loss,
    patch_clip_loss,
    random_patches,
    text_direction,
)

E = torch.eye(4, dtype=torch.float64)  # e0..e3: orthonormal hand-made "embeddings"


def test_global_known_values() -> None:
    assert global_clip_loss(E[1:2], E[0]).item() == pytest.approx(1.0)  # orthogonal
    assert global_clip_loss(3.0 * E[0:1], E[0]).item() == pytest.approx(0.0)  # same direction, any norm
    assert global_clip_loss(-E[0:1], E[0]).item() == pytest.approx(2.0)  # opposite
    assert global_clip_loss(torch.stack([E[0], E[1]]), E[0]).item() == pytest.approx(0.5)  # mean over B


def test_text_direction_normalises_before_difference() -> None:
    assert torch.allclose(text_direction(E[0], E[1]), (E[0] - E[1]) / math.sqrt(2.0))
    # Raw norms must not tilt the direction: 10*e0 vs e1 is still the 45-degree diagonal.
    assert torch.allclose(text_direction(10.0 * E[0], E[1]), (E[0] - E[1]) / math.sqrt(2.0))
    assert text_direction(E[2], -E[2]).norm().item() == pytest.approx(1.0)


def test_directional_known_values() -> None:
    direction = text_direction(E[0], E[1])
    # output moved from e1 to e0 exactly as the text did: loss 0, whatever the embeddings' norms.
    assert directional_clip_loss(5.0 * E[0:1], 0.2 * E[1:2], direction).item() == pytest.approx(0.0, abs=1e-12)
    # moved orthogonally to the text direction (e1 -> e2 vs e0): loss 1.
    assert directional_clip_loss(E[2:3], E[1:2], E[0]).item() == pytest.approx(1.0)
    # [B, D] sources pair row by row; [1, D] broadcasts.
    outputs, sources = torch.stack([E[0], E[2]]), torch.stack([E[1], E[1]])
    assert directional_clip_loss(outputs, sources, direction).item() == pytest.approx(
        directional_clip_loss(outputs, E[1:2], direction).item()
    )
    assert directional_clip_loss(outputs, E[1:2], E[0]).item() == pytest.approx((1.0 - 1.0 / math.sqrt(2.0) + 1.0) / 2)


def test_patch_rejection_drops_exactly_the_patches_below_threshold() -> None:
    # Source e1, direction e0; per-patch losses: -e0 -> 1 + 1/sqrt2, -e1 -> 1, e0 -> 1 - 1/sqrt2 (~0.29).
    patches = torch.stack([-E[0], -E[1], E[0]])
    losses = directional_clip_losses(patches, E[1:2], E[0])
    expected = torch.tensor([1.0 + 1.0 / math.sqrt(2.0), 1.0, 1.0 - 1.0 / math.sqrt(2.0)], dtype=torch.float64)
    assert torch.allclose(losses, expected)
    kept_mean_over_all = (expected[0] + expected[1]).item() / 3.0  # divisor N = 3, not the kept count 2
    assert patch_clip_loss(patches, E[1:2], E[0], threshold=0.7).item() == pytest.approx(kept_mean_over_all)
    assert patch_clip_loss(patches, E[1:2], E[0], threshold=0.0).item() == pytest.approx(expected.mean().item())
    assert patch_clip_loss(patches, E[1:2], E[0], threshold=5.0).item() == 0.0
    assert PatchCLIPLoss(threshold=0.7)(patches, E[1:2], E[0]).item() == pytest.approx(kept_mean_over_all)


def test_rejected_patches_get_zero_gradient() -> None:
    patches = torch.stack([-E[0], -E[1], E[0]]).clone().requires_grad_(True)
    patch_clip_loss(patches, E[1:2], E[0], threshold=0.7).backward()
    assert patches.grad is not None
    assert torch.all(patches.grad[2] == 0.0)
    assert patches.grad[0].abs().sum() > 0.0


def test_modules_match_functions() -> None:
    outputs, sources, text = torch.randn(3, 8), torch.randn(3, 8), torch.randn(8)
    direction = text_direction(torch.randn(8), text)
    assert GlobalCLIPLoss()(outputs, text).item() == pytest.approx(global_clip_loss(outputs, text).item())
    assert DirectionalCLIPLoss()(outputs, sources, direction).item() == pytest.approx(
        directional_clip_loss(outputs, sources, direction).item()
    )
    assert "threshold=0.5" in repr(PatchCLIPLoss(0.5))


def _random_embeddings(rows: int, dim: int = 6, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, dim, dtype=torch.float64, generator=generator).requires_grad_(True)


def test_gradcheck_global_and_directional() -> None:
    outputs, sources, text = _random_embeddings(3, seed=1), _random_embeddings(3, seed=2), _random_embeddings(1, seed=3)
    assert torch.autograd.gradcheck(lambda o, t: global_clip_loss(o, t[0]), (outputs, text))
    target = _random_embeddings(1, seed=4)
    assert torch.autograd.gradcheck(lambda t, s: text_direction(t[0], s[0]), (target, text))
    assert torch.autograd.gradcheck(
        lambda o, s, t: directional_clip_loss(o, s, text_direction(t[0], text[0].detach())), (outputs, sources, target)
    )


def test_gradcheck_patch_away_from_threshold() -> None:
    patches, source, direction = (
        _random_embeddings(6, seed=5),
        _random_embeddings(1, seed=6),
        _random_embeddings(1, 6, 7),
    )
    losses = directional_clip_losses(patches, source, direction[0]).detach().sort().values
    gap = int((losses[1:] - losses[:-1]).argmax())
    threshold = float(losses[gap] + losses[gap + 1]) / 2.0  # mid-gap: some kept, some rejected, no kink nearby
    assert torch.autograd.gradcheck(
        lambda p, s, d: patch_clip_loss(p, s, d[0], threshold=threshold), (patches, source, direction)
    )


@pytest.mark.parametrize(
    ("outputs", "sources", "direction"),
    [
        (torch.randn(2, 4), torch.randn(2, 4), torch.randn(5)),  # D mismatch
        (torch.randn(3, 4), torch.randn(2, 4), torch.randn(4)),  # source rows neither 1 nor N
        (torch.randn(4), torch.randn(1, 4), torch.randn(4)),  # outputs not [N, D]
        (torch.randn(2, 4), torch.randn(1, 4), torch.randn(1, 4)),  # direction not [D]
    ],
)
def test_bad_embeddings_raise(outputs: torch.Tensor, sources: torch.Tensor, direction: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="must be"):
        directional_clip_loss(outputs, sources, direction)


# --- random_patches ---------------------------------------------------------------------------------------


def test_random_patches_shape_any_aspect() -> None:
    images = torch.rand(2, 3, 20, 31)
    patches = random_patches(images, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    assert patches.shape == (6, 3, 16, 16)
    assert random_patches(images, 1, 20, 8, perspective_p=1.0).shape == (2, 3, 8, 8)


def test_random_patches_reproducible_and_global_rng_untouched() -> None:
    images = torch.rand(2, 3, 24, 30)

    def draw(seed: int) -> torch.Tensor:
        return random_patches(images, 4, 16, 20, perspective_p=1.0, generator=torch.Generator().manual_seed(seed))

    torch.manual_seed(123)
    first = draw(7)
    after_call = torch.rand(5)
    torch.manual_seed(123)
    expected_after = torch.rand(5)
    assert torch.equal(after_call, expected_after)  # the global stream did not move
    assert torch.equal(first, draw(7))
    assert not torch.equal(first, draw(8))


def _expected_crops(images: torch.Tensor, n: int, size: int, out: int, seed: int) -> torch.Tensor:
    """Slicing + resize with the offsets random_patches draws first from the same generator."""
    generator = torch.Generator().manual_seed(seed)
    batch, _, height, width = images.shape
    tops = torch.randint(0, height - size + 1, (batch, n), generator=generator)
    lefts = torch.randint(0, width - size + 1, (batch, n), generator=generator)
    crops = torch.stack(
        [
            images[b, :, t : t + size, left : left + size]
            for b in range(batch)
            for t, left in zip(tops[b], lefts[b], strict=True)
        ]
    )
    return F.interpolate(crops, size=(out, out), mode="bilinear", align_corners=False, antialias=size > out)


@pytest.mark.parametrize(("size", "out"), [(10, 16), (20, 8), (12, 12)])
def test_no_perspective_gives_exact_crops(size: int, out: int) -> None:
    images = torch.rand(2, 3, 21, 27)
    patches = random_patches(images, 3, size, out, perspective_p=0.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(patches, _expected_crops(images, 3, size, out, seed=3))


def test_perspective_changes_the_crops() -> None:
    images = torch.rand(1, 3, 24, 24)
    warped = random_patches(images, 4, 16, 16, perspective_p=1.0, generator=torch.Generator().manual_seed(2))
    plain = random_patches(images, 4, 16, 16, perspective_p=0.0, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(warped, plain)


def test_every_patch_is_warped_by_default_as_in_clipstyler() -> None:
    """CLIPstyler's RandomPerspective has p=1; with p=0.5 about half of these 32 crops would come out plain."""
    from restyle.sections import ClipTextConfig

    images = torch.rand(1, 3, 24, 24)
    warped = random_patches(images, 32, 16, 16, generator=torch.Generator().manual_seed(4))
    plain = random_patches(images, 32, 16, 16, perspective_p=0.0, generator=torch.Generator().manual_seed(4))
    assert all(not torch.allclose(w, p) for w, p in zip(warped, plain, strict=True))
    assert ClipTextConfig().perspective == 1.0  # what the image and mesh text runs pass


@pytest.mark.parametrize("perspective_p", [0.0, 1.0])
def test_random_patches_gradients_reach_images(perspective_p: float) -> None:
    images = torch.rand(2, 3, 18, 22, requires_grad=True)
    patches = random_patches(images, 2, 12, 16, perspective_p=perspective_p, generator=torch.Generator().manual_seed(0))
    patches.pow(2).sum().backward()
    assert images.grad is not None
    assert torch.isfinite(images.grad).all()
    assert images.grad.abs().sum() > 0.0


@pytest.mark.parametrize(
    ("images", "n", "size"),
    [
        (torch.rand(3, 8, 8), 1, 4),
        (torch.rand(1, 1, 8, 8), 1, 4),
        (torch.rand(1, 3, 8, 10), 1, 9),
        (torch.rand(1, 3, 8, 8), 0, 4),
    ],
)
def test_random_patches_bad_inputs_raise(images: torch.Tensor, n: int, size: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        random_patches(images, n, size)
