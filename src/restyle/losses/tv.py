"""Total-variation regulariser.

Anisotropic TV averaged per direction: ``mean(|dx|^p) + mean(|dy|^p)`` over horizontal and vertical
neighbour differences, with ``p = 2`` (squared differences, Gatys / Mahendran & Vedaldi; the default)
or ``p = 1`` (absolute differences, edge-preserving). Using means keeps the value independent of the
image size: a horizontal ramp with step ``a`` per pixel scores ``a^2`` (squared) or ``|a|`` (absolute).
A direction with no neighbour pairs (width or height 1) contributes 0.
"""

from __future__ import annotations

from torch import Tensor, nn


def _mean_variation(differences: Tensor, squared: bool) -> Tensor:
    if differences.numel() == 0:
        return differences.sum()  # 0, still attached to the graph
    return differences.pow(2).mean() if squared else differences.abs().mean()


def tv_loss(images: Tensor, *, squared: bool = True) -> Tensor:
    """Total variation of ``[B, C, H, W]`` images (any C); scalar, see the module docstring."""
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor [B, C, H, W], got {tuple(images.shape)} {images.dtype}"
        )
    horizontal = images[..., :, 1:] - images[..., :, :-1]
    vertical = images[..., 1:, :] - images[..., :-1, :]
    return _mean_variation(horizontal, squared) + _mean_variation(vertical, squared)


class TVLoss(nn.Module):
    """Module form of :func:`tv_loss`."""

    def __init__(self, *, squared: bool = True) -> None:
        super().__init__()
        self.squared = squared

    def forward(self, images: Tensor) -> Tensor:
        return tv_loss(images, squared=self.squared)

    def extra_repr(self) -> str:
        return f"squared={self.squared}"
