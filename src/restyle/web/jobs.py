"""The jobs behind ``restyle web``: a queue, and worker threads that run jobs through :mod:`restyle.api`.

The page reads records with :meth:`JobStore.get` / :meth:`JobStore.list` (copies, safe from any thread) and polls
them; progress reaches ``job.json`` at most every :data:`SAVE_EVERY_S` seconds, the record in memory every step.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import traceback
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from restyle import api
from restyle.errors import ConfigError, RestyleError, first_line
from restyle.io.atomic import atomic_path
from restyle.io.export import export_glb
from restyle.io.meshes import load_mesh
from restyle.run.files import BEFORE_AFTER_NAME, CONFIG_NAME, OBJ_FOLDER, PREVIEW_NAME, turntable_name
from restyle.web.job_store import (
    MESH_OUT,
    UNFINISHED,
    JobKind,
    JobRecord,
    JobStatus,
    JobStore,
    Progress,
    has_checkpoint,
)

if TYPE_CHECKING:  # the step record's type only: the web app talks to restyle.api, not the jobs
    from restyle.api import StepInfo

__all__ = ["PALETTE_INPUT", "JobKind", "JobRecord", "JobRunner", "JobStatus", "JobStore", "Progress", "StopRequested"]

SAVE_EVERY_S = 0.5  # a page polls job.json; it need not be rewritten (and fsynced) for every step
IMAGE_OUT, ORIGINAL, LOG = "out.png", "original.glb", "log.txt"
PALETTE_INPUT = "palette"  # a mesh job's uploaded palette image, among its inputs (its path is known once it runs)
ERROR_CHARS = 300
_log = logging.getLogger(__name__)


class StopRequested(KeyboardInterrupt):
    """Raised from a run's callbacks once its job is asked to stop. A KeyboardInterrupt so that the mesh pipeline
    writes its checkpoint and raises ``Interrupted``, as on Ctrl-C."""


@dataclass
class _Running:
    """What a worker knows of the job it runs."""

    stop: threading.Event = field(default_factory=threading.Event)
    first_step: tuple[int, float] | None = None  # (step, time.monotonic()) of this session's first step
    saved_at: float = 0.0
    preview: str | None = None  # relative path of the preview image the run writes, until it is recorded


class JobRunner:
    """Runs queued jobs on ``workers`` daemon threads, oldest first. More than one worker runs jobs side by side
    in one process: they share torch's global random state, so their results are no longer reproducible."""

    def __init__(self, store: JobStore, *, workers: int = 1, preview_every: int = 10) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.store, self.workers, self.preview_every = store, workers, preview_every
        self._cond = threading.Condition()  # guards the queue and the running jobs; told of every status change
        self._queue: deque[str] = deque()
        self._running: dict[str, _Running] = {}
        self._threads: list[threading.Thread] = []
        self._generation = 0  # a worker serves while it is current: one left over by a shutdown ends after its job

    # -- what the page calls -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers; jobs an earlier process left queued go first, oldest first."""
        with self._cond:
            if self._threads:
                return
            for record in reversed(self.store.list()):
                if record.status == "queued" and record.id not in self._queue:
                    self._queue.append(record.id)
            self._threads = [threading.Thread(target=self._work, args=(self._generation,), daemon=True,
                                              name=f"restyle-job-worker-{index}") for index in range(self.workers)]
            for thread in self._threads:
                thread.start()
            self._cond.notify_all()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the running jobs (a mesh job writes its checkpoint) and wait up to ``timeout`` s for the workers.
        Queued jobs stay queued on disk for the next :meth:`start`."""
        with self._cond:
            self._generation += 1
            for job_id in list(self._running):
                self._ask_to_stop(job_id)
            threads, self._threads = self._threads, []
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def submit(self, job_id: str) -> None:
        """Queue a created job; one already queued or running here (:meth:`start` takes up queued records) is
        left as it is."""
        with self._cond:
            record = self.store.get(job_id)
            if job_id in self._queue or job_id in self._running:
                return
            if record.status != "queued":
                raise ValueError(f"job {job_id} is {record.status}; only a queued job can be submitted")
            self._queue.append(job_id)
            self._cond.notify_all()

    def stop(self, job_id: str) -> None:
        """A queued job is stopped now; a running one at its next step or stage. A finished job is left alone."""
        with self._cond:
            record = self.store.get(job_id)
            if job_id in self._running:
                self._ask_to_stop(job_id)
            elif record.status == "queued":
                if job_id in self._queue:
                    self._queue.remove(job_id)
                self.store.update(job_id, lambda r: _end_record(r, "stopped", self.store.folder(job_id)))
            self._cond.notify_all()

    def resume(self, job_id: str) -> None:
        """Queue a stopped or failed mesh job again; it continues from its checkpoint. ValueError otherwise."""
        with self._cond:
            record = self.store.get(job_id)
            if record.kind == "image":
                raise ConfigError("image jobs start over; run it again")
            if record.status not in ("stopped", "failed"):
                raise ConfigError(f"job {job_id} is {record.status}; only a stopped or failed job can be resumed")
            if not has_checkpoint(self.store.folder(job_id), record.kind):
                raise ConfigError("this job stopped before its first checkpoint; run it again")
            self.store.update(job_id, _queue_record)
            self._queue.append(job_id)
            self._cond.notify_all()

    def queue_position(self, job_id: str) -> int | None:
        """0 while the job runs, 1 for the next to run, ...; None when it is neither running nor queued."""
        with self._cond:
            if job_id in self._running:
                return 0
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    def wait(self, job_id: str, timeout: float) -> JobRecord:
        """The record once the job is no longer queued, running or stopping; TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (record := self.store.get(job_id)).status in UNFINISHED:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"job {job_id} is still {record.status} after {timeout:g} s")
                self._cond.wait(min(left, 1.0))
            return record

    # -- the workers ---------------------------------------------------------------------------------

    def _ask_to_stop(self, job_id: str) -> None:
        self._running[job_id].stop.set()
        self.store.update(job_id, lambda r: setattr(r, "status", "stopping"))

    def _work(self, generation: int) -> None:
        while (job := self._next(generation)) is not None:
            job_id, running = job
            try:
                self._run(job_id, running)
            except Exception:  # a record that could not be written: log it, keep serving the queue
                _log.exception("job %s could not be finished", job_id)
            finally:
                with self._cond:
                    self._running.pop(job_id, None)
                    self._cond.notify_all()

    def _next(self, generation: int) -> tuple[str, _Running] | None:
        with self._cond:
            while not self._queue and generation == self._generation:
                self._cond.wait()
            if generation != self._generation:
                return None
            job_id = self._queue.popleft()
            running = self._running[job_id] = _Running()
            self.store.update(job_id, _start_record)
            self._cond.notify_all()
            return job_id, running

    def _run(self, job_id: str, running: _Running) -> None:
        record, folder = self.store.get(job_id), self.store.folder(job_id)
        try:
            if record.kind == "mesh":
                outputs = self._run_mesh(record, folder, running)
            else:
                outputs = self._run_image(record, folder, running)
        except KeyboardInterrupt:  # StopRequested, or the mesh pipeline's Interrupted after its checkpoint
            self._end(job_id, "stopped")
        except RestyleError as error:
            _append_log(folder, f"failed: {error}\n")
            self._end(job_id, "failed", error=_one_line(str(error), folder))
        except Exception as error:
            _append_log(folder, traceback.format_exc())
            self._end(job_id, "failed", error=f"internal error: {first_line(error)} (details in {LOG})")
        else:
            self._end(job_id, "done", outputs)

    def _end(self, job_id: str, status: JobStatus, outputs: dict | None = None, error: str | None = None) -> None:
        with self._cond:
            self.store.update(job_id, lambda r: _end_record(r, status, self.store.folder(job_id), outputs, error))
            self._running.pop(job_id, None)  # with the status: queue_position and status never disagree
            self._cond.notify_all()

    def _run_mesh(self, record: JobRecord, folder: Path, running: _Running) -> dict[str, object]:
        on_step, on_phase = self._callbacks(record.id, running)
        mesh = self.store.resolve(record.id, str(record.inputs["mesh"]))
        styles = [self.store.resolve(record.id, str(s)) for s in record.inputs.get("styles", [])]
        if not (folder / ORIGINAL).is_file():
            _write_original(mesh, folder / ORIGINAL, bool(record.options.get("unwrap", True)), on_phase)
            self.store.update(record.id, lambda r: r.outputs.update(original_glb=ORIGINAL))
        out = folder / MESH_OUT
        running.preview = f"{MESH_OUT}/{PREVIEW_NAME}"
        if has_checkpoint(folder, "mesh"):  # a resumed job: its config.toml holds the options
            result = api.stylize_mesh(mesh, styles, resume=out, on_step=on_step, on_phase=on_phase)
        else:
            options = copy.deepcopy(record.options)
            options["outputs"] = {"preview_every": self.preview_every, **(options.get("outputs") or {})}
            if record.inputs.get(PALETTE_INPUT):
                palette = self.store.resolve(record.id, str(record.inputs[PALETTE_INPUT]))
                options["palette"] = {**(options.get("palette") or {}), "source": str(palette)}
            result = api.stylize_mesh(mesh, styles, out, on_step=on_step, on_phase=on_phase, **options)
        return _mesh_outputs(folder, result.glb.name, result.obj.name, result.config.outputs.turntable)

    def _run_image(self, record: JobRecord, folder: Path, running: _Running) -> dict[str, object]:
        on_step, on_phase = self._callbacks(record.id, running)
        content = record.inputs.get("content")
        content_path = self.store.resolve(record.id, str(content)) if content else None
        styles = [self.store.resolve(record.id, str(s)) for s in record.inputs.get("styles", [])]
        result = api.stylize_image(content_path, styles, folder / IMAGE_OUT, on_step=on_step, on_phase=on_phase,
                                   **copy.deepcopy(record.options))
        return {"image": IMAGE_OUT, "config": result.config_path.name}

    def _callbacks(self, job_id: str, running: _Running) -> tuple[Callable[[StepInfo], None], Callable[[str], None]]:
        folder = self.store.folder(job_id)

        def on_step(info: StepInfo) -> None:
            now = time.monotonic()
            running.first_step = running.first_step or (info.step, now)
            preview = _new_preview(folder, running)
            save = preview is not None or info.step == info.total or now - running.saved_at >= SAVE_EVERY_S
            if save:
                running.saved_at = now
            eta = info.eta_s if info.eta_s is not None else _eta(running, info, now)  # the run's: export included
            self.store.update(job_id, lambda r: _record_step(r, info, eta, preview), save=save)
            if running.stop.is_set():
                raise StopRequested(f"job {job_id} was asked to stop")

        def on_phase(phase: str) -> None:
            self.store.update(job_id, lambda r: setattr(r.progress, "phase", phase))
            if running.stop.is_set():  # minutes of loading or unwrapping need not run to their end
                raise StopRequested(f"job {job_id} was asked to stop")

        return on_step, on_phase


