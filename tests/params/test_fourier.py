"""The Fourier, colour-decorrelated residual texture: zero at start, exact gradients, the inverse map and the
projection built on it, the per-step texel change a learning rate means, and the low-frequency bias of a step;
and the parameterisation table that builds it."""

from __future__ import annotations

import math

import pytest
import torch

from restyle.params.fourier import IMAGENET_COLOUR_CORRELATION_SQRT, FourierTexture, decorrelated_colour_matrix
from restyle.params.residual import ResidualTexture
from restyle.params.textures import residual_texture

# even and odd sides: the rfft2 layout has a Nyquist column only for an even width
SHAPES = [(3, 6, 4), (3, 5, 3)]


def _with_coefficients(texture: FourierTexture, coefficients: torch.Tensor) -> FourierTexture:
    with torch.no_grad():
        texture.coefficients.copy_(coefficients)
    return texture


@pytest.mark.parametrize("decorrelate", [True, False])
def test_zero_coefficients_show_the_original_exactly(decorrelate) -> None:
    original = torch.rand(3, 20, 13)
    texture = FourierTexture(original, decorrelate=decorrelate)
    assert tuple(texture.coefficients.shape) == (3, 20, 7, 2)
    assert torch.equal(texture(), original)


def test_only_the_original_and_the_coefficients_are_checkpointed() -> None:
    """The scale and colour matrices follow from the arguments; a checkpoint holds the state alone."""
    texture = FourierTexture(torch.rand(3, 8, 8))
    assert set(texture.state_dict()) == {"original", "coefficients"}
    other = FourierTexture(torch.zeros(3, 8, 8))
    other.load_state_dict(_with_coefficients(texture, 0.1 * torch.randn(3, 8, 5, 2)).state_dict())
    assert torch.equal(other(), texture())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("decorrelate", [True, False])
