"""``restyle batch MANIFEST -o OUTDIR``: stylise many assets, resumably.

Each job runs ``restyle.api.stylize_mesh`` into ``OUTDIR/<name>`` and leaves ``batch_record.json`` there with
the SHA-256 of its inputs and resolved config (see :mod:`restyle.batch.plan`). Running the same command again
skips finished jobs, resumes interrupted ones from their checkpoint, and re-runs those whose inputs or config
changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from restyle.api import check_writable
from restyle.batch.executors import EXECUTORS, Tracker, import_ray, run_local, run_ray
from restyle.batch.jobs import JobSpec, Mode, read_record
from restyle.batch.manifest import BatchJob, load_manifest
from restyle.batch.plan import PlannedJob, plan_batch
from restyle.batch.report import BatchSummary, JobReport, write_reports
from restyle.errors import ConfigError

EventCallback = Callable[[str, str, dict[str, Any]], None]
"""``on_event(kind, job_name, detail)``. Kinds: ``planned`` (detail: ``mode`` fresh|resume|overwrite),
``skipped``, ``started`` (``attempt``), ``retrying`` (``attempt``, ``error``), ``done``/``failed``/``interrupted``
(``attempt``, ``seconds``, ``error``, ``outputs``); and, with an empty job name, ``batch-start`` (``total``,
``to_run``, ``skipped``) and ``batch-end`` (``summary``: the :class:`BatchSummary`)."""


def run_batch(
    manifest: Path,
    output: Path,
    *,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    retries: int = 1,
    schedule_timeout: float = 300.0,
    on_event: EventCallback | None = None,
    overwrite: bool = False,
) -> BatchSummary:
    """Run every job of ``manifest`` into ``output/<job name>``; write ``summary.json``, ``summary.csv`` and
    ``index.html`` into ``output``.

    ``executor``: ``local`` (``workers`` processes; 1 runs in this process) or ``ray`` (``ray_address``:
    ``"auto"``, ``"ray://host:10001"``, or None to start a local Ray). A failed job is tried again up to
    ``retries`` more times (``1 + retries`` attempts in all); one bad asset never stops the others. An
    interrupted job (Ctrl-C, SIGTERM) stops the batch; running the same command again resumes it.
    ``schedule_timeout``: seconds a Ray task asking for more than the cluster has (a GPU on CPU nodes) waits
    before it is reported failed. Every job's options, and the files the jobs write against those they read,
    are checked before any work starts (:class:`~restyle.errors.ConfigError` naming the manifest and the job).
    A job folder holding a run the batch did not make is refused unless ``overwrite``.
    """
    emit = on_event or (lambda kind, name, detail: None)
    _check_arguments(executor, workers, retries)
    loaded = load_manifest(manifest)
    output = Path(output).expanduser().resolve()
    check_writable(output, folder=True)  # a read-only OUTDIR would fail every job, and the summary
    if executor == "ray":
        import_ray()  # a missing extra fails before any hashing

    specs, skipped = [], {}
    for planned in plan_batch(loaded, output, overwrite=overwrite):
        if planned.mode is None:
            skipped[planned.job.name] = _skipped_report(planned, output)
        else:
            specs.append(_spec(planned.job, output, planned.mode, planned.fingerprint))
            emit("planned", planned.job.name, {"mode": planned.mode})
    emit("batch-start", "", {"total": len(loaded.jobs), "to_run": len(specs), "skipped": len(skipped)})
    for name in skipped:
        emit("skipped", name, {})

    tracker = Tracker(specs, 1 + retries, emit)
    try:
        if executor == "ray":
            resources = {job.name: job.resources for job in loaded.jobs}
            run_ray(specs, tracker, resources, address=ray_address, schedule_timeout=schedule_timeout)
        else:
            run_local(specs, tracker, workers)
    finally:  # even on a second Ctrl-C, the summary says what was done
        summary = BatchSummary(loaded.path, output, tuple(_report(job, tracker, skipped) for job in loaded.jobs))
        output.mkdir(parents=True, exist_ok=True)
        write_reports(summary)
    emit("batch-end", "", {"summary": summary})
    return summary


def _check_arguments(executor: str, workers: int, retries: int) -> None:
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r} (valid: {', '.join(EXECUTORS)})")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, not {workers}")
    if retries < 0:
        raise ConfigError(f"retries must be at least 0, not {retries}")


def _spec(job: BatchJob, output: Path, mode: Mode, digest: str) -> JobSpec:
    return JobSpec(name=job.name, mesh=job.mesh, styles=job.styles, output=output / job.name, preset=job.preset,
                   options=job.options, mode=mode, fingerprint=digest)


def _skipped_report(planned: PlannedJob, output: Path) -> JobReport:
    record = read_record(output / planned.job.name) or {}
    return JobReport(planned.job.name, "skipped", 0, 0.0, "", dict(record.get("outputs") or {}))


def _report(job: BatchJob, tracker: Tracker, skipped: dict[str, JobReport]) -> JobReport:
    if job.name in skipped:
        return skipped[job.name]
    state = tracker.states[job.name]
    if state.last is None:
        return JobReport(job.name, "pending", state.attempts, state.seconds, "", {})
    last = state.last
    return JobReport(job.name, last.status, state.attempts, state.seconds, last.error, dict(last.outputs))