# ------------------------------------------------------------------------------------- record changes


def _start_record(record: JobRecord) -> None:
    record.status, record.error, record.resumable, record.progress.eta_s = "running", None, False, None


def _queue_record(record: JobRecord) -> None:
    record.status, record.error, record.resumable, record.progress.eta_s = "queued", None, False, None


def _end_record(record: JobRecord, status: JobStatus, folder: Path, outputs: dict | None = None,
                error: str | None = None) -> None:
    record.status, record.error, record.progress.eta_s = status, error, None
    record.outputs.update(outputs or {})
    record.resumable = status in ("stopped", "failed") and has_checkpoint(folder, record.kind)


def _record_step(record: JobRecord, info: StepInfo, eta: float | None, preview: str | None) -> None:
    progress = record.progress
    progress.step, progress.total, progress.losses, progress.eta_s = info.step, info.total, dict(info.losses), eta
    if preview is not None:
        record.outputs["preview"] = preview


def _new_preview(folder: Path, running: _Running) -> str | None:
    """The preview's relative path the first time the run has written it (the pipeline writes it atomically)."""
    if running.preview is None or not (folder / running.preview).is_file():
        return None
    preview, running.preview = running.preview, None
    return preview


def _eta(running: _Running, info: StepInfo, now: float) -> float | None:
    """For a run that reports no ETA of its own: seconds left at the mean time per step since this session's first
    step (a resumed run's earlier steps were timed by another session, or not at all)."""
    first, started = running.first_step or (info.step, now)
    if info.step <= first:
        return None
    return (now - started) / (info.step - first) * max(0, info.total - info.step)


