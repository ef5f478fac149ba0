"""The batch's summary files and gallery, from a summary alone (no runs)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from restyle.batch.executors import Tracker
from restyle.batch.jobs import Attempt, JobSpec
from restyle.batch.report import BatchSummary, JobReport, write_reports


def test_gallery_escapes_text_and_links_relatively(tmp_path: Path) -> None:
    jobs = (JobReport("box_ink", "done", 1, 2.5, "", {"glb": "box_ink/box stylized.glb",
                                                      "before_after": "box_ink/before_after.png",
                                                      "turntable": "box_ink/turntable.mp4"}),
            JobReport("bad", "failed", 2, 0.1, "ValueError: <script>alert(1)</script> & more", {}))
    summary = BatchSummary(tmp_path / "batch.toml", tmp_path / "out", jobs)
    write_reports(summary)
    page = (tmp_path / "out" / "index.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp; more" in page
    assert 'href="box_ink/box%20stylized.glb"' in page and '<video src="box_ink/turntable.mp4"' in page
    assert 'src="box_ink/before_after.png"' in page
    data = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert data["counts"] == {"done": 1, "skipped": 0, "failed": 1, "interrupted": 0, "pending": 0}
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert rows[1]["error"].startswith("ValueError: <script>") and rows[0]["glb"] == "box_ink/box stylized.glb"
    assert summary.line().startswith("2 jobs: 1 done, 1 failed")


def spec(name: str) -> JobSpec:
    return JobSpec(name, Path("a.glb"), (), Path("out") / name, None, {}, "fresh", "0" * 64)


def test_tracker_retries_failures_and_stops_after_an_interrupt() -> None:
    events: list[tuple[str, str]] = []
    tracker = Tracker([spec("a"), spec("b")], 2, lambda kind, name, detail: events.append((kind, name)))
    tracker.started(spec("a"))
    retry = tracker.finished(spec("a"), Attempt("failed", 1.0, "boom"))
    assert retry is not None and retry.mode == "overwrite"
    tracker.started(retry)
    assert tracker.finished(retry, Attempt("failed", 1.0, "boom")) is None  # attempts used up
    assert tracker.states["a"].attempts == 2 and tracker.states["a"].seconds == 2.0
    tracker.started(spec("b"))
    assert tracker.finished(spec("b"), Attempt("interrupted", 0.5, "KeyboardInterrupt")) is None
    assert tracker.stopped
    assert events == [("started", "a"), ("retrying", "a"), ("started", "a"), ("failed", "a"),
                      ("started", "b"), ("interrupted", "b")]
