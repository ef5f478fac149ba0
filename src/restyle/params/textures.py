"""The residual texture a mesh run optimises, by parameterisation name: the one table of them."""

from __future__ import annotations

import torch
from torch import nn

from restyle.params.fourier import FourierTexture
from restyle.params.residual import ResidualTexture

PARAMETERISATIONS = ("pixels", "fourier", "fourier-rgb")


def residual_texture(original: torch.Tensor, parameterisation: str, levels: int = 1) -> nn.Module:
    """A residual texture on ``original`` ``[3,Ht,Wt]`` (zero at start; ``forward() -> [3,Ht,Wt]`` in 0..1,
    ``residual``, ``project()``): ``pixels``, a texel grid (``levels > 1``: a Laplacian pyramid of them);
    ``fourier``, the 1/f-scaled spectrum in decorrelated colour (the paper's); ``fourier-rgb``, the same spectrum
    with R, G and B as its channels."""
    if parameterisation not in PARAMETERISATIONS:
        raise ValueError(
            f"unknown texture parameterisation {parameterisation!r}; valid: {', '.join(PARAMETERISATIONS)}"
        )
    if parameterisation == "pixels":
        return ResidualTexture(original, levels)
    if levels != 1:
        raise ValueError(f"residual levels are a pixels option; {parameterisation} takes 1, got {levels}")
    return FourierTexture(original, decorrelate=parameterisation == "fourier")