def test_gradients_are_exact_in_float64(shape, decorrelate) -> None:
    """Small coefficients on a mid-grey start stay inside 0..1, where the texture is original + residual."""
    texture = FourierTexture(torch.full(shape, 0.5, dtype=torch.float64), decorrelate=decorrelate)
    start = 0.01 * torch.randn(texture.coefficients.shape, dtype=torch.float64)

    def texels(coefficients: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(texture, {"coefficients": coefficients}, ())

    assert torch.autograd.gradcheck(texels, (start.requires_grad_(),))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("decorrelate", [True, False])
def test_the_inverse_map_round_trips_any_texel_field(shape, decorrelate) -> None:
    texture = FourierTexture(torch.zeros(shape), decorrelate=decorrelate)
    field = torch.randn(shape)
    _with_coefficients(texture, texture.coefficients_of(field))
    torch.testing.assert_close(texture.residual, field, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_non_hermitian_half_of_the_edge_columns_does_nothing(shape) -> None:
    """irfft2 only sees the Hermitian part of the edge columns (0 and the even width's Nyquist column), whatever
    the coefficients hold there, and that other half gets no gradient."""
    texture = FourierTexture(torch.rand(shape))
    _with_coefficients(texture, 0.05 * torch.randn(texture.coefficients.shape))
    before = texture.residual.detach()
    edges = [0, shape[2] // 2] if shape[2] % 2 == 0 else [0]
    anti = torch.view_as_complex(0.05 * torch.randn(3, shape[1], len(edges), 2))
    anti = anti - anti.flip(-2).roll(1, dims=-2).conj()  # a coefficient minus its mirror's conjugate
    with torch.no_grad():
        texture.coefficients[:, :, edges] += torch.view_as_real(anti)
    torch.testing.assert_close(texture.residual, before, atol=1e-6, rtol=0)
    (texture.residual * torch.randn(shape)).sum().backward()
    gradient = torch.view_as_complex(texture.coefficients.grad[:, :, edges].contiguous())
    torch.testing.assert_close(gradient, gradient.flip(-2).roll(1, dims=-2).conj())  # Hermitian: no anti part


def test_projection_puts_out_of_range_texels_on_the_bounds_and_leaves_the_rest() -> None:
    original = torch.rand(3, 16, 12)
    texture = _with_coefficients(FourierTexture(original), 3 * torch.randn(3, 16, 7, 2))
    total = texture.original + texture.residual
    inside = (total >= 0) & (total <= 1)
    assert (~inside).float().mean() > 0.2 and inside.float().mean() > 0.05  # both kinds present

    texture.project()
    projected = texture.original + texture.residual
    assert projected.min() >= -1e-5 and projected.max() <= 1 + 1e-5
    torch.testing.assert_close(projected, total.clamp(0, 1), atol=1e-5, rtol=0)  # in-range texels unchanged
    coefficients = texture.coefficients.detach().clone()
    texture.project()  # idempotent: nothing left outside to take off
    torch.testing.assert_close(texture.coefficients.detach(), coefficients, atol=1e-5, rtol=0)
    torch.testing.assert_close(texture(), projected.clamp(0, 1))


def test_forward_clamps_values_but_not_gradients() -> None:
    texture = FourierTexture(torch.ones(3, 4, 4), decorrelate=False)
    _with_coefficients(texture, texture.coefficients_of(torch.full((3, 4, 4), 1e-3)))  # a hair past white
    assert texture().max() == 1.0
    (-texture()).sum().backward()
    assert texture.coefficients.grad.abs().sum() > 0  # still learns: a hard clamp would give no gradient


def _one_adam_step(texture: torch.nn.Module, lr: float) -> torch.Tensor:
    """The residual after one Adam step on a random gradient (Adam's first step: lr times its sign)."""
    optimizer = torch.optim.Adam(texture.parameters(), lr=lr)
    (texture() * torch.randn(3, 32, 32)).sum().backward()
    optimizer.step()
    return texture.residual.detach()


@pytest.mark.parametrize("decorrelate", [True, False])
def test_a_learning_rate_moves_texels_as_much_per_step_as_on_pixels(decorrelate) -> None:
    """The documented normalisation: a step of lr on every coefficient moves texels by lr root-mean-square."""
    lr = 0.02
    fourier = _one_adam_step(FourierTexture(torch.full((3, 32, 32), 0.5), decorrelate=decorrelate), lr)
    pixels = _one_adam_step(ResidualTexture(torch.full((3, 32, 32), 0.5)), lr)
    assert pixels.square().mean().sqrt() == pytest.approx(lr, rel=1e-4)
    assert fourier.square().mean().sqrt() == pytest.approx(lr, rel=0.1)


def _low_over_high_power(residual: torch.Tensor) -> float:
    """Mean spectral power of ``residual`` ``[3,H,W]`` at frequencies up to 1/8 cycle per texel (DC excluded) over
    that at 1/4 and above."""
    height, width = residual.shape[-2:]
    power = torch.fft.rfft2(residual, norm="ortho").abs().square().sum(0)
    f = (torch.fft.fftfreq(height)[:, None].square() + torch.fft.rfftfreq(width)[None].square()).sqrt()
    return float(power[(f > 0) & (f <= 1 / 8)].mean() / power[f >= 1 / 4].mean())


def test_a_step_moves_low_frequencies_more_than_high_ones() -> None:
    """On pixels a step's spectrum is flat (white speckle); on the 1/f spectrum its power falls as 1/f^2."""
    fourier = _one_adam_step(FourierTexture(torch.full((3, 32, 32), 0.5)), 0.01)
    pixels = _one_adam_step(ResidualTexture(torch.full((3, 32, 32), 0.5)), 0.01)
    assert _low_over_high_power(fourier) > 20
    assert 0.5 < _low_over_high_power(pixels) < 2


def test_the_colour_matrix_is_imagenets_normalised() -> None:
    matrix = decorrelated_colour_matrix()
    source = torch.tensor(IMAGENET_COLOUR_CORRELATION_SQRT, dtype=torch.float64)
    torch.testing.assert_close(matrix / matrix[0, 0], source / source[0, 0])  # the same directions and ratios
    assert float(matrix.norm()) == pytest.approx(math.sqrt(3))  # the identity's Frobenius norm
    assert torch.all(matrix[:, 0] > 0.9)  # the first channel is brightness: R, G and B move together


def _grey_share(texture: FourierTexture) -> float:
    """After a random step of ±0.01 on every coefficient, the share of the residual's energy in grey (R=G=B)."""
    steps = 0.01 * torch.randint(0, 2, texture.coefficients.shape).float().mul(2).sub(1)
    residual = _with_coefficients(texture, steps).residual.detach()
    grey = residual.mean(0, keepdim=True).expand_as(residual)
    return float(grey.square().sum() / residual.square().sum())


def test_decorrelated_channels_move_brightness_more_than_hue() -> None:
    """As colours vary in natural images; in R, G, B a third of a random step is grey."""
    assert _grey_share(FourierTexture(torch.full((3, 16, 16), 0.5))) > 0.85
    rgb = FourierTexture(torch.full((3, 16, 16), 0.5), decorrelate=False)
    assert _grey_share(rgb) == pytest.approx(1 / 3, abs=0.05)


@pytest.mark.parametrize(("shape", "decay"), [((3, 4), 1.0), ((1, 4, 4), 1.0), ((3, 4, 4), -1.0)])
def test_bad_shapes_and_decays_are_refused(shape, decay) -> None:
    with pytest.raises(ValueError):
        FourierTexture(torch.zeros(shape), decay=decay)


def test_the_table_builds_each_parameterisation_and_refuses_the_rest() -> None:
    original = torch.rand(3, 8, 8)
    assert [len(list(residual_texture(original, "pixels", 3).parameters()))] == [3]
    fourier, rgb = residual_texture(original, "fourier"), residual_texture(original, "fourier-rgb")
    assert isinstance(fourier, FourierTexture) and isinstance(rgb, FourierTexture)
    assert not torch.equal(fourier.colour, rgb.colour) and torch.equal(rgb.colour, torch.eye(3))
    with pytest.raises(ValueError, match="valid: pixels, fourier, fourier-rgb"):
        residual_texture(original, "wavelets")
    with pytest.raises(ValueError, match="pixels option"):
        residual_texture(original, "fourier", 2)
