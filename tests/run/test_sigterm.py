"""Preemption: clusters stop work with SIGTERM (Slurm, Kubernetes, Ray). A ``restyle mesh`` that receives it writes
a checkpoint and exits with its own status (143, not Ctrl-C's 130), and ``--resume`` takes the run up again."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import torch

from restyle.io.images import save_image
from run_processes import wait_for_logged_step

TINY = ("-b", "patch", "--texture-size", "32", "--render-size", "64", "--views-per-step", "1", "--palette", "none",
        "--turntable", "none", "-q")


def _restyle(*args: object) -> list[str]:
    return [sys.executable, "-m", "restyle", *map(str, args)]


def _terminated_after_a_step(command: list[str], metrics: Path) -> tuple[int, str]:
    """Start ``command``, send it SIGTERM once it has logged a step; its exit status and stderr."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_logged_step(metrics, process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, err


def test_sigterm_writes_a_checkpoint_exits_143_and_resumes(assets, tmp_path) -> None:
    box, style, out = assets / "meshes" / "box_textured" / "BoxTextured.glb", tmp_path / "style.png", tmp_path / "run"
    save_image(torch.rand(3, 64, 64), style)
    code, err = _terminated_after_a_step(_restyle("mesh", box, "-s", style, "-o", out, "--iters", "100000", *TINY),
                                         out / "metrics.jsonl")
    assert code == 143, err
    assert "terminated (SIGTERM), interrupted at step" in err and "checkpoint written" in err
    step = int(re.search(r"at step (\d+)", err).group(1))
    assert step >= 1 and (out / "checkpoint.pt").exists()

    resumed = subprocess.run(_restyle("mesh", "--resume", out, "--iters", step + 2, "-q"), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "BoxTextured_stylized.glb").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) >= 1


def test_sigterm_during_an_image_run_exits_143_and_writes_no_output(assets, tmp_path) -> None:
    style, out = tmp_path / "style.png", tmp_path / "out.png"
    save_image(torch.rand(3, 32, 32), style)
    code, err = _terminated_after_a_step(
        _restyle("image", assets / "content" / "cc0_chelsea_cat.png", "-s", style, "-o", out, "-b", "patch",
                 "--size", "48", "--iters", "100000", "-q"),
        tmp_path / "out.metrics.jsonl",
    )
    assert code == 143 and "restyle: terminated (SIGTERM), interrupted" in err, err
    assert not out.exists()
