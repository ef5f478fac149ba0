"""The Fourier, colour-decorrelated residual texture of "Differentiable Image Parameterizations" (Mordvintsev et
al. 2018, Distill; its 3D style transfer section): what the optimiser changes, added to the fixed original texture.

The residual is ``colour @ irfft2(coefficients * scale)``: learnable rfft2 coefficients (real and imaginary parts
as one real parameter ``[3,Ht,Wt//2+1,2]``), each frequency ``f`` (cycles per texel) scaled by
``1 / max(f, 1/max(Ht,Wt)) ** decay``, then the three channels mixed into RGB by a fixed 3x3 matrix.

Why: Adam moves every parameter by about the learning rate per step whatever the size of its gradient, so on a
texel grid every texel takes its own step (white noise, speckle). Here every coefficient does, and the 1/f scale
makes low frequencies take the large steps: large smooth structures form first, fine detail later (the step's
spectrum falls as 1/f^2 in power, like a natural image's, instead of being flat). The colour matrix does the same
for colour: the decorrelated channels are ImageNet's principal colour directions, so a step of lr in each moves
brightness much more than hue, as colours vary in natural images.

Learning rate: the transform is normalised so that a step of ``lr`` on every coefficient (Adam's first step is
``lr * sign(gradient)``) moves the texels by ``lr`` root-mean-square per channel, as a step of the pixel residual
does; the presets' learning rates (0.02-0.05) thus mean comparable per-step texel change. The FFT is "ortho"
(unitary), the spatial scale is divided by its root-mean-square over the parameters, and the colour matrix is
multiplied by ``sqrt(3) / |M|_F`` (the identity's Frobenius norm over its own).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# The square root of ImageNet's RGB colour correlation matrix (rows R, G, B; columns the decorrelated channels,
# brightness first), two decimals, as Lucid publishes it (tensorflow/lucid, lucid/optvis/param/color.py,
# ``color_correlation_svd_sqrt``; the paper's code). Its columns are the principal colour directions of natural
# images, each scaled by the square root of that direction's variance.
IMAGENET_COLOUR_CORRELATION_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))


def decorrelated_colour_matrix() -> torch.Tensor:
    """The ``[3,3]`` float64 matrix taking decorrelated channels to RGB: the correlation square root divided by its
    largest column norm (the paper's code: brightness becomes a unit direction), then by its Frobenius norm over
    sqrt(3) so that a step of ``lr`` in every channel moves RGB by ``lr`` root-mean-square (see the module)."""
    matrix = torch.tensor(IMAGENET_COLOUR_CORRELATION_SQRT, dtype=torch.float64)
    matrix = matrix / matrix.norm(dim=0).max()
    return matrix * math.sqrt(3) / matrix.norm()


def _edge_columns(width: int) -> list[int]:
    """The rfft2 columns whose frequencies are their own mirror along the width (0, and Wt/2 when Wt is even):
    there a coefficient at row k and the one at row -k are one complex-conjugate pair."""
    return [0, width // 2] if width % 2 == 0 and width > 1 else [0]


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> torch.Tensor:
    """Per rfft2 coefficient ``[Ht,Wt//2+1]`` (float64), ``1 / max(f, 1/max(Ht,Wt)) ** decay`` normalised so that
    a step of ±1 on every real parameter moves the texels by 1 root-mean-square (through an "ortho" irfft2).

    An interior coefficient stands for itself and its mirror, so a unit step of it moves the texels by 2 in squared
    norm; on an edge column a coefficient and its mirror are averaged into one pair (``_hermitian``), 1/2 each."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.rfftfreq(width, dtype=torch.float64)[None, :]
    frequency = (fy.square() + fx.square()).sqrt()
    scale = frequency.clamp(min=1.0 / max(height, width)) ** -decay
    weight = torch.full_like(scale, 2.0)
    weight[:, _edge_columns(width)] = 0.5
    mean_square_step = 2 * (weight * scale.square()).sum() / (height * width)  # two real parameters per coefficient
    return scale / mean_square_step.sqrt()


def _hermitian(spectrum: torch.Tensor, width: int) -> torch.Tensor:
    """``spectrum`` ``[...,Ht,Wt//2+1]`` with each edge column replaced by its Hermitian part (the mean of a
    coefficient and the conjugate of its mirror). irfft2 is defined for Hermitian input only; what it makes of the
    rest is the FFT back end's business, so it never sees any. The other half of an edge column has no effect and
    gets no gradient (Adam never moves it)."""
    columns = _edge_columns(width)
    edges = spectrum[..., columns]
    mirrored = edges.flip(-2).roll(1, dims=-2).conj()  # row k -> row -k (mod Ht)
    symmetric = (edges + mirrored) / 2
    if len(columns) == 1:
        return torch.cat([symmetric, spectrum[..., 1:]], dim=-1)
    return torch.cat([symmetric[..., :1], spectrum[..., 1:-1], symmetric[..., 1:]], dim=-1)


class FourierTexture(nn.Module):
    """A residual style texture in the Fourier domain and a decorrelated colour space, added to a fixed original
    texture and clamped: the interface of :class:`restyle.params.residual.ResidualTexture`.

    ``original`` is ``[3,Ht,Wt]``; the coefficients start at zero, so the first render shows the original asset
    exactly. ``forward() -> [3,Ht,Wt]`` in 0..1. ``decay`` is the exponent of the 1/f frequency scale: 1 (the
    paper's) makes every octave take an equal share of a step; 0 makes the step white noise, like the texel grid's.
    ``decorrelate`` mixes the channels with :func:`decorrelated_colour_matrix` (the paper's); without it they are
    R, G and B.
    """

    def __init__(self, original: torch.Tensor, decay: float = 1.0, decorrelate: bool = True) -> None:
        super().__init__()
        if original.ndim != 3 or original.shape[0] != 3:
            raise ValueError(f"original texture must be [3, Ht, Wt], got {tuple(original.shape)}")
        if not decay >= 0:
            raise ValueError(f"the Fourier decay must be at least 0, got {decay}")
        self.register_buffer("original", original.detach().clone())
        height, width = original.shape[-2:]
        self.coefficients = nn.Parameter(original.new_zeros(3, height, width // 2 + 1, 2))
        colour = decorrelated_colour_matrix() if decorrelate else torch.eye(3, dtype=torch.float64)
        # derived from the arguments, not state: kept out of the checkpoint
        self.register_buffer("scale", spectrum_scale(height, width, decay).to(original.dtype), persistent=False)
        self.register_buffer("colour", colour.to(original.dtype), persistent=False)
        self.register_buffer("colour_inverse", colour.inverse().to(original.dtype), persistent=False)

    @property
    def residual(self) -> torch.Tensor:
        """The residual ``[3,Ht,Wt]`` (signed, unclamped)."""
        height, width = self.original.shape[-2:]
        spectrum = _hermitian(torch.view_as_complex(self.coefficients) * self.scale, width)
        field = torch.fft.irfft2(spectrum, s=(height, width), norm="ortho")
        return torch.einsum("ij,jhw->ihw", self.colour, field)

    def coefficients_of(self, residual: torch.Tensor) -> torch.Tensor:
        """The coefficients ``[3,Ht,Wt//2+1,2]`` whose residual is ``residual`` ``[3,Ht,Wt]``: the inverse map."""
        field = torch.einsum("ij,jhw->ihw", self.colour_inverse, residual)
        return torch.view_as_real(torch.fft.rfft2(field, norm="ortho") / self.scale)

    def forward(self) -> torch.Tensor:
        total = self.original + self.residual
        # The value is clamped, the gradient passes unchanged (as ResidualTexture's: after ``project`` only float
        # rounding is ever clamped).
        return total + (total.clamp(0.0, 1.0) - total).detach()

    @torch.no_grad()
    def project(self) -> None:
        """Take the part of ``original + residual`` outside 0..1 off the coefficients; call after every optimiser
        step. The map from coefficients to residual is linear and invertible, so subtracting the preimage of the
        excess subtracts exactly the excess: out-of-range texels land on 0 or 1, the others stay put (up to float
        rounding). Why project at all: see ``ResidualTexture.project``."""
        total = self.original + self.residual
        self.coefficients.sub_(self.coefficients_of(total - total.clamp(0.0, 1.0)))
