"""Kubernetes stops a pod by sending SIGTERM to its main process only: ``restyle batch --workers N`` passes it on
to its worker processes, whose jobs write checkpoints, and the batch exits 143."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import torch
from batch_fixtures import TINY_DEFAULTS, TWO_JOBS, write_manifest

from run_processes import wait_for_logged_step

LONG = TINY_DEFAULTS.replace("optim = {iters = 3}", "optim = {iters = 100000, log_every = 1}")


def test_sigterm_to_the_batch_reaches_its_workers(workspace) -> None:
    assert LONG != TINY_DEFAULTS
    manifest, out = write_manifest(workspace, TWO_JOBS, defaults=LONG), workspace / "out"
    command = [sys.executable, "-m", "restyle", "batch", str(manifest), "-o", str(out), "--workers", "2"]
    # a session of its own: the signal reaches the batch's process alone, as a pod's SIGTERM does
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        for job in ("red", "blue"):
            wait_for_logged_step(out / job / "metrics.jsonl", process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=180)  # without the pass-on, the workers would run 100000 steps
    finally:
        process.kill()
    assert process.returncode == 143, err
    statuses = {job["name"]: job["status"] for job in json.loads((out / "summary.json").read_text())["jobs"]}
    assert statuses == {"red": "interrupted", "blue": "interrupted"}, err
    for job in ("red", "blue"):
        state = torch.load(out / job / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]
        assert state["step"] >= 1
