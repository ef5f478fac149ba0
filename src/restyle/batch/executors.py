"""Where batch jobs run: in this process, in a pool of spawned worker processes, or as Ray tasks.

Every executor runs :func:`restyle.batch.jobs.execute` once per attempt and hands each attempt to a
:class:`Tracker`, which retries failed jobs and stops the batch after an interrupted one. A job whose worker died
(a killed process, a lost Ray node) is submitted again as it was, and so continues from its checkpoint; the other
jobs of a broken process pool are too.

Ray: ``ray.init(address=...)`` joins a cluster (``"auto"`` for the one this machine belongs to) or, without an
address, starts a local one. Each job is one task asking for the manifest's ``cpus``/``gpus``. Workers write
straight into OUTDIR, so OUTDIR (and the manifest's assets and style images) must be at the same path on every
node: a shared filesystem (NFS, a mounted bucket), and restyle must be installed in every worker's Python.
A task whose request exceeds what the cluster has in total (a GPU job on GPU-less nodes) would wait forever; it
is cancelled and reported failed after ``schedule_timeout`` seconds.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from restyle.batch.jobs import Attempt, JobSpec, execute, new_token
from restyle.batch.manifest import Resources
from restyle.errors import ConfigError

EXECUTORS = ("local", "ray")
Emit = Callable[[str, str, dict[str, Any]], None]


@dataclasses.dataclass
class JobState:
    spec: JobSpec
    attempts: int = 0
    seconds: float = 0.0
    last: Attempt | None = None


class Tracker:
    """Counts attempts, decides retries, and tells ``emit`` about every start and end."""

    def __init__(self, specs: Sequence[JobSpec], max_attempts: int, emit: Emit) -> None:
        self.states = {spec.name: JobState(spec) for spec in specs}
        self.max_attempts = max(1, max_attempts)
        self.emit = emit
        self.stopped = False

    def started(self, spec: JobSpec) -> None:
        state = self.states[spec.name]
        state.attempts += 1
        self.emit("started", spec.name, {"attempt": state.attempts, "mode": spec.mode})

    def finished(self, spec: JobSpec, attempt: Attempt, *, may_retry: bool = True) -> JobSpec | None:
        """Record ``attempt``; the spec to run again when the job failed, has attempts left and ``may_retry``."""
        state = self.states[spec.name]
        state.last, state.seconds = attempt, state.seconds + attempt.seconds
        if attempt.status == "interrupted":
            self.stopped = True
        may_retry = may_retry and attempt.retryable and state.attempts < self.max_attempts and not self.stopped
        if attempt.status == "failed" and may_retry:
            self.emit("retrying", spec.name, {"attempt": state.attempts, "error": attempt.error})
            return again(spec, attempt)
        self.emit(attempt.status, spec.name, {"attempt": state.attempts, "seconds": state.seconds,
                                              "error": attempt.error, "outputs": attempt.outputs})
        return None


def again(spec: JobSpec, attempt: Attempt) -> JobSpec:
    """The spec of the next try: the same submission after its worker died (it resumes from its checkpoint),
    a new one replacing the folder after the job failed by itself (the failed try may have left files)."""
    if attempt.lost:
        return spec
    return dataclasses.replace(spec, mode="overwrite", token=new_token())


def run_local(specs: Sequence[JobSpec], tracker: Tracker, workers: int) -> None:
    if workers <= 1:
        _run_in_process(specs, tracker)
    else:
        with _sigterm_passed_to_workers():
            _run_in_pool(specs, tracker, workers)


def _run_in_process(specs: Sequence[JobSpec], tracker: Tracker) -> None:
    queue = collections.deque(specs)
    while queue and not tracker.stopped:
        spec = queue.popleft()
        tracker.started(spec)
        retry = tracker.finished(spec, execute(spec))
        if retry is not None:
            queue.appendleft(retry)


_stopping = False  # in a worker process: a stop signal has arrived


def _stop_once(signum: int, frame: object) -> None:
    """A worker's SIGTERM handler: Ctrl-C's path, so that the run writes its checkpoint and comes back
    "interrupted". Later SIGTERMs are ignored: the scheduler's own and the one the batch passes on may both
    arrive, and a second KeyboardInterrupt would cut the checkpoint short."""
    global _stopping
    if not _stopping:
        _stopping = True
        raise KeyboardInterrupt


def _worker_setup() -> None:
    signal.signal(signal.SIGTERM, _stop_once)


@contextlib.contextmanager
def _sigterm_passed_to_workers() -> Iterator[None]:
    """Kubernetes (and ``kill PID``) signal the batch's own process only: pass SIGTERM on to the worker
    processes, so that their running jobs write checkpoints, then stop this process as its handler would."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def pass_on(signum: int, frame: object) -> None:
        for worker in multiprocessing.active_children():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, pass_on)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1,
                               initializer=_worker_setup)


def _watch_new_worker(pool: ProcessPoolExecutor) -> None:
    """Wake the pool's manager thread once more after a submit. CPython (3.11, at least) wakes it before it spawns
    the task's worker, so the manager may go on waiting without watching that worker: were it killed, the pool
    would notice only at its next event (another job's end), and the jobs beside it would run on meanwhile. Private
    names, looked up defensively: without them the death is noticed late, never missed."""
    wakeup, lock = getattr(pool, "_executor_manager_thread_wakeup", None), getattr(pool, "_shutdown_lock", None)
    if wakeup is None or lock is None:
        return
    with lock:  # the manager closes the wakeup under this lock when the pool ends
        wakeup.wakeup()


