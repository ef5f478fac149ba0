"""The colour statistics that colour transfer and texture recolouring share."""

from __future__ import annotations

import pytest
import torch

from restyle.colour.statistics import mean_and_covariance, symmetric_power


def test_mean_and_population_covariance_of_known_pixels() -> None:
    pixels = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])
    mean, covariance = mean_and_covariance(pixels)
    assert mean.dtype == covariance.dtype == torch.float64
    torch.testing.assert_close(mean, torch.tensor([0.5, 0.5, 1.0], dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(covariance, torch.diag(torch.tensor([0.25, 0.25, 0.0], dtype=torch.float64)),
                               rtol=0, atol=0)


def test_no_pixels_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least one pixel"):
        mean_and_covariance(torch.zeros(0, 3))


def test_symmetric_power_squares_back_and_floors_flat_directions() -> None:
    generator = torch.Generator().manual_seed(0)
    mix = torch.rand(3, 3, generator=generator, dtype=torch.float64)
    matrix = mix @ mix.T + 0.1 * torch.eye(3, dtype=torch.float64)
    root = symmetric_power(matrix, 0.5, 1e-12)
    torch.testing.assert_close(root @ root, matrix)
    torch.testing.assert_close(symmetric_power(matrix, -0.5, 1e-12) @ root, torch.eye(3, dtype=torch.float64))
    flat = torch.diag(torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64))
    torch.testing.assert_close(torch.diag(symmetric_power(flat, -0.5, 1e-8)),
                               torch.tensor([1e4, 1.0, 0.5], dtype=torch.float64))
