"""Parameterisations: what the optimiser actually changes."""

from __future__ import annotations

import torch
from torch import nn


class PixelImage(nn.Module):
    """An image optimised pixel by pixel, initialised from a given image. ``forward() -> [1,3,H,W]``."""

    def __init__(self, init: torch.Tensor) -> None:
        super().__init__()
        self.pixels = nn.Parameter(init.detach().clone().reshape(1, *init.shape[-3:]))

    def forward(self) -> torch.Tensor:
        return self.pixels

    @torch.no_grad()
    def project(self) -> None:
        """Keep pixels displayable after each optimiser step."""
        self.pixels.clamp_(0.0, 1.0)

