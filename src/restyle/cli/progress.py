"""Progress output of the ``restyle`` command line: a rich bar on a terminal, plain lines in a log or pipe, one
line per phase of a run (loading, unwrapping, optimising, the time estimate, exporting), and how a run that is
stopped (Ctrl-C, SIGTERM) ends.

Both show what the run's loop reports with each step: its ETA (the export included) and the latest held-out
distances against the first ones (``held-out gram 0.91→0.78 nnfm 0.40→0.35 content 0.00→0.41``)."""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import typer

from restyle.api import StepInfo, heldout_text

# Seconds between plain progress lines when the output is a log file or a pipe, not a terminal.
PLAIN_PROGRESS_EVERY_S = 5.0


def _losses_text(info: StepInfo) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in info.losses.items())


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def plain_progress(description: str, every_s: float = PLAIN_PROGRESS_EVERY_S) -> Callable[[StepInfo], None]:
    """A step callback printing one line on stderr every ``every_s`` seconds and at the last step:
    ``restyle mesh: step 40/300  eta 1m05s  style 1.2  total 3.4  held-out gram 0.91→0.78 ...``, for logs that a
    bar would fill with control codes. The ETA is the run's (:attr:`StepInfo.eta_s`), or without one the mean
    time per step so far times the steps left."""
    started = time.monotonic()
    last = [-math.inf]

    def on_step(info: StepInfo) -> None:
        now = time.monotonic()
        if now - last[0] < every_s and info.step != info.total:
            return
        last[0] = now
        eta = info.eta_s if info.eta_s is not None else (now - started) / info.step * (info.total - info.step)
        heldout = heldout_text(info.heldout)
        typer.echo(f"{description}: step {info.step}/{info.total}  eta {_clock(eta)}  {_losses_text(info)}"
                   + (f"  {heldout}" if heldout else ""), err=True)

    return on_step


def _is_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


def phase_lines(description: str) -> Callable[[str], None]:
    """A phase callback printing ``restyle mesh: unwrapping spot.obj (70,000 faces)…`` on stderr."""
    return lambda phase: typer.echo(f"{description}: {phase}…", err=True)


@contextmanager
def progress(enabled: bool, description: str) -> Iterator[tuple[Callable[[StepInfo], None] | None,
                                                                  Callable[[str], None] | None]]:
    """The step and phase callbacks: a rich progress bar with ETA and the current losses on a terminal, plain
    lines otherwise (see :func:`plain_progress`), each phase as one line before. The bar appears at the first
    step, so a run refused while loading leaves no empty bar above its error."""
    if not enabled:
        yield None, None
        return
    if not _is_terminal():
        yield plain_progress(description), phase_lines(description)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    # the held-out distances before the losses: on a narrow terminal the last column is cut first, and the losses of
    # one batch say less than the distances on fixed views
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("eta {task.fields[eta]}"), TextColumn("{task.fields[heldout]}"),
               TextColumn("{task.fields[losses]}"))
    with ExitStack() as stack:
        bar: list = []

        def on_step(info: StepInfo) -> None:
            if not bar:
                progress = stack.enter_context(Progress(*columns, transient=False))
                bar.extend([progress, progress.add_task(description, total=info.total, losses="", eta="-:--",
                                                        heldout="")])
            progress, task = bar
            eta = "-:--" if info.eta_s is None else _clock(info.eta_s)
            progress.update(task, completed=info.step, total=info.total, losses=_losses_text(info), eta=eta,
                            heldout=heldout_text(info.heldout))

        def on_phase(phase: str) -> None:
            if bar:  # a line on stderr would tear the live bar: rich prints it above
                bar[0].console.print(f"{description}: {phase}…", highlight=False)
            else:
                phase_lines(description)(phase)

        yield on_step, on_phase


@contextmanager
def warning_lines(description: str) -> Iterator[None]:
    """restyle's own warnings (:class:`restyle.errors.RestyleWarning`) as one line on stderr, ``restyle image:
    warning: ...``, like its errors, instead of Python's two-line file:line form; others are shown as usual."""
    from restyle.errors import RestyleWarning

    with warnings.catch_warnings():
        shown_as_usual = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
            if issubclass(category, RestyleWarning):
                typer.echo(f"{description}: warning: {message}", err=True)
            else:
                shown_as_usual(message, category, *args, **kwargs)

        warnings.showwarning = show
        warnings.simplefilter("always", RestyleWarning)  # every one, not once per place in the code
        yield


# ------------------------------------------------------------------------------ Ctrl-C and SIGTERM

INTERRUPTED, TERMINATED = 130, 143  # Ctrl-C; SIGTERM (128 + 15), how Slurm, Kubernetes and Ray stop work
_terminated = False


def stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM takes Ctrl-C's path (a mesh run writes its checkpoint first), then exits with its own status, so a
    scheduler that preempted the run can tell it from a user's Ctrl-C and resume it later."""
    global _terminated
    if _terminated:  # already stopping (a scheduler may signal every process, and torchrun passes it on too):
        return  # a second KeyboardInterrupt would cut the checkpoint being written short
    _terminated = True
    raise KeyboardInterrupt


@contextmanager
def stopped_cleanly() -> Iterator[None]:
    """Ctrl-C or SIGTERM during a run: one line (a mesh run's names its checkpoint) and the matching status; typer
    would otherwise exit 130 without a word, whatever the signal."""
    try:
        yield
    except KeyboardInterrupt as stop:
        prefix = "terminated (SIGTERM), " if _terminated else ""
        typer.echo(f"restyle: {prefix}{str(stop) or 'interrupted'}", err=True)
        raise typer.Exit(stop_status()) from None


def terminated() -> bool:
    """Whether this process was stopped by SIGTERM (so far)."""
    return _terminated


def stop_status() -> int:
    """The exit status of a stopped run: 143 after SIGTERM, 130 after Ctrl-C."""
    return TERMINATED if _terminated else INTERRUPTED
