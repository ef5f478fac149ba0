"""Which precision a run's feature networks take (``optim.precision``): ``auto`` resolved against the hardware,
explicit choices checked against it. How a network runs in it is ``restyle.backbones.precision``.

``auto`` is bf16 only where the hardware runs bf16 fast, detected rather than assumed: a CUDA GPU with native bf16
(compute capability 8 or ROCm), or a CPU with AMX-BF16 or AVX512-BF16 (torch's own CPU capability query, or the
kernel's CPU flags in ``/proc/cpuinfo`` where torch has none). Elsewhere bf16 is emulated and slower than fp32:
VGG19 forward+backward at 224 px took 2.7x as long in bf16 as in fp32 on an AVX-512 CPU without it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from restyle.backbones.precision import Precision
from restyle.errors import ConfigError

# CPU features that make bf16 matrix products fast, best first, under the names torch's capability query and
# Linux's /proc/cpuinfo both use; and the name a phase line gives each.
CPU_BF16_UNITS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}
NO_CPU_BF16 = "no AMX-BF16 or AVX512-BF16 on this CPU"
_CPUINFO = Path("/proc/cpuinfo")


def _torch_cpu_capabilities() -> dict[str, object] | None:
    """torch's CPU feature query (cpuinfo), or None on a torch without one."""
    query: Callable[[], dict[str, object]] | None = getattr(torch.cpu, "get_capabilities", None)
    return None if query is None else query()


def _linux_cpu_flags() -> set[str]:
    """The ``flags`` of /proc/cpuinfo (empty where there is none: another OS)."""
    try:
        text = _CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_bf16_unit() -> str | None:
    """The CPU's fast bf16 unit ("AMX-BF16", "AVX512-BF16"), or None when it has neither."""
    capabilities = _torch_cpu_capabilities()
    present = ({name for name, value in capabilities.items() if value is True} if capabilities is not None
               else _linux_cpu_flags())
    return next((unit for flag, unit in CPU_BF16_UNITS.items() if flag in present), None)


def cuda_bf16(device: torch.device, *, emulated: bool = False) -> bool:
    """Whether the CUDA ``device`` runs bf16 natively (with ``emulated``: at all)."""
    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=emulated)


def resolve_precision(name: str, device: torch.device) -> Precision:
    """``optim.precision`` (auto, fp32, bf16, fp16) as the :class:`Precision` a run on ``device`` uses; never auto.

    The same result for a name and for the name it resolved to, so that a config.toml replays as it ran. fp16 on
    the CPU, and bf16 on a GPU without it, are ConfigErrors naming the option."""
    if device.type == "cuda":
        return _on_cuda(name, device)
    if device.type == "cpu":
        return _on_cpu(name)
    if name in ("auto", "fp32"):
        return Precision("fp32", device.type)
    raise ConfigError(f"optim.precision {name} runs on cpu and cuda devices only, not {device.type}; use "
                      "--precision fp32")


def _on_cpu(name: str) -> Precision:
    if name == "fp16":
        raise ConfigError("optim.precision fp16 needs a CUDA device (autocast on the CPU is bf16); use --precision "
                          "bf16, fp32 or auto")
    unit = cpu_bf16_unit()
    if name == "fp32" or (name == "auto" and unit is None):
        return Precision("fp32", "cpu", NO_CPU_BF16 if unit is None else "")
    if name in ("auto", "bf16"):
        return Precision("bf16", "cpu", unit or f"emulated, slower than fp32: {NO_CPU_BF16}")
    raise ConfigError(f"optim.precision must be one of auto, fp32, bf16, fp16; got {name!r}")


def _on_cuda(name: str, device: torch.device) -> Precision:
    native = cuda_bf16(device)
    if name == "fp16":
        return Precision("fp16", "cuda")
    if name == "fp32" or (name == "auto" and not native):
        return Precision("fp32", "cuda", "" if native else "no native bf16 on this GPU")
    if name not in ("auto", "bf16"):
        raise ConfigError(f"optim.precision must be one of auto, fp32, bf16, fp16; got {name!r}")
    if native:
        return Precision("bf16", "cuda", "native on this GPU")
    if not cuda_bf16(device, emulated=True):
        raise ConfigError("optim.precision bf16: this GPU cannot run bf16; use --precision fp16 or fp32")
    return Precision("bf16", "cuda", "emulated on this GPU, slower than fp16")


class LossScaler:
    """fp16's gradient scaling (``torch.amp.GradScaler``) around the optimiser of a step; for fp32 and bf16 a
    pass-through that makes the very calls a step made before it existed (pinned pixel digests check it).

    fp16 has a 5-bit exponent: gradients below ~6e-8 flush to zero in the networks' backward. Scaling the loss lifts
    them into range; the gradients are divided back (``unscale``) before anything reads them, and a step whose
    gradients overflowed (inf/nan) is skipped, not applied, with the scale halved: the run goes on, its loss was
    finite, so it has not diverged. The scale grows again after 2000 clean steps (torch's defaults)."""

    def __init__(self, precision: Precision) -> None:
        self.enabled = precision.name == "fp16"
        self._scaler = torch.amp.GradScaler(precision.device_type) if self.enabled else None
        self._unscaled = False
        self.skipped = 0  # steps skipped for inf/nan gradients so far (this process)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, of the scaled loss under fp16."""
        (self._scaler.scale(loss) if self._scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Divide the gradients by the scale (once per step), before a projection or clipping reads them."""
        if self._scaler is not None and not self._unscaled and _has_gradients(optimizer):
            self._scaler.unscale_(optimizer)
            self._unscaled = True

    def step(self, optimizer: torch.optim.Optimizer) -> bool:
        """``optimizer.step()`` unless the gradients hold inf or nan (fp16 only), then the scale's update. Whether
        the step was applied."""
        if self._scaler is None or not _has_gradients(optimizer):  # no gradient (no view saw the mesh): no overflow
            optimizer.step()
            return True
        self.unscale(optimizer)
        scale = self._scaler.get_scale()
        self._scaler.step(optimizer)
        self._scaler.update()
        self._unscaled = False
        applied = self._scaler.get_scale() >= scale  # an overflow, and only an overflow, lowers the scale
        self.skipped += not applied
        return applied

    def state_dict(self) -> dict[str, float | int]:
        """The scale and its growth counter (empty for a pass-through): part of a resumable state."""
        return self._scaler.state_dict() if self._scaler is not None else {}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        """Continue from :meth:`state_dict`'s scale; an empty state (a run before fp16 scaling) keeps the start."""
        if self._scaler is not None and state:
            self._scaler.load_state_dict(state)


def _has_gradients(optimizer: torch.optim.Optimizer) -> bool:
    # GradScaler refuses to step an optimizer none of whose parameters has a gradient
    return any(param.grad is not None for group in optimizer.param_groups for param in group["params"])
