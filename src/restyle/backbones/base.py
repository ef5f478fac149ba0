"""The interface every feature backbone implements, and the checkpoint reading they share.

A backbone turns images ``[B, 3, H, W]`` (sRGB, 0..1) into a set of feature maps ("taps") that the
losses compare. Backbones are frozen feature extractors: parameters never receive gradients and
batch-norm statistics never change, but gradients flow back to the input images.
"""

from __future__ import annotations

import warnings
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from restyle.backbones.precision import FP32, Precision
from restyle.conventions import check_images
from restyle.errors import ConfigError, InputError, first_line

MIN_IMAGE_SIZE = 32

# Buffers that a checkpoint may legitimately lack: batch-norm's step counter is unused in eval mode and
# some exporters drop it.
_OPTIONAL_KEY_SUFFIXES = ("num_batches_tracked",)


@dataclass(frozen=True)
class Features:
    """What a backbone returns.

    maps: one ``[B, C_i, H_i, W_i]`` tensor per requested tap, in request order.
    embedding: ``[B, D]`` pooled image embedding (only backbones that have one, only when asked).
    """

    maps: tuple[torch.Tensor, ...]
    embedding: torch.Tensor | None = None


class Backbone(nn.Module, ABC):
    """A frozen feature extractor with named taps.

    Subclasses set the class-level defaults below, build their layers with random weights in
    ``__init__`` and call :meth:`freeze` at its end.
    """

    name: ClassVar[str]
    style_taps: ClassVar[tuple[str, ...]]  # default taps for NNFM style losses
    content_taps: ClassVar[tuple[str, ...]]  # default taps for the content loss
    gram_taps: ClassVar[tuple[str, ...]]  # default taps for the Gram (Gatys) style loss
    # Whether reduced precision applies: convolution stacks gain several times from bf16; a network with no
    # weights to speak of (raw patches) has nothing to gain, and rounding its features would only blur them.
    reduced_precision: ClassVar[bool] = True
    precision: Precision = FP32  # how a run runs it (set when a run prepares it; see objectives.networks)

    def __call__(self, images: torch.Tensor, taps: Sequence[str], *, embedding: bool = False) -> Features:
        """:meth:`forward`; in reduced precision (:attr:`precision`) under autocast with channels-last images, the
        features back in float32, so that no loss ever sees a bf16 feature. In fp32, the plain call."""
        if not (self.precision.reduced and self.reduced_precision):
            return super().__call__(images, taps, embedding=embedding)
        with self.precision.autocast():
            features = super().__call__(images.contiguous(memory_format=torch.channels_last), taps,
                                        embedding=embedding)
        embedded = None if features.embedding is None else features.embedding.float()
        return Features(tuple(fmap.float() for fmap in features.maps), embedded)

    @abstractmethod
    def available_taps(self) -> tuple[str, ...]:
        """Every tap name ``forward`` accepts, shallow to deep."""

    @abstractmethod
    def forward(self, images: torch.Tensor, taps: Sequence[str], *, embedding: bool = False) -> Features:
        """Feature maps of ``images`` ``[B, 3, H, W]`` (sRGB 0..1, H, W >= 32) at ``taps``."""

    def freeze(self) -> None:
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Backbone:
        # A frozen backbone must never switch batch-norm to batch statistics, whatever a caller asks.
        return super().train(False)

    def check_taps(self, taps: Sequence[str], *, embedding: bool = False) -> None:
        """Raise ConfigError naming the valid taps unless every requested tap exists.

        An empty request is an error unless the caller only wants the embedding.
        """
        valid = self.available_taps()
        unknown = [tap for tap in taps if tap not in valid]
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise ConfigError(f"{self.name}: unknown feature tap(s) {names}; valid: {', '.join(valid)}")
        if not taps and not embedding:
            raise ConfigError(f"{self.name}: no feature taps requested; valid: {', '.join(valid)}")

    def check_input(self, images: torch.Tensor) -> None:
        check_images(images)
        if min(images.shape[-2:]) < MIN_IMAGE_SIZE:
            size = f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}"
            raise ValueError(f"{self.name}: images must be at least {size}, got {tuple(images.shape)}")

    def deepest_tap_index(self, taps: Sequence[str]) -> int:
        """Position in :meth:`available_taps` of the deepest requested tap: where the forward pass stops."""
        order = self.available_taps()
        return max(order.index(tap) for tap in taps)

    def refuse_embedding(self, embedding: bool) -> None:
        if embedding:
            raise ConfigError(f"{self.name}: this backbone has no image embedding (use clip-rn50)")