# ------------------------------------------------------------------------------------------ files


def _one_line(message: str, folder: Path) -> str:
    """The first line of an error, with the job folder's prefix cut from the paths it names (the page knows
    the job's files by their relative paths)."""
    lines = message.replace(f"{folder}/", "").strip().splitlines()
    line = lines[0] if lines else "failed"
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 3] + "..."


def _append_log(folder: Path, text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with (folder / LOG).open("a", encoding="utf-8") as log:
        log.write(f"--- {stamp}\n{text}")


def _write_original(mesh_path: Path, target: Path, unwrap: bool, on_phase: Callable[[str], None]) -> None:
    """The asset as uploaded, as a GLB the page can show beside the result: unwrapped if it has no UVs, as the
    run will unwrap it (both unwraps of one mesh are the same, so the result's UVs match)."""
    on_phase(f"loading {mesh_path.name}")
    mesh = load_mesh(mesh_path, unwrap=unwrap,
                     on_unwrap=lambda faces: on_phase(f"unwrapping {mesh_path.name} ({faces:,} faces)"))
    export_glb(mesh, [slot.image for slot in mesh.slots], target)


def _mesh_outputs(folder: Path, glb: str, obj: str, turntable: str) -> dict[str, object]:
    out, obj_folder = folder / MESH_OUT, folder / MESH_OUT / OBJ_FOLDER
    _zip_folder(obj_folder, out / "obj.zip")
    textures = _mtl_textures((obj_folder / obj).with_suffix(".mtl"))
    outputs: dict[str, object] = {
        "glb": f"{MESH_OUT}/{glb}",
        "obj_zip": f"{MESH_OUT}/obj.zip",
        "before_after": f"{MESH_OUT}/{BEFORE_AFTER_NAME}",
        "config": f"{MESH_OUT}/{CONFIG_NAME}",
        "textures": [f"{MESH_OUT}/{OBJ_FOLDER}/{name}" for name in textures],
    }
    if turntable != "none" and (out / turntable_name(turntable)).is_file():
        outputs["turntable"] = f"{MESH_OUT}/{turntable_name(turntable)}"
    return outputs


def _zip_folder(folder: Path, target: Path) -> None:
    """Every file of ``folder`` at the top of a zip archive (hidden ones, an exporter's leftovers, left out)."""
    with atomic_path(target) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file() and not path.name.startswith("."):
                archive.write(path, path.name)


def _mtl_textures(mtl: Path) -> list[str]:
    """The base-colour textures the exported .mtl names (the stylised ones; other maps are the source's)."""
    names = []
    for line in mtl.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].lower() == "map_kd":
            names.append(words[-1])  # the exporter's names hold no spaces
    return names
