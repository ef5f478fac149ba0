"""Checks made before a run loads anything: where its outputs go, and whether it fits in memory.

A run that cannot write its result, or that would exhaust the machine's memory, should say so in one line at
once, not after loading networks or optimising for an hour.

The memory estimate is deliberately rough and on the low side (float32 tensors only; no allocator slack, no
framework overhead, one texture slot), so that it refuses only runs that cannot fit, never one that could:

* textures: ``3 x texture_size^2`` texels per level, residual_levels levels (the pyramid's smaller levels are
  counted as full ones, which more than pays for leaving out the start texture and coverage masks), each held
  four times: the parameter, its gradient and Adam's two moments;
* renders: ``views_per_step x (render_size x supersample)^2`` pixels with ``RENDER_FLOATS`` floats each (the
  G-buffer, the shading terms and their gradients);
* backbone: ``views_per_step x render_size^2`` pixels (the image pipeline: the output's pixels) with
  ``ACTIVATION_FLOATS`` floats each: the activations kept for the backward pass (VGG19 to relu5_1 keeps about
  600 per input pixel, ResNet-50 about as many; half of it is counted).

``RESTYLE_MEMORY_LIMIT_GB`` replaces the measured limit (MemAvailable from /proc/meminfo, or the free memory of
the CUDA device a run uses); ``0`` turns the check off.
"""

from __future__ import annotations

import os
from pathlib import Path

from restyle.errors import ConfigError

MEMORY_LIMIT_ENV = "RESTYLE_MEMORY_LIMIT_GB"
FLOAT_BYTES = 4
ADAM_COPIES = 4  # parameter, gradient, first and second moment
RENDER_FLOATS = 32
ACTIVATION_FLOATS = 300
_GB = 1024**3


# --------------------------------------------------------------------------------------------- outputs


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_writable(path: Path, *, folder: bool) -> None:
    """ConfigError unless ``path`` (a file, or a folder with ``folder``) can be created or replaced."""
    if path.exists() and path.is_dir() != folder:
        kind = "a folder" if folder else "a file"
        raise ConfigError(f"{path}: output must be {kind}, and this is {'a file' if folder else 'a folder'}")
    existing = _nearest_existing(path if folder else path.parent)
    if not existing.is_dir():
        raise ConfigError(f"{path}: cannot create the output, {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: cannot write the output, {existing} is not writable")


def check_image_output(path: Path, suffixes: tuple[str, ...]) -> None:
    """The image output has a format restyle writes and a writable place."""
    if path.suffix.lower() not in suffixes:
        raise ConfigError(f"{path}: unsupported output format '{path.suffix or '(none)'}' "
                          f"(use one of {', '.join(suffixes)})")
    check_writable(path, folder=False)


# --------------------------------------------------------------------------------------------- memory


def mesh_bytes(texture_size: int, residual_levels: int, views: int, render_size: int, supersample: int) -> int:
    """The estimated memory of a mesh run (see the module docstring)."""
    textures = 3 * texture_size**2 * residual_levels * ADAM_COPIES
    renders = views * (render_size * supersample) ** 2 * RENDER_FLOATS
    backbone = views * render_size**2 * ACTIVATION_FLOATS
    return (textures + renders + backbone) * FLOAT_BYTES


def image_bytes(pixels: int) -> int:
    """The estimated memory of an image run of ``pixels`` output pixels (see the module docstring)."""
    return (3 * pixels * ADAM_COPIES + pixels * ACTIVATION_FLOATS) * FLOAT_BYTES


def available_bytes(device: str = "cpu") -> int | None:
    """The memory a run may use: the override, else the device's free memory; None when unknown or off."""
    override = os.environ.get(MEMORY_LIMIT_ENV)
    if override:
        try:
            limit = float(override)
        except ValueError:
            raise ConfigError(f"{MEMORY_LIMIT_ENV} must be a number of gigabytes; got {override!r}") from None
        return None if limit <= 0 else int(limit * _GB)
    if device.startswith("cuda"):
        return _cuda_free(device)
    return _host_available()


def _host_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cuda_free(device: str) -> int | None:
    import torch

    try:
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    except (RuntimeError, AssertionError, ValueError):
        return None


def check_memory(estimate: int, device: str, what: str) -> None:
    """ConfigError when ``estimate`` bytes exceed what the device has free, naming both."""
    limit = available_bytes(device)
    if limit is not None and estimate > limit:
        raise ConfigError(f"{what} needs about {estimate / _GB:.1f} GB of memory, more than the "
                          f"{limit / _GB:.1f} GB available on {device} (estimate documented in "
                          f"restyle.run.preflight; set {MEMORY_LIMIT_ENV} to override)")
