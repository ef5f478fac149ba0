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