# --------------------------------------------------------------------------------------------------
# checkpoint files


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint file, keyed by name, on the CPU.

    Understands safetensors files, TorchScript archives (OpenAI's CLIP ``.pt``) and ``torch.save``
    pickles (loaded with ``weights_only=True``). A ``{"state_dict": ...}`` wrapper and a ``module.``
    prefix (DataParallel / DDP checkpoints) are removed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: checkpoint file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: checkpoint file is empty")
    raw = _load_raw(path)
    return _strip_wrappers(path, raw)


def _load_raw(path: Path) -> object:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        if _is_torchscript_archive(path):
            return _load_torchscript_tensors(path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any failure to parse means a corrupt or foreign file
        raise InputError(f"{path}: not a readable checkpoint ({first_line(error, 120)})") from error


def _load_torchscript_tensors(path: Path) -> dict[str, torch.Tensor]:
    # OpenAI publishes CLIP only as TorchScript; torch's deprecation of jit.load is not the user's concern.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        archive = torch.jit.load(str(path), map_location="cpu")
    return dict(archive.state_dict())


def _is_torchscript_archive(path: Path) -> bool:
    # TorchScript zips carry compiled code and a constants table; torch.save zips carry only data.pkl.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("/constants.pkl") for name in archive.namelist())


def _strip_wrappers(path: Path, raw: object) -> dict[str, torch.Tensor]:
    if isinstance(raw, Mapping) and isinstance(raw.get("state_dict"), Mapping):
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping):
        raise InputError(f"{path}: not a state dict checkpoint (found {type(raw).__name__})")
    tensors = {str(key): value for key, value in raw.items() if isinstance(value, torch.Tensor)}
    if tensors and all(key.startswith("module.") for key in tensors):
        tensors = {key.removeprefix("module."): value for key, value in tensors.items()}
    return tensors


def load_matching(module: nn.Module, found: Mapping[str, torch.Tensor], *, path: Path, what: str) -> None:
    """Load ``found`` into ``module`` strictly: every key, every shape, nothing extra.

    ``found`` must already be restricted to the part of the checkpoint the module represents.
    Floating-point tensors are cast to the module's dtype (OpenAI's CLIP archives are float16).
    Raises InputError naming ``path`` and the first problem, e.g. ``x.pth: not a VGG16 checkpoint
    (missing key features.0.weight)``.
    """
    expected = module.state_dict()
    missing = [key for key in expected if key not in found and not key.endswith(_OPTIONAL_KEY_SUFFIXES)]
    if missing:
        raise InputError(f"{path}: not a {what} checkpoint (missing key {missing[0]})")
    unexpected = [key for key in found if key not in expected]
    if unexpected:
        raise InputError(f"{path}: not a {what} checkpoint (unexpected key {unexpected[0]})")
    for key, value in found.items():
        if value.shape != expected[key].shape:
            raise InputError(
                f"{path}: not a {what} checkpoint ({key} has shape {list(value.shape)}, "
                f"expected {list(expected[key].shape)})"
            )
    merged = {key: found.get(key, expected[key]).to(expected[key].dtype) for key in expected}
    module.load_state_dict(merged, strict=True)


def select_prefixed(found: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of ``found`` whose key starts with ``prefix`` (keys kept whole)."""
    return {key: value for key, value in found.items() if key.startswith(prefix)}
