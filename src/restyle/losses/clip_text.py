"""CLIP text-guided losses of CLIPstyler (Kwon & Ye, CVPR 2022), on precomputed CLIP embeddings.

The losses take embeddings, never a CLIP model: the caller encodes images (and text) and passes the
vectors, so these functions stay pure tensor maths and test without weights.

* :func:`global_clip_loss`: ``mean_b (1 - cos(image_b, text))`` (plain CLIP guidance, no direction).
* :func:`directional_clip_loss`: ``mean_b (1 - cos(out_b - src_b, d))`` with the text direction
  ``d = text_direction(target, source)``; CLIPstyler's ``loss_glob``.
* :func:`patch_clip_loss`: the same per patch, with CLIPstyler's rejection: a patch whose loss is below
  ``threshold`` counts 0 (it is already stylised enough and stops pulling), and the mean is over all N
  patches, not over the kept ones (CLIPstyler: ``loss_temp[loss_temp < thresh] = 0; loss_temp.mean()``).
* :func:`random_patches`: the crops those patch embeddings are taken from (crop, perspective, resize).

Normalisation follows CLIPstyler: every embedding (image and text) is scaled to unit length before the
differences ``out - src`` and ``target - source`` are taken, so the direction does not depend on the
encoders' raw norms; the differences are then compared by cosine, which is scale-free. A zero difference
(output identical to source) has cosine 0 with anything, so its loss is 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.augmentation import RandomPerspective
from torch import Tensor, nn

from restyle.conventions import float32_sums

CLIP_INPUT_SIZE = 224  # CLIP ViT-B/32 input side
PATCH_THRESHOLD = 0.7  # CLIPstyler's default ``--thresh``


def _check_vector(name: str, vector: Tensor) -> None:
    if vector.ndim != 1 or not vector.is_floating_point():
        raise ValueError(f"{name} must be a float tensor [D], got {tuple(vector.shape)} {vector.dtype}")


def _check_rows(name: str, rows: Tensor, dim: int, allowed: tuple[int, ...] | None = None) -> None:
    """``rows`` must be float ``[R, dim]``, with ``R`` in ``allowed`` when given."""
    ok = rows.ndim == 2 and rows.is_floating_point() and rows.shape[1] == dim and rows.shape[0] > 0
    if ok and allowed is not None:
        ok = rows.shape[0] in allowed
    if not ok:
        want = "R" if allowed is None else " or ".join(str(r) for r in sorted(set(allowed)))
        raise ValueError(f"{name} must be a float tensor [{want}, {dim}], got {tuple(rows.shape)} {rows.dtype}")


def text_direction(target: Tensor, source: Tensor) -> Tensor:
    """Unit CLIP-space direction ``[D]`` from the source text to the target text embedding (both ``[D]``).

    ``normalise(normalise(target) - normalise(source))``. Identical texts give a zero direction (every
    directional loss is then 1), which a caller should treat as a configuration error.
    """
    _check_vector("target", target)
    _check_vector("source", source)
    if target.shape != source.shape:
        raise ValueError(f"target and source must match, got {tuple(target.shape)} and {tuple(source.shape)}")
    return F.normalize(F.normalize(target, dim=0) - F.normalize(source, dim=0), dim=0)


def global_clip_loss(image_embeddings: Tensor, text_embedding: Tensor) -> Tensor:
    """``mean_b (1 - cos(image_b, text))`` for image embeddings ``[B, D]`` and a text embedding ``[D]``."""
    _check_vector("text_embedding", text_embedding)
    _check_rows("image_embeddings", image_embeddings, text_embedding.shape[0])
    cosines = F.cosine_similarity(image_embeddings, text_embedding.unsqueeze(0), dim=1)
    return (1.0 - cosines).mean()


@float32_sums
def directional_clip_losses(output_embeddings: Tensor, source_embeddings: Tensor, direction: Tensor) -> Tensor:
    """Per-row directional loss ``[N]``: ``1 - cos(normalise(out_n) - normalise(src_n), direction)``.

    ``output_embeddings`` ``[N, D]``; ``source_embeddings`` ``[N, D]`` or ``[1, D]`` (one source for all
    rows, as CLIPstyler's single content image); ``direction`` ``[D]`` from :func:`text_direction`.
    """
    _check_vector("text_direction", direction)
    dim = direction.shape[0]
    _check_rows("output_embeddings", output_embeddings, dim)
    _check_rows("source_embeddings", source_embeddings, dim, allowed=(1, output_embeddings.shape[0]))
    image_direction = F.normalize(output_embeddings, dim=1) - F.normalize(source_embeddings, dim=1)
    return 1.0 - F.cosine_similarity(image_direction, direction.unsqueeze(0), dim=1)


@float32_sums
def directional_clip_loss(output_embeddings: Tensor, source_embeddings: Tensor, text_direction: Tensor) -> Tensor:
    """Mean over B of :func:`directional_clip_losses` (CLIPstyler's global directional loss); scalar.

    Args:
        output_embeddings: ``[B, D]`` CLIP embeddings of the stylised images.
        source_embeddings: ``[B, D]`` or ``[1, D]`` embeddings of the content images.
        text_direction: ``[D]`` from :func:`text_direction`.
    """
    return directional_clip_losses(output_embeddings, source_embeddings, text_direction).mean()


@float32_sums
def patch_clip_loss(
    patch_output_embeddings: Tensor,
    source_embedding: Tensor,
    text_direction: Tensor,
    threshold: float = PATCH_THRESHOLD,
) -> Tensor:
    """CLIPstyler's patch loss: per-patch directional loss, those below ``threshold`` zeroed, mean over all N.

    Args:
        patch_output_embeddings: ``[N, D]`` embeddings of N random patches of the output.
        source_embedding: ``[1, D]`` (the whole content image, as CLIPstyler) or ``[N, D]``.
        text_direction: ``[D]`` from :func:`text_direction`.
        threshold: per-patch losses ``< threshold`` count 0; the divisor stays N, so rejected patches
            lower the loss rather than being left out of the average.
    """
    losses = directional_clip_losses(patch_output_embeddings, source_embedding, text_direction)
    # where() rather than in-place masking: the rejected patches get an exactly zero gradient.
    return torch.where(losses < threshold, torch.zeros_like(losses), losses).mean()


def _check_patch_args(images: Tensor, n: int, size: int, out_size: int) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or not images.is_floating_point():
        raise ValueError(f"images must be a float tensor [B, 3, H, W], got {tuple(images.shape)} {images.dtype}")
    if n < 1 or out_size < 1:
        raise ValueError(f"n and out_size must be >= 1, got n={n}, out_size={out_size}")
    if not 1 <= size <= min(images.shape[-2:]):
        raise ValueError(f"size must be in [1, min(H, W)={min(images.shape[-2:])}], got {size}")


def _crop_all(images: Tensor, n: int, size: int, generator: torch.Generator | None) -> Tensor:
    """``n`` uniformly placed ``size``² crops per image, image-major: ``[B*n, 3, size, size]``."""
    batch, _, height, width = images.shape
    # Offsets are drawn on the CPU so that a CPU generator works for images on any device.
    tops = torch.randint(0, height - size + 1, (batch, n), generator=generator).tolist()
    lefts = torch.randint(0, width - size + 1, (batch, n), generator=generator).tolist()
    crops = [
        images[b, :, top : top + size, left : left + size]
        for b in range(batch)
        for top, left in zip(tops[b], lefts[b], strict=True)
    ]
    return torch.stack(crops)


def _resize(images: Tensor, out_size: int) -> Tensor:
    if images.shape[-1] == out_size:
        return images
    shrinking = images.shape[-1] > out_size
    return F.interpolate(images, size=(out_size, out_size), mode="bilinear", align_corners=False, antialias=shrinking)


def random_patches(
    images: Tensor,
    n: int,
    size: int,
    out_size: int = CLIP_INPUT_SIZE,
    *,
    perspective_p: float = 1.0,
    distortion: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """CLIPstyler's patch sampler: ``n`` random ``size``² crops per image, perspective-warped, resized.

    Each crop goes through kornia's ``RandomPerspective(distortion, p=perspective_p)`` (zero fill) and a
    bilinear resize to ``out_size`` (antialiased when shrinking). The defaults are CLIPstyler's
    (``RandomPerspective(fill=0, p=1, distortion_scale=0.5)``: every crop warped; kornia moves each corner
    inwards by up to ``distortion`` × half the side, as torchvision does). Differentiable w.r.t. ``images``.

    Args:
        images: ``[B, 3, H, W]``, any aspect ratio, ``size <= min(H, W)``.
        generator: CPU generator that makes the result reproducible; kornia draws from the global RNG, so
            that RNG is forked and seeded from ``generator`` and the caller's global stream is untouched.

    Returns:
        ``[B*n, 3, out_size, out_size]``, image-major (image 0's n patches first).
    """
    _check_patch_args(images, n, size, out_size)
    crops = _crop_all(images, n, size, generator)
    if perspective_p > 0.0:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        warp = RandomPerspective(distortion_scale=distortion, p=perspective_p)
        # kornia samples its parameters on the CPU (its default RNG device), so forking the CPU RNG suffices;
        # default_generator.manual_seed rather than torch.manual_seed leaves CUDA generators alone.
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            crops = warp(crops)
    return _resize(crops, out_size)


class GlobalCLIPLoss(nn.Module):
    """Module form of :func:`global_clip_loss`; stateless (the text embedding is an argument)."""

    def forward(self, image_embeddings: Tensor, text_embedding: Tensor) -> Tensor:
        return global_clip_loss(image_embeddings, text_embedding)


class DirectionalCLIPLoss(nn.Module):
    """Module form of :func:`directional_clip_loss`; stateless."""

    def forward(self, output_embeddings: Tensor, source_embeddings: Tensor, text_direction: Tensor) -> Tensor:
        return directional_clip_loss(output_embeddings, source_embeddings, text_direction)


class PatchCLIPLoss(nn.Module):
    """Module form of :func:`patch_clip_loss`, holding the rejection ``threshold``."""

    def __init__(self, threshold: float = PATCH_THRESHOLD) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, patch_output_embeddings: Tensor, source_embedding: Tensor, text_direction: Tensor) -> Tensor:
        return patch_clip_loss(patch_output_embeddings, source_embedding, text_direction, self.threshold)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"
