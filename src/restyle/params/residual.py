"""The residual style texture of a mesh run: what the optimiser changes, added to the fixed original texture."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResidualTexture(nn.Module):
    """A residual style texture added to a fixed original texture and clamped (Mishra & Granskog).

    ``original`` is ``[3,Ht,Wt]``; the residual starts at zero so the first render shows the original asset.
    ``forward() -> [3,Ht,Wt]`` in 0..1.

    With ``levels > 1`` the residual is a Laplacian-pyramid parameterisation: the sum of ``levels`` layers at
    full, half, quarter, ... resolution, each bilinearly upsampled to ``[3,Ht,Wt]``. Adam moves every parameter
    by about the learning rate per step whatever its gradient, so on a plain texel grid each texel takes its
    own noisy step (speckle); a coarse layer moves whole regions together, so colour and large strokes form
    first and the fine layer adds detail on top.
    """

    def __init__(self, original: torch.Tensor, levels: int = 1) -> None:
        super().__init__()
        if original.ndim != 3 or original.shape[0] != 3:
            raise ValueError(f"original texture must be [3, Ht, Wt], got {tuple(original.shape)}")
        if levels < 1:
            raise ValueError(f"residual levels must be at least 1, got {levels}")
        self.register_buffer("original", original.detach().clone())
        height, width = original.shape[-2:]
        self.layers = nn.ParameterList(
            nn.Parameter(original.new_zeros(3, -(-height // 2**level), -(-width // 2**level)))
            for level in range(levels)
        )

    @property
    def residual(self) -> torch.Tensor:
        """The summed residual ``[3,Ht,Wt]`` (signed, unclamped)."""
        size = self.original.shape[-2:]
        total = self.layers[0]
        for layer in self.layers[1:]:
            total = total + F.interpolate(layer[None], size=size, mode="bilinear", align_corners=False)[0]
        return total

    def forward(self) -> torch.Tensor:
        total = self.original + self.residual
        # The value is clamped, the gradient passes unchanged: after ``project`` only float rounding is ever
        # clamped, and a hard clamp would cut the gradient of a texel that rounds a hair past 0 or 1.
        return total + (total.clamp(0.0, 1.0) - total).detach()

    @torch.no_grad()
    def project(self) -> None:
        """Pull the finest layer back so that ``original + residual`` lies in 0..1; call after every optimiser step.

        Without it a texel pushed past 0 or 1 would sit under a clamp: a hard clamp passes it no gradient, and
        Adam's momentum carries it further out, so a white texel that once stepped brighter would stay white for
        good. Projected, every texel shows what the optimiser holds and can always move back."""
        total = self.original + self.residual
        self.layers[0].sub_(total - total.clamp(0.0, 1.0))