def _run_in_pool(specs: Sequence[JobSpec], tracker: Tracker, workers: int) -> None:
    """Each job in a fresh spawned process (no state, CUDA context or leak shared between jobs)."""
    queue = collections.deque(specs)
    pool = _new_pool(workers)
    running: dict[Future, JobSpec] = {}
    try:
        while (queue and not tracker.stopped) or running:
            while queue and not tracker.stopped and len(running) < workers:
                spec = queue.popleft()
                tracker.started(spec)
                running[pool.submit(execute, spec)] = spec
                _watch_new_worker(pool)
            try:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                # the workers got the stop too (a terminal's Ctrl-C reaches its whole process group; a SIGTERM
                # is passed on): they write their checkpoints and come back "interrupted"; wait for them, start
                # nothing new
                tracker.stopped = True
                continue
            for future in done:
                spec = running.pop(future, None)
                if spec is None:  # requeued after its pool broke
                    continue
                try:
                    attempt = future.result()
                except BrokenProcessPool:
                    attempt = Attempt("failed", 0.0, "the worker process died (killed, or out of memory)", lost=True)
                    # wait for the old pool's workers to end: those still running got a SIGTERM and write their
                    # checkpoints, and hold their folders' locks until they exit
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = _new_pool(workers)
                    # their pool is gone with it: the same submissions again, which resume from their checkpoints
                    queue.extendleft(reversed(list(running.values())))
                    for lost in running.values():
                        tracker.states[lost.name].attempts -= 1
                    running.clear()
                retry = tracker.finished(spec, attempt)
                if retry is not None:
                    queue.appendleft(retry)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------------- Ray


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray, an optional extra: pip install 'ray>=2.9' "
                          "(or pip install 'restyle[ray]')") from None
    return ray


def run_ray(
    specs: Sequence[JobSpec],
    tracker: Tracker,
    resources: dict[str, Resources],
    *,
    address: str | None,
    schedule_timeout: float,
    worker_retries: int = 2,
    poll: float = 0.5,
) -> None:
    """One Ray task per attempt. ``worker_retries`` is Ray's ``max_retries``: a task whose worker or node died
    is re-run by Ray; a job that fails by itself is retried by the tracker."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address or None)
    task = ray.remote(execute)
    pending: dict[Any, tuple[JobSpec, float]] = {}

    def submit(spec: JobSpec) -> None:
        need = resources[spec.name]
        options = task.options(num_cpus=need.cpus, num_gpus=need.gpus, max_retries=worker_retries)
        tracker.started(spec)
        pending[options.remote(spec)] = (spec, time.monotonic())

    try:
        for spec in specs:
            submit(spec)
        while pending:
            try:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=poll)
            except KeyboardInterrupt:
                _interrupt(ray, pending, tracker)
                return
            for ref in ready:
                spec, _ = pending.pop(ref)
                retry = tracker.finished(spec, _result(ray, ref))
                if retry is not None and not tracker.stopped:
                    submit(retry)
            _fail_unschedulable(ray, pending, tracker, resources, schedule_timeout)
            if tracker.stopped:  # an interrupted job (a SIGTERM on its node): stop the others the same way
                _interrupt(ray, pending, tracker)
                return
    finally:
        if started_here:
            ray.shutdown()


def _result(ray: Any, ref: Any) -> Attempt:
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return Attempt("interrupted", 0.0, "cancelled")
    except ray.exceptions.RayError as error:  # ``execute`` never raises: its worker or node was lost
        lines = str(error).strip().splitlines()
        return Attempt("failed", 0.0, f"{type(error).__name__}: {lines[0] if lines else ''}"[:400], lost=True)


def _fail_unschedulable(ray: Any, pending: dict, tracker: Tracker, resources: dict[str, Resources],
                        timeout: float) -> None:
    """Cancel tasks that ask for more than the whole cluster has, once they have waited ``timeout`` seconds
    (an autoscaling cluster may add the nodes meanwhile)."""
    total = ray.cluster_resources()
    now = time.monotonic()
    for ref, (spec, since) in list(pending.items()):
        need = resources[spec.name]
        short = [f"{amount:g} {kind}" for kind, amount, key in (("CPU", need.cpus, "CPU"), ("GPU", need.gpus, "GPU"))
                 if amount > total.get(key, 0.0)]
        if short and now - since > timeout:
            ray.cancel(ref, force=True)
            del pending[ref]
            have = f"{total.get('CPU', 0.0):g} CPU, {total.get('GPU', 0.0):g} GPU"
            reason = (f"cannot be scheduled: it asks for {', '.join(short)} and the Ray cluster has {have} in "
                      f"total (waited {timeout:g} s)")
            tracker.finished(spec, Attempt("failed", now - since, reason), may_retry=False)  # it would wait again


def _interrupt(ray: Any, pending: dict, tracker: Tracker, grace: float = 120.0) -> None:
    """Ask running tasks to stop (a KeyboardInterrupt in the task: the run writes its checkpoint) and collect
    what they report."""
    tracker.stopped = True
    for ref in pending:
        ray.cancel(ref, force=False)
    deadline = time.monotonic() + grace
    for ref, (spec, _) in list(pending.items()):
        try:
            attempt = ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - cancelled before it started, or gone: resumable or fresh next time
            attempt = Attempt("interrupted", 0.0, "cancelled")
        tracker.finished(spec, attempt)
    pending.clear()
