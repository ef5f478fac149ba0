"""One batch job: its fingerprint (inputs and resolved config), its record, what to do with it, and the
function a worker runs (in this process, a spawned process or a Ray task)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any, Literal

from restyle.batch.manifest import BatchJob
from restyle.errors import RestyleError, first_line
from restyle.io.atomic import write_text_atomic

RECORD = "batch_record.json"
CHECKPOINT = "checkpoint.pt"
Mode = Literal["fresh", "resume", "overwrite"]


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run one job; plain data, so that it pickles to another process or machine."""

    name: str
    mesh: Path
    styles: tuple[Path, ...]
    output: Path  # OUTDIR/<name>
    preset: str | None
    options: dict[str, Any]
    mode: Mode
    fingerprint: str


@dataclasses.dataclass(frozen=True)
class Attempt:
    """The result of one try of one job."""

    status: Literal["done", "failed", "interrupted"]
    seconds: float
    error: str = ""
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> path relative to OUTDIR


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(job: BatchJob) -> list[Path]:
    """The mesh with its companions (MTL, textures, .bin) and the style images. A file the mesh loader cannot
    read is hashed alone: its job fails at run time, and it is re-tried when the file changes."""
    from restyle.io.meshes import load_mesh

    try:
        mesh_files = [Path(p) for p in load_mesh(job.mesh, unwrap=False).source_files]
    except Exception:  # noqa: BLE001 - any unreadable asset: the job reports it when it runs
        mesh_files = [job.mesh]
    styles = [Path(str(s).partition("@")[0]) if not s.exists() else s for s in job.styles]
    return sorted(set(mesh_files)) + styles


def fingerprint(job: BatchJob, output: Path) -> tuple[str, dict[str, str]]:
    """SHA-256 over the inputs' bytes and the resolved config (without per-invocation permissions)."""
    from restyle import api
    from restyle.configs import to_dict

    hashes = {str(path): sha256_file(path) for path in input_files(job) if path.is_file()}
    config = to_dict(api.mesh_config(job.mesh, job.styles, output, preset=job.preset, **job.options))
    config.pop("overwrite", None)
    text = json.dumps({"inputs": hashes, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), hashes


def read_record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(folder: Path, **fields: Any) -> None:
    write_text_atomic(folder / RECORD, json.dumps(fields, indent=2, sort_keys=True) + "\n")


def outputs_exist(folder: Path, record: dict[str, Any]) -> bool:
    outputs = record.get("outputs") or {}
    return bool(outputs) and all((folder.parent / rel).is_file() for rel in outputs.values())


def plan(job: BatchJob, output: Path, digest: str) -> Mode | None:
    """``None`` when the job is finished with these inputs and config (nothing to do); ``resume`` when an
    interrupted run of the same job left its checkpoint; ``overwrite`` when the folder holds another run."""
    folder = output / job.name
    record = read_record(folder)
    same = record is not None and record.get("fingerprint") == digest
    if same and record.get("finished") and outputs_exist(folder, record):
        return None
    if same and not record.get("finished") and (folder / CHECKPOINT).is_file() and (folder / "config.toml").is_file():
        return "resume"
    if any((folder / marker).exists() for marker in ("config.toml", CHECKPOINT)):
        return "overwrite"
    return "fresh"


def collect_outputs(spec: JobSpec, glb: Path | None = None) -> dict[str, str]:
    """The files the gallery shows, relative to OUTDIR."""
    folder = spec.output
    found: dict[str, Path] = {}
    glbs = [glb] if glb is not None else sorted(folder.glob("*_stylized.glb"))
    if glbs and glbs[0].is_file():
        found["glb"] = glbs[0]
    objs = sorted((folder / "obj").glob("*_stylized.obj"))
    if objs:
        found["obj"] = objs[0]
    for role, name in (("before_after", "before_after.png"), ("preview", "preview.png")):
        if (folder / name).is_file():
            found[role] = folder / name
    for suffix in ("gif", "mp4"):
        if (folder / f"turntable.{suffix}").is_file():
            found["turntable"] = folder / f"turntable.{suffix}"
    return {role: path.relative_to(folder.parent).as_posix() for role, path in found.items()}


def failure_reason(error: BaseException) -> str:
    """One line: a RestyleError's message as is, anything else with its type."""
    if isinstance(error, RestyleError):
        return first_line(error, limit=400)
    return f"{type(error).__name__}: {first_line(error, limit=400)}"


def execute(spec: JobSpec) -> Attempt:
    """Run one job in its folder; never raises for a failure of the job itself."""
    from restyle import api  # looked up at call time, so that a test can wrap ``api.stylize_mesh``

    start = time.monotonic()
    spec.output.mkdir(parents=True, exist_ok=True)
    write_record(spec.output, name=spec.name, fingerprint=spec.fingerprint, finished=False)
    kwargs: dict[str, Any] = dict(spec.options)
    if spec.mode == "resume":
        kwargs["resume"] = spec.output
    elif spec.mode == "overwrite":
        kwargs["overwrite"] = True
    try:
        result = api.stylize_mesh(spec.mesh, spec.styles, spec.output, preset=spec.preset, **kwargs)
    except KeyboardInterrupt as error:  # restyle's Interrupted included: the checkpoint is written
        return Attempt("interrupted", time.monotonic() - start, failure_reason(error))
    except Exception as error:  # noqa: BLE001 - one bad asset never stops the batch
        reason = failure_reason(error)
        write_record(spec.output, name=spec.name, fingerprint=spec.fingerprint, finished=False, error=reason)
        return Attempt("failed", time.monotonic() - start, reason)
    outputs = collect_outputs(spec, Path(result.glb))
    write_record(spec.output, name=spec.name, fingerprint=spec.fingerprint, finished=True, outputs=outputs)
    return Attempt("done", time.monotonic() - start, outputs=outputs)
