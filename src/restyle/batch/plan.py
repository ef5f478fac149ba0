"""Planning a batch, before any work: every job's resolved config, its inputs, the folders and files the jobs
write against the files they read, each job's fingerprint and what to do with it.

A fingerprint is the SHA-256 of the inputs' bytes and the resolved config, with every path in it relative to the
manifest and the output folder left out, so that moving the output folder, or the library with its manifest,
does not make a finished job run again. Within one plan each file is hashed once and each mesh loaded once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from restyle.batch.jobs import RECORD, Mode, has_checkpoint, read_record
from restyle.batch.manifest import RESERVED_NAMES, BatchJob, Manifest, style_file
from restyle.errors import ConfigError, RestyleError
from restyle.run.files import RUN_MARKERS, file_sha256, palette_file


@dataclasses.dataclass(frozen=True)
class PlannedJob:
    job: BatchJob
    inputs: tuple[tuple[str, Path], ...]  # (role, file): the mesh and its companions, style images, a palette image
    fingerprint: str
    mode: Mode | None  # None: finished with these inputs and this config, nothing to do


class InputCache:
    """Hashes and mesh companions, each computed once per plan; a file is known by its path, size and
    modification time, so that one changed meanwhile is read again."""

    def __init__(self) -> None:
        self._hashes: dict[tuple[Path, int, int], str] = {}
        self._companions: dict[tuple[Path, int, int], tuple[Path, ...]] = {}

    @staticmethod
    def _key(path: Path) -> tuple[Path, int, int]:
        stat = path.stat()
        return path, stat.st_size, stat.st_mtime_ns

    def sha256(self, path: Path) -> str:
        key = self._key(path)
        if key not in self._hashes:
            self._hashes[key] = file_sha256(path)
        return self._hashes[key]

    def mesh_files(self, mesh: Path) -> tuple[Path, ...]:
        """The mesh with the files it references (MTL, textures, .bin). A file the loader cannot read stands
        alone: its job fails when it runs, and runs again when the file changes."""
        from restyle.io.meshes import load_mesh

        key = self._key(mesh)
        if key not in self._companions:
            try:
                files = tuple(sorted({Path(p) for p in load_mesh(mesh, unwrap=False).source_files}))
            except Exception:  # noqa: BLE001 - any unreadable asset: the job reports it when it runs
                files = (mesh,)
            self._companions[key] = files
        return self._companions[key]


def plan_batch(manifest: Manifest, output: Path, *, overwrite: bool = False) -> list[PlannedJob]:
    """What to do with each job, or a one-line error before any work: a bad option, a job with neither styles
    nor text, a job's folder that would hold another job's input (or the manifest), a folder holding a run
    the batch did not make (unless ``overwrite``)."""
    cache = InputCache()
    configs = resolve_configs(manifest, output)
    inputs = {job.name: job_inputs(job, configs[job.name], cache) for job in manifest.jobs}
    refuse_crossed_files(manifest, output, inputs)
    planned = []
    for job in manifest.jobs:
        digest = fingerprint(configs[job.name], inputs[job.name], cache, manifest.path.parent)
        planned.append(PlannedJob(job, tuple(inputs[job.name]), digest, job_mode(output / job.name, digest,
                                                                                   overwrite)))
    return planned


def resolve_configs(manifest: Manifest, output: Path) -> dict[str, Any]:
    """Every job's resolved config, so that a typo fails the whole batch at once, naming the job."""
    from restyle import api

    configs = {}
    for job in manifest.jobs:
        try:
            config = api.mesh_config(job.mesh, job.styles, output / job.name, preset=job.preset, **job.options)
        except RestyleError as error:
            raise ConfigError(f"{manifest.path}: job {job.name!r}: {error}") from None
        if not config.styles and config.text is None:  # it would only fail when it runs, and again when retried
            raise ConfigError(f"{manifest.path}: job {job.name!r}: no style image and no text; give it 'styles' "
                              "or 'text'")
        configs[job.name] = config
    return configs


def job_inputs(job: BatchJob, config: Any, cache: InputCache) -> list[tuple[str, Path]]:
    inputs = [("mesh file", path) for path in cache.mesh_files(job.mesh)]
    inputs += [("style image", style_file(spec)) for spec in job.styles]
    palette = palette_file(config.palette.source)
    if palette is not None:
        inputs.append(("palette image", palette.resolve()))
    return inputs


def refuse_crossed_files(manifest: Manifest, output: Path, inputs: dict[str, list[tuple[str, Path]]]) -> None:
    """No job's folder may hold an input of any job (or the manifest), and no file of the batch's own may be
    one: each job checks only its own files when it runs, and a re-run job clears its folder's old run."""
    read = [(name, role, path.resolve()) for name, files in inputs.items() for role, path in files]
    read.append(("", "the manifest", manifest.path))
    folders = {output / name: name for name in inputs}
    batch_files = {output / name for name in RESERVED_NAMES}
    for owner, role, path in read:  # a set lookup per folder above each input: a library of thousands stays quick
        whose = "" if not owner else f" of job {owner!r}"
        name = next((folders[p] for p in (path, *path.parents) if p in folders), None)
        if name is not None:
            whose = " of this job" if owner == name else whose
            raise ConfigError(f"{manifest.path}: job {name!r} writes into {output / name}, which holds {role} {path}"
                              f"{whose}; rename job {name!r} or choose another output folder")
        if path in batch_files:
            raise ConfigError(f"{manifest.path}: the batch writes {path}, which is {role}{whose}; choose another "
                              "output folder")


def fingerprint(config: Any, inputs: list[tuple[str, Path]], cache: InputCache, base: Path) -> str:
    """SHA-256 over the inputs' bytes and the resolved config, paths relative to ``base`` (the manifest's folder),
    without the output folder and ``overwrite`` (a permission of one invocation)."""
    from restyle.configs import to_dict

    def relative(path: Any) -> str:
        return Path(os.path.relpath(path, base)).as_posix()

    settings = to_dict(config)
    for key in ("output", "overwrite"):
        settings.pop(key, None)
    settings["mesh"] = relative(config.mesh)
    settings["styles"] = [relative(style) for style in config.styles]
    hashes = {relative(path): cache.sha256(path) for _, path in inputs if path.is_file()}
    text = json.dumps({"inputs": hashes, "config": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def job_mode(folder: Path, digest: str, overwrite: bool) -> Mode | None:
    """``None`` when the job finished with these inputs and this config and its outputs are all there;
    ``resume`` when an interrupted run of it left its checkpoint; ``overwrite`` when the folder holds another
    run; ``fresh`` otherwise. A run the batch did not make (no ``batch_record.json``) is refused unless
    ``overwrite``, as ``restyle mesh`` refuses it."""
    record = read_record(folder)
    holds_run = [marker for marker in RUN_MARKERS if (folder / marker).exists()]
    if record is None and holds_run and not overwrite:
        raise ConfigError(f"{folder}: already holds a run that restyle batch did not make ({holds_run[0]}, no "
                          f"{RECORD}); replace it with restyle batch --overwrite or choose another output folder")
    same = record is not None and record.get("fingerprint") == digest
    if same and record.get("finished") and outputs_exist(folder, record):
        return None
    if same and not record.get("finished") and has_checkpoint(folder):
        return "resume"
    return "overwrite" if holds_run else "fresh"


def outputs_exist(folder: Path, record: dict[str, Any]) -> bool:
    outputs = record.get("outputs") or {}
    return bool(outputs) and all((folder.parent / rel).is_file() for rel in outputs.values())
