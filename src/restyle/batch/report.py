"""The batch's own outputs in OUTDIR: ``summary.json``, ``summary.csv`` and an ``index.html`` gallery."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from restyle.io.atomic import write_text_atomic

Status = Literal["done", "skipped", "failed", "interrupted", "pending"]
STATUSES: tuple[Status, ...] = ("done", "skipped", "failed", "interrupted", "pending")


@dataclasses.dataclass(frozen=True)
class JobReport:
    """One job's outcome. ``pending``: never started because the batch was interrupted first."""

    name: str
    status: Status
    attempts: int
    seconds: float
    error: str
    outputs: dict[str, str]  # role (glb, obj, before_after, preview, turntable) -> path relative to OUTDIR


@dataclasses.dataclass(frozen=True)
class BatchSummary:
    manifest: Path
    output: Path
    jobs: tuple[JobReport, ...]

    def count(self, status: Status) -> int:
        return sum(job.status == status for job in self.jobs)

    @property
    def interrupted(self) -> bool:
        return any(job.status in ("interrupted", "pending") for job in self.jobs)

    @property
    def ok(self) -> bool:
        """Every job done or skipped."""
        return all(job.status in ("done", "skipped") for job in self.jobs)

    def line(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in STATUSES if self.count(s))
        return f"{len(self.jobs)} jobs: {counts}; summary in {self.output / 'summary.json'}"


def write_reports(summary: BatchSummary) -> None:
    out = summary.output
    write_text_atomic(out / "summary.json", summary_json(summary))
    write_text_atomic(out / "summary.csv", summary_csv(summary))
    write_text_atomic(out / "index.html", gallery_html(summary))


def summary_json(summary: BatchSummary) -> str:
    data = {
        "manifest": str(summary.manifest),
        "output": str(summary.output),
        "counts": {status: summary.count(status) for status in STATUSES},
        "jobs": [dataclasses.asdict(job) for job in summary.jobs],
    }
    return json.dumps(data, indent=2) + "\n"


def summary_csv(summary: BatchSummary) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "status", "attempts", "seconds", "error", "glb", "obj", "before_after", "turntable"])
    for job in summary.jobs:
        writer.writerow([job.name, job.status, job.attempts, f"{job.seconds:.1f}", job.error,
                         *(job.outputs.get(role, "") for role in ("glb", "obj", "before_after", "turntable"))])
    return buffer.getvalue()


_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa}
.grid{display:flex;flex-wrap:wrap;gap:1em}
.job{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em;width:420px}
.job img,.job video{max-width:100%;display:block;margin:.4em 0}
.failed{border-color:#c33}.interrupted,.pending{border-color:#c90}
.status{font-size:.85em;color:#555}.error{color:#c33;font-family:monospace;font-size:.85em}"""


def _link(relative: str) -> str:
    return html.escape(quote(relative), quote=True)


def _card(job: JobReport) -> str:
    name = html.escape(job.name)
    parts = [f'<div class="job {job.status}" id="{html.escape(job.name, quote=True)}">', f"<h2>{name}</h2>",
             f'<div class="status">{job.status}, {job.attempts} attempt(s), {job.seconds:.1f} s</div>']
    if "before_after" in job.outputs:
        parts.append(f'<img src="{_link(job.outputs["before_after"])}" alt="{name}: before and after">')
    turntable = job.outputs.get("turntable")
    if turntable and turntable.endswith(".mp4"):
        parts.append(f'<video src="{_link(turntable)}" controls loop muted></video>')
    elif turntable:
        parts.append(f'<img src="{_link(turntable)}" alt="{name}: turntable">')
    links = [f'<a href="{_link(job.outputs[role])}" download>{label}</a>'
             for role, label in (("glb", "GLB"), ("obj", "OBJ")) if role in job.outputs]
    if links:
        parts.append("<div>Download: " + " · ".join(links) + "</div>")
    if job.error:
        parts.append(f'<div class="error">{html.escape(job.error)}</div>')
    parts.append("</div>")
    return "\n".join(parts)


def gallery_html(summary: BatchSummary) -> str:
    counts = ", ".join(f"{summary.count(s)} {s}" for s in STATUSES if summary.count(s))
    title = html.escape(f"restyle batch: {summary.manifest.name}")
    cards = "\n".join(_card(job) for job in summary.jobs)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_STYLE}</style></head>\n<body><h1>{title}</h1><p>{html.escape(counts)}</p>\n"
            f'<div class="grid">\n{cards}\n</div></body></html>\n')
