"""The records of ``restyle web``'s jobs and the store that keeps them on disk (the runner is in ``jobs``).

Each job lives in ``DATA/jobs/<id>/``: ``job.json`` (its :class:`JobRecord`, replaced atomically), ``inputs/`` (the
uploads), ``out/`` (a mesh run's folder) or ``out.png`` (an image run), ``original.glb`` and ``log.txt``. The files
are the truth: a reloaded page or a restarted server reads them again, so no job is lost with the process.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from restyle.errors import first_line
from restyle.io.atomic import write_text_atomic
from restyle.run.files import CHECKPOINT_NAME

JobKind = Literal["mesh", "image"]
JobStatus = Literal["queued", "running", "stopping", "stopped", "done", "failed"]
UNFINISHED: tuple[JobStatus, ...] = ("queued", "running", "stopping")

MESH_OUT = "out"  # a mesh job's output folder, inside the job folder
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")  # ids come back from URLs: nothing that can name a path
# keyword arguments of the API that the runner sets itself; options holding them would clash or escape the job
_RESERVED_OPTIONS = frozenset({"mesh", "styles", "content", "output", "resume", "on_step", "on_phase"})
_log = logging.getLogger(__name__)


@dataclass
class Progress:
    """How far a job has gone: the latest step's report, and the stage before or after the steps."""

    step: int = 0
    total: int = 0
    losses: dict[str, float] = field(default_factory=dict)  # every weighted term of the latest step, and "total"
    eta_s: float | None = None  # seconds left, the export included (the run's estimate); None until known
    phase: str = ""  # the pipeline's latest stage ("loading networks", "optimising (300 steps)", ...)


@dataclass
class JobRecord:
    """Everything the page shows of a job; what ``job.json`` holds."""

    id: str  # "20261122-031500-ab12": sortable by time, URL-safe
    kind: JobKind
    status: JobStatus
    created: float  # time.time()
    inputs: dict[str, object]  # paths relative to the job folder: {"mesh"|"content": ..., "styles": [...]}
    options: dict[str, object]  # keyword options of restyle.api.stylize_mesh / stylize_image, JSON-serialisable
    progress: Progress
    error: str | None = None  # one line, for the page
    # relative paths; mesh: glb, obj_zip, before_after, turntable, config, textures (list), preview, original_glb;
    # image: image, config
    outputs: dict[str, object] = field(default_factory=dict)
    resumable: bool = False  # a stopped (or failed) mesh job whose checkpoint a resume continues from


def _record_from_json(data: dict) -> JobRecord:
    """Fields a later version added are ignored, so that an older server can still list newer jobs."""
    progress_names = {f.name for f in dataclasses.fields(Progress)}
    progress = Progress(**{k: v for k, v in data.get("progress", {}).items() if k in progress_names})
    names = {f.name for f in dataclasses.fields(JobRecord)} - {"progress"}
    return JobRecord(**{k: v for k, v in data.items() if k in names}, progress=progress)


def has_checkpoint(folder: Path, kind: JobKind) -> bool:
    return kind == "mesh" and (folder / MESH_OUT / CHECKPOINT_NAME).is_file()


def _paths_in(inputs: dict[str, object]) -> Iterator[str]:
    for value in inputs.values():
        yield from (value if isinstance(value, list) else [value])


class JobStore:
    """Every job's record, read from ``data_dir/jobs/*/job.json`` when made; thread-safe."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).resolve() / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._records: dict[str, JobRecord] = {}
        for path in sorted(self.root.glob("*/job.json")):
            record = self._read(path)
            if record is not None:
                self._records[record.id] = record
                if record.status in ("running", "stopping"):
                    self._recover(record)

    def _read(self, path: Path) -> JobRecord | None:
        try:
            record = _record_from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, AttributeError) as error:
            _log.warning("ignoring %s: %s", path, first_line(error))
            return None
        if record.id != path.parent.name:
            _log.warning("ignoring %s: it names job %r", path, record.id)
            return None
        return record

    def _recover(self, record: JobRecord) -> None:
        """A job left running by a process that died: it stopped where its last checkpoint is."""
        record.status, record.progress.eta_s = "stopped", None
        record.resumable = has_checkpoint(self.folder(record.id), record.kind)
        self._save(record)

    def _save(self, record: JobRecord) -> None:
        text = json.dumps(dataclasses.asdict(record), indent=1)
        write_text_atomic(self.folder(record.id) / "job.json", text)

    def new_folder(self) -> tuple[str, Path]:
        """Reserve an id and make its ``inputs/`` folder, where uploads are staged before :meth:`create`."""
        while True:
            job_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
            try:
                (self.root / job_id).mkdir()
            except FileExistsError:  # the same second and the same 16 random bits: draw again
                continue
            (self.root / job_id / "inputs").mkdir()
            return job_id, self.root / job_id

    def create(self, job_id: str, kind: JobKind, inputs: dict, options: dict) -> JobRecord:
        """The record of a job whose folder :meth:`new_folder` reserved, status ``queued`` (see JobRunner.submit)."""
        if kind not in get_args(JobKind):
            raise ValueError(f"unknown job kind {kind!r}; use mesh or image")
        clash = sorted(_RESERVED_OPTIONS & set(options))
        if clash:
            raise ValueError(f"options may not set {', '.join(clash)}: the job sets them")
        for path in _paths_in(inputs):
            self.resolve(job_id, str(path))
        record = JobRecord(job_id, kind, "queued", time.time(), copy.deepcopy(inputs), copy.deepcopy(options),
                           Progress())
        try:
            json.dumps(dataclasses.asdict(record))
        except (TypeError, ValueError) as error:
            raise ValueError(f"inputs and options must be JSON-serialisable: {error}") from None
        with self._lock:
            if job_id in self._records:
                raise ValueError(f"job {job_id} exists already")
            self._records[job_id] = record
            self._save(record)
            return copy.deepcopy(record)

    def get(self, job_id: str) -> JobRecord:
        """A copy of the record; KeyError for an unknown id."""
        with self._lock:
            return copy.deepcopy(self._records[job_id])

    def list(self) -> list[JobRecord]:
        """Every job, newest first."""
        with self._lock:
            records = copy.deepcopy(list(self._records.values()))
        return sorted(records, key=lambda r: (r.created, r.id), reverse=True)

    def folder(self, job_id: str) -> Path:
        """The job's folder (reserved or created); KeyError for an id that names none."""
        if not _ID.fullmatch(job_id) or not (self.root / job_id).is_dir():
            raise KeyError(job_id)
        return self.root / job_id

    def resolve(self, job_id: str, relative: str) -> Path:
        """The absolute path of a job's file; ValueError when ``relative`` leads out of the job's folder."""
        folder, path = self.folder(job_id), Path(relative)
        if not relative or path.is_absolute() or ".." in path.parts:
            raise ValueError(f"{relative!r} is not a path inside the job folder")
        resolved = (folder / path).resolve()  # follows symbolic links, which may point anywhere
        if resolved != folder and folder not in resolved.parents:
            raise ValueError(f"{relative!r} leads out of the job folder")
        return resolved

    def update(self, job_id: str, change: Callable[[JobRecord], None], *, save: bool = True) -> None:
        """For the runner: apply ``change`` to the record under the lock; write job.json unless ``save`` is False."""
        with self._lock:
            record = self._records[job_id]
            change(record)
            if save:
                self._save(record)
