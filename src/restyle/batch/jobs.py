"""One batch job as a worker sees it: its spec, its record, and the function a worker runs (in this process, a
spawned process or a Ray task). Planning, in the batch's own process, is :mod:`restyle.batch.plan`."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from restyle.errors import RestyleError, first_line
from restyle.io.atomic import write_text_atomic
from restyle.run.files import BEFORE_AFTER_NAME, CHECKPOINT_NAME, CONFIG_NAME, PREVIEW_NAME, turntable_name

if TYPE_CHECKING:
    from restyle.api import MeshResult

RECORD = "batch_record.json"
Mode = Literal["fresh", "resume", "overwrite"]


def new_token() -> str:
    return uuid.uuid4().hex


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
    # One per submission, written into the record when it starts: the same submission run again after its worker
    # died (a killed process, a lost Ray node; Ray's own retries included) finds it there and resumes.
    token: str = dataclasses.field(default_factory=new_token)


@dataclasses.dataclass(frozen=True)
class Attempt:
    """The result of one try of one job."""

    status: Literal["done", "failed", "interrupted"]
    seconds: float
    error: str = ""
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)  # role -> path relative to OUTDIR
    lost: bool = False  # failed because its worker died, not by itself: run again, it resumes
    retryable: bool = True  # False: trying again cannot help (its folder cannot be written)


def read_record(folder: Path) -> dict[str, Any] | None:
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(folder: Path, **fields: Any) -> None:
    write_text_atomic(folder / RECORD, json.dumps(fields, indent=2, sort_keys=True) + "\n")


def has_checkpoint(folder: Path) -> bool:
    return (folder / CHECKPOINT_NAME).is_file() and (folder / CONFIG_NAME).is_file()


def effective_mode(spec: JobSpec) -> Mode:
    """The spec's mode, unless this very submission ran before and its worker died: then it continues from its
    checkpoint, or replaces what it left when it wrote none."""
    record = read_record(spec.output)
    if record is None or record.get("token") != spec.token:
        return spec.mode
    return "resume" if not record.get("finished") and has_checkpoint(spec.output) else "overwrite"


def collect_outputs(spec: JobSpec, result: MeshResult) -> dict[str, str]:
    """The files of this run that the gallery shows, relative to OUTDIR (never another run's left in the folder)."""
    folder = spec.output
    found = {"glb": Path(result.glb), "obj": Path(result.obj), "before_after": folder / BEFORE_AFTER_NAME,
             "preview": folder / PREVIEW_NAME}
    if result.config.outputs.turntable != "none":
        found["turntable"] = folder / turntable_name(result.config.outputs.turntable)
    return {role: path.relative_to(folder.parent).as_posix() for role, path in found.items() if path.is_file()}


def failure_reason(error: BaseException) -> str:
    """One line: a RestyleError's message as is, anything else with its type."""
    if isinstance(error, RestyleError):
        return first_line(error, limit=400)
    return f"{type(error).__name__}: {first_line(error, limit=400)}"


def _start(spec: JobSpec) -> Mode:
    """Check that the job's folder can be written, make it, and record the submission; its mode."""
    from restyle.api import check_writable

    check_writable(spec.output, folder=True)
    mode = effective_mode(spec)
    spec.output.mkdir(parents=True, exist_ok=True)
    write_record(spec.output, name=spec.name, fingerprint=spec.fingerprint, token=spec.token, finished=False)
    return mode


def execute(spec: JobSpec) -> Attempt:
    """Run one job in its folder; never raises for a failure of the job itself."""
    from restyle import api  # looked up at call time, so that a test can wrap ``api.stylize_mesh``

    start = time.monotonic()
    try:
        mode = _start(spec)
    except (RestyleError, OSError) as error:  # a read-only folder, a file where it goes: this job only
        return Attempt("failed", time.monotonic() - start, failure_reason(error), retryable=False)
    kwargs: dict[str, Any] = dict(spec.options)
    if mode == "resume":
        kwargs["resume"] = spec.output
    elif mode == "overwrite":
        kwargs["overwrite"] = True
    try:
        result = api.stylize_mesh(spec.mesh, spec.styles, spec.output, preset=spec.preset, **kwargs)
        outputs = collect_outputs(spec, result)
        write_record(spec.output, name=spec.name, fingerprint=spec.fingerprint, token=spec.token, finished=True,
                     outputs=outputs)
    except KeyboardInterrupt as error:  # restyle's Interrupted included: the checkpoint is written
        return Attempt("interrupted", time.monotonic() - start, failure_reason(error))
    except Exception as error:  # noqa: BLE001 - one bad asset never stops the batch
        reason = failure_reason(error)
        with contextlib.suppress(OSError):  # the reason is in the summary even when the folder went read-only
            write_record(spec.output, name=spec.name, fingerprint=spec.fingerprint, token=spec.token,
                         finished=False, error=reason)
        return Attempt("failed", time.monotonic() - start, reason)
    return Attempt("done", time.monotonic() - start, outputs=outputs)
