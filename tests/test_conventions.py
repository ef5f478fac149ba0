"""The sRGB curves against published IEC 61966-2-1 values (not against each other)."""

from __future__ import annotations

import pytest
import torch

from restyle.conventions import linear_to_srgb, srgb_to_linear

# (sRGB-encoded, linear) pairs from the sRGB standard: the black/white points, the two thresholds of the
# piecewise curve, and mid-grey each way (sRGB 0.5 -> 0.214041; linear 0.5 -> sRGB 0.735357)
SRGB_TO_LINEAR = [(0.0, 0.0), (0.04045, 0.0031308), (0.5, 0.2140411), (1.0, 1.0), (0.2, 0.0331048)]
LINEAR_TO_SRGB = [(0.0, 0.0), (0.0031308, 0.04045), (0.5, 0.7353570), (1.0, 1.0), (0.18, 0.4613561)]


@pytest.mark.parametrize(("encoded", "linear"), SRGB_TO_LINEAR)
def test_srgb_to_linear_matches_published_values(encoded: float, linear: float) -> None:
    result = srgb_to_linear(torch.tensor([encoded], dtype=torch.float64))
    assert float(result) == pytest.approx(linear, abs=2e-7)


@pytest.mark.parametrize(("linear", "encoded"), LINEAR_TO_SRGB)
def test_linear_to_srgb_matches_published_values(linear: float, encoded: float) -> None:
    result = linear_to_srgb(torch.tensor([linear], dtype=torch.float64))
    assert float(result) == pytest.approx(encoded, abs=2e-7)


def test_curves_clamp_out_of_range_values() -> None:
    values = torch.tensor([-0.5, 1.5], dtype=torch.float64)
    assert srgb_to_linear(values).tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
    assert linear_to_srgb(values).tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
