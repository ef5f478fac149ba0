"""``checkpoint.pt`` of a ``restyle mesh`` run: written atomically, read with ``weights_only=True`` (plain data
and tensors, never arbitrary pickled objects), and tied to its run by the hashes of its inputs and the config
keys that shape the optimisation, so that ``--resume`` never continues another asset's or another style's run.

Keys a resume may change (they do not change what a step computes): ``mesh`` and ``styles`` (compared by
content hash instead, so a moved asset still resumes), ``output``, ``device``, ``overwrite``, ``optim.iters``
(continue for longer), ``optim.log_every``, ``outputs.*`` and ``pretrained.*`` (where weights are found, not
which). Every other key must match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from restyle.configs import to_dict
from restyle.errors import DivergedError, InputError, first_line
from restyle.io.atomic import atomic_path
from restyle.jobs.mesh.state import MeshState
from restyle.run.files import CHECKPOINT_NAME, CONFIG_NAME, file_sha256, palette_file

CHECKPOINT = CHECKPOINT_NAME
FORMAT = 1
FREE_KEYS = ("mesh", "styles", "output", "device", "overwrite", "optim.iters", "optim.log_every")
FREE_SECTIONS = ("outputs.", "pretrained.")


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def resume_keys(config: Any) -> dict[str, Any]:
    """The resolved config's keys that must match for a resume, dotted (``optim.lr``), as plain values."""
    flat = _flat(to_dict(config))
    if palette_file(config.palette.source) is not None:
        flat["palette.source"] = "<file>"  # compared by its hash: the same palette may have moved
    return {k: v for k, v in flat.items() if k not in FREE_KEYS and not k.startswith(FREE_SECTIONS)}


def input_hashes(job: MeshState) -> dict[str, str]:
    """SHA-256 of every file the run reads, keyed by its role (``mesh``, ``mesh file tex.png``, ``style 1``)."""
    mesh_path = job.mesh.source.resolve()
    hashes = {"mesh": file_sha256(mesh_path)}
    for path in job.mesh.source_files:
        if path != mesh_path:
            name = path.relative_to(mesh_path.parent) if path.is_relative_to(mesh_path.parent) else path.name
            hashes[f"mesh file {name}"] = file_sha256(path)
    for index, style in enumerate(job.config.styles, 1):
        hashes[f"style {index}"] = file_sha256(style)
    palette = palette_file(job.config.palette.source)
    if palette is not None:
        hashes["palette"] = file_sha256(palette)
    return hashes


def provenance(job: MeshState) -> dict[str, Any]:
    """What ties a checkpoint to its run: the format, the inputs' hashes and the config keys a resume keeps."""
    return {"format": FORMAT, "inputs": input_hashes(job), "config": resume_keys(job.config)}


def refuse_non_finite(job: MeshState) -> None:
    """DivergedError when the textures hold NaN or infinite values: a finite loss can still come with an infinite
    gradient, and its step must not replace a good checkpoint."""
    if not all(bool(torch.isfinite(p).all()) for p in job.params.parameters()):
        raise DivergedError(f"the run diverged at step {job.step_count}: the textures hold NaN or infinite "
                            "values; the last good checkpoint is kept (try a lower lr)")


def save(job: MeshState, origin: dict[str, Any]) -> Path:
    """Write ``checkpoint.pt`` (``origin``: the run's :func:`provenance`, then the state), whole or not at all."""
    path = job.output / CHECKPOINT
    with atomic_path(path) as tmp:
        torch.save({"provenance": origin, "state": job.state_dict()}, tmp)
    return path


def _first_difference(saved: dict[str, Any], current: dict[str, Any]) -> str | None:
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            return key
    return None


def check_provenance(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """InputError naming the first input or config key that differs from the checkpointed run's."""
    changed = _first_difference(saved.get("inputs", {}), current["inputs"])
    if changed is not None:
        raise InputError(f"{path}: cannot resume, {changed} is not the file this run started from (another "
                         "asset's run folder, or an input changed since); start anew with --overwrite")
    # a checkpoint from before optim.precision existed ran in fp32: resuming it in bf16 is a change to name
    config = {"optim.precision": "fp32", **saved.get("config", {})}
    key = _first_difference(config, current["config"])
    if key is not None:
        was, now = config.get(key), current["config"].get(key)
        raise InputError(f"{path}: cannot resume, {key} was {was!r} in this run and is now {now!r}; drop the "
                         "change or start anew with --overwrite")


def read(path: Path, device: torch.device) -> dict[str, Any]:
    """The checkpoint's content; a truncated, garbage or foreign file is a one-line InputError."""
    try:
        content = torch.load(path, weights_only=True, map_location=device)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for a damaged file
        raise InputError(f"{path}: cannot resume, the checkpoint is damaged or not restyle's "
                         f"({first_line(exc, 160)})") from None
    if not isinstance(content, dict) or content.get("provenance", {}).get("format") != FORMAT:
        raise InputError(f"{path}: cannot resume, not a checkpoint of this restyle version; start anew with "
                         "--overwrite")
    return content


def load_resume_config(folder: Path) -> Path:
    """The ``config.toml`` of a run folder to resume, or an InputError saying what is missing."""
    for needed in (CONFIG_NAME, CHECKPOINT):
        if not (folder / needed).is_file():
            raise InputError(f"{folder}: cannot resume, no {needed} in this folder")
    return folder / CONFIG_NAME


def resume(job: MeshState, origin: dict[str, Any]) -> None:
    """Load the run folder's checkpoint into ``job`` after checking that it belongs to this run."""
    path = job.output / CHECKPOINT
    content = read(path, job.device)
    check_provenance(path, content["provenance"], origin)
    try:
        job.load_state_dict(content["state"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise InputError(f"{path}: cannot resume from this checkpoint with this config ({first_line(exc)})") \
            from None
