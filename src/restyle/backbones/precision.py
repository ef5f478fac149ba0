"""How a feature network runs: in float32, or in bf16/fp16 under ``torch.autocast`` with channels-last inputs.

Only the networks' passes (forward, and so backward) run in reduced precision; what they return comes back as
float32, so that everything deciding the result (Gram matrices, nearest-neighbour distances and argmins, loss
reductions, the optimiser's state, textures and pixels) is computed in float32 outside autocast. fp32 changes
nothing: no autocast, no cast, the very same calls as before the option existed (pinned pixel digests check it).

Which precision a run takes (``auto`` against the hardware) is decided in ``restyle.run.precision``; the networks
apply it (``Backbone.__call__``, ``ClipViTB32.encode_image``). The monocular depth network stays float32: its output
is the depth itself, which masks and the depth loss read as values, not features pooled into statistics, and bf16's
8-bit mantissa quantises it to steps of 0.4% (on a flat photo a small network's estimate became one constant).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

import torch

PrecisionName = Literal["fp32", "bf16", "fp16"]
DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """The arithmetic of a run's feature networks on one kind of device."""

    name: PrecisionName = "fp32"
    device_type: str = "cpu"  # autocast's device type: "cpu" or "cuda"
    note: str = ""  # what the hardware says about it, for the phase line: "AMX-BF16", "emulated: ..."

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    @property
    def reduced(self) -> bool:
        return self.name != "fp32"

    def autocast(self) -> AbstractContextManager[object]:
        """The region in which the networks run: autocast to the reduced dtype, or nothing at all for fp32."""
        if not self.reduced:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def describe(self) -> str:
        """``bf16: AMX-BF16``, ``fp32``: what the phase lines print."""
        return f"{self.name}: {self.note}" if self.note else self.name

    def run(self, network: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        """``network(images)`` under :meth:`autocast`, its output back in float32 (fp32: the plain call)."""
        if not self.reduced:
            return network(images)
        with self.autocast():
            out = network(images)
        return out.float()


FP32 = Precision()
