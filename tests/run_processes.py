"""Helpers of the tests that stop a running ``restyle`` process with a signal (imported by those tests)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from restyle.run.heldout import is_loss_entry, read_metrics


def wait_for_logged_step(metrics: Path, process: subprocess.Popen, deadline_s: float = 240.0) -> None:
    """Until the run has logged a step to ``metrics`` (a step under way: a stop now has work to save; the held-out
    check's entry before the first step does not count). Fails the test, instead of hanging it, when the process
    ends first or the deadline passes."""
    give_up = time.monotonic() + deadline_s
    while not (metrics.exists() and any(is_loss_entry(entry) for entry in read_metrics(metrics))):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < give_up, "the run logged no step"
        time.sleep(0.2)
