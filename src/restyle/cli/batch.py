"""``restyle batch``: many assets in many looks from one manifest (:mod:`restyle.batch`); registered by
``restyle.cli``. Progress is one line per job event with the batch's counts and ETA, fit for a terminal or a log."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from restyle.cli.progress import stop_status


class BatchProgress:
    """Turns the batch's events into lines: ``[2/5 done · 1 running · 1 failed · ETA 3 min] spot-wave: done``."""

    def __init__(self) -> None:
        self.total = self.finished = self.running = self.failed = 0
        self.started = time.monotonic()
        self.work_seconds: list[float] = []

    def __call__(self, kind: str, name: str, detail: dict) -> None:
        if kind == "batch-start":
            self.total = int(detail.get("to_run", 0)) + int(detail.get("skipped", 0))
            self.finished = int(detail.get("skipped", 0))
            typer.echo(f"restyle batch: {self.total} jobs, {detail.get('skipped', 0)} already finished", err=True)
            return
        if kind == "started":
            self.running += 1
        elif kind in ("done", "failed", "interrupted"):
            self.running = max(0, self.running - 1)
            self.finished += kind != "interrupted"
            self.failed += kind == "failed"
            self.work_seconds.append(float(detail.get("seconds") or 0.0))
        elif kind != "retrying":
            return
        error = f" ({detail['error']})" if detail.get("error") else ""
        typer.echo(f"[{self._counts()}] {name}: {kind}{error}", err=True)

    def _counts(self) -> str:
        parts = [f"{self.finished}/{self.total} done", f"{self.running} running", f"{self.failed} failed"]
        left = self.total - self.finished
        if self.work_seconds and left:
            # the batch's own pace so far: elapsed time per finished job, times the jobs left
            pace = (time.monotonic() - self.started) / len(self.work_seconds)
            parts.append(f"ETA {max(1, round(pace * left / 60))} min")
        return " · ".join(parts)


def batch_command(
    manifest: Path = typer.Argument(..., help="The batch manifest: TOML (job tables, or assets times look tables) or "
                                    "CSV (name,mesh,styles,text,preset)."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the jobs' folders, summary.json/.csv and "
                                "index.html (on Ray: a path every worker sees)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Local worker processes (one job each at a time)."),
    ray: str | None = typer.Option(None, "--ray", help="Run on Ray: 'auto' (the cluster this machine belongs to, or "
                                   "a local one) or the address of a cluster's head."),
    retries: int = typer.Option(1, "--retries", min=0, help="Extra attempts for a failed job."),
    schedule_timeout: float = typer.Option(300.0, "--schedule-timeout", min=1.0,
                                           help="Ray: seconds a job may wait for the CPUs/GPUs it asks for."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run that restyle batch did not make in a "
                                   "job's folder (one with config.toml or checkpoint.pt but no batch_record.json) "
                                   "instead of refusing; finished jobs are still skipped, inputs never overwritten."),
) -> None:
    """Stylise a library: restyle batch MANIFEST -o OUTDIR [--workers N | --ray auto]. Re-running skips finished
    jobs, resumes interrupted ones and retries failed ones."""
    from restyle.batch import run_batch

    summary = run_batch(manifest, output, executor="ray" if ray else "local", workers=workers,
                        ray_address=None if ray in (None, "auto") else ray, retries=retries,
                        schedule_timeout=schedule_timeout, on_event=BatchProgress(), overwrite=overwrite)
    typer.echo(summary.line())
    if summary.interrupted:
        raise typer.Exit(stop_status())
    if not summary.ok:
        raise typer.Exit(1)
