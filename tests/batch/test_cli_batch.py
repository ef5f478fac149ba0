"""``restyle batch`` on the command line: progress lines, the summary line, exit statuses, a second run that skips."""

from __future__ import annotations

import json

from batch_fixtures import write_manifest


def test_a_batch_runs_then_skips_and_says_so(run_cli, workspace) -> None:
    manifest = write_manifest(workspace, '[[job]]\nname = "box-red"\nmesh = "box.glb"\nstyles = ["red.png"]\n')
    out = workspace / "out"
    code, stdout, err = run_cli("batch", manifest, "-o", out)
    assert code == 0, err
    assert "[1/1 done · 0 running · 0 failed] box-red: done" in err
    assert "1 jobs: 1 done" in stdout
    assert json.loads((out / "summary.json").read_text())["jobs"][0]["status"] == "done"

    code, stdout, err = run_cli("batch", manifest, "-o", out)
    assert code == 0 and "1 jobs: 1 skipped" in stdout and "1 already finished" in err


def test_a_failed_job_makes_the_batch_exit_1(run_cli, workspace) -> None:
    manifest = write_manifest(workspace, '[[job]]\nname = "bad"\nmesh = "broken.obj"\nstyles = ["red.png"]\n')
    code, stdout, err = run_cli("batch", manifest, "-o", workspace / "out", "--retries", "0")
    assert code == 1 and "1 failed" in stdout and "bad: failed (" in err


def test_a_typo_in_the_manifest_is_one_line_and_no_work(run_cli, workspace) -> None:
    manifest = write_manifest(workspace, '[[job]]\nname = "box"\nmesh = "box.glb"\nstyles = ["red.png"]\n'
                              "[job.optim]\niterations = 3\n")
    code, _, err = run_cli("batch", manifest, "-o", workspace / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "iterations" in err, err
    assert not (workspace / "out").exists()
