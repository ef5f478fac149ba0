"""fp16's gradient scaling (``LossScaler``): torch's GradScaler on CPU tensors stands in for CUDA's (the same
logic: scale, unscale, skip on inf/nan, halve, grow), and the fp32/bf16 pass-through makes the plain calls."""

from __future__ import annotations

import pytest
import torch

from restyle.backbones.precision import Precision
from restyle.run.precision import LossScaler

FP16_ON_CPU = Precision("fp16", "cpu")  # never a run's precision (fp16 runs on CUDA only); the scaler's logic is one


def _problem(seed: int = 0) -> tuple[torch.nn.Parameter, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.nn.Parameter(torch.rand(2, 3, generator=generator)), torch.rand(2, 3, generator=generator)


def _adam_step(scaler: LossScaler, poison: bool = False) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """One Adam step on a quadratic: (parameter before, after, whether the step was applied)."""
    param, target = _problem()
    optimizer = torch.optim.Adam([param], lr=0.1)
    scaler.backward(((param - target) ** 2).sum())
    if poison:
        param.grad[0, 0] = float("inf")
    before = param.detach().clone()
    applied = scaler.step(optimizer)
    return before, param.detach().clone(), applied


def test_an_enabled_scaler_scales_the_backward_and_unscales_to_the_true_gradient() -> None:
    param, target = _problem()
    scaler = LossScaler(FP16_ON_CPU)
    optimizer = torch.optim.SGD([param], lr=1.0)
    scaler.backward(((param - target) ** 2).sum())
    torch.testing.assert_close(param.grad, 65536.0 * 2 * (param - target).detach())  # torch's initial scale 2^16
    scaler.unscale(optimizer)
    scaler.unscale(optimizer)  # once per step, however often asked
    torch.testing.assert_close(param.grad, 2 * (param - target).detach())


def test_a_clean_scaled_step_equals_the_unscaled_step() -> None:
    _, scaled, applied = _adam_step(LossScaler(FP16_ON_CPU))
    _, plain, _ = _adam_step(LossScaler(Precision("fp32", "cpu")))
    assert applied
    torch.testing.assert_close(scaled, plain)


def test_inf_gradients_skip_the_step_and_halve_the_scale() -> None:
    scaler = LossScaler(FP16_ON_CPU)
    before, after, applied = _adam_step(scaler, poison=True)
    assert not applied and scaler.skipped == 1
    assert torch.equal(before, after)  # nothing moved
    assert scaler.state_dict()["scale"] == 32768.0
    _, _, applied = _adam_step(scaler)  # the next clean step goes through at the lower scale
    assert applied and scaler.state_dict()["scale"] == 32768.0 and scaler.skipped == 1


def test_nan_gradients_are_skipped_too() -> None:
    param, _ = _problem()
    scaler = LossScaler(FP16_ON_CPU)
    optimizer = torch.optim.Adam([param], lr=0.1)
    scaler.backward((param * float("nan")).sum())
    before = param.detach().clone()
    assert not scaler.step(optimizer)
    assert torch.equal(param.detach(), before)


def test_the_scale_resumes_from_its_state() -> None:
    scaler = LossScaler(FP16_ON_CPU)
    _adam_step(scaler, poison=True)
    again = LossScaler(FP16_ON_CPU)
    again.load_state_dict(scaler.state_dict())
    assert again.state_dict() == scaler.state_dict()
    fresh = LossScaler(FP16_ON_CPU)
    fresh.load_state_dict({})  # a checkpoint from before the scaler: the start scale
    assert fresh.state_dict()["scale"] == 65536.0


def test_a_step_without_gradients_is_a_plain_optimiser_step() -> None:
    param, _ = _problem()
    scaler = LossScaler(FP16_ON_CPU)
    assert scaler.step(torch.optim.Adam([param], lr=0.1))  # GradScaler alone would refuse it
    assert scaler.state_dict()["scale"] == 65536.0


@pytest.mark.parametrize("name", ["fp32", "bf16"])
def test_fp32_and_bf16_pass_through(name) -> None:
    scaler = LossScaler(Precision(name, "cpu"))
    param, target = _problem()
    loss = ((param - target) ** 2).sum()
    scaler.backward(loss)
    torch.testing.assert_close(param.grad, 2 * (param - target).detach())  # not scaled
    param.grad[0, 0] = float("inf")  # not inspected: an inf gradient is the divergence checks' business
    assert scaler.step(torch.optim.SGD([param], lr=1.0))
    assert param[0, 0].item() == float("-inf")
    assert not scaler.enabled and scaler.state_dict() == {} and scaler.skipped == 0
