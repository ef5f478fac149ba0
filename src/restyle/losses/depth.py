"""Depth loss (Jamgochian, Lange, Ghiron, CS231n): keep the content image's depth in the output.

``(1/HW) * ||phi(I_content) - phi(I_output)||^2`` per image, averaged over the batch, where ``phi`` is a
monocular depth network (:class:`restyle.backbones.depth.DepthEstimator`). The loss takes the two depth maps,
never the network: the content's map is computed once, the output's every step.
"""

from __future__ import annotations

from torch import Tensor, nn

from restyle.conventions import float32_sums


def _check_depth(depth: Tensor, name: str) -> None:
    if depth.ndim != 4 or depth.shape[1] != 1 or not depth.is_floating_point():
        raise ValueError(f"{name} must be a float tensor [B, 1, H, W], got {tuple(depth.shape)} {depth.dtype}")


@float32_sums
def depth_loss(output_depth: Tensor, content_depth: Tensor) -> Tensor:
    """Mean squared difference of ``[B, 1, H, W]`` depth maps; ``content_depth`` may have batch 1 (broadcast).

    Every image has ``H * W`` pixels, so the mean over all of them is the per-image ``(1/HW) ||.||^2``
    averaged over the batch.
    """
    _check_depth(output_depth, "output_depth")
    _check_depth(content_depth, "content_depth")
    if content_depth.shape[1:] != output_depth.shape[1:] or content_depth.shape[0] not in (1, output_depth.shape[0]):
        raise ValueError(
            f"content_depth shape {tuple(content_depth.shape)} does not match "
            f"output_depth shape {tuple(output_depth.shape)}"
        )
    return (output_depth - content_depth.to(output_depth.dtype)).pow(2).mean()


class DepthLoss(nn.Module):
    """Module form of :func:`depth_loss`; stateless (the content depth is an argument)."""

    def forward(self, output_depth: Tensor, content_depth: Tensor) -> Tensor:
        return depth_loss(output_depth, content_depth)
