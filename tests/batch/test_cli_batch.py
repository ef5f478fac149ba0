"""``restyle batch`` on the command line: progress lines, the summary line, exit statuses, a second run that skips."""

from __future__ import annotations

import json

import pytest
from batch_fixtures import RED_JOB, pretend_read_only, write_manifest


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


def test_a_run_the_batch_did_not_make_is_kept_unless_overwrite(run_cli, workspace) -> None:
    manifest, folder = write_manifest(workspace, RED_JOB), workspace / "out" / "red"
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text("# a restyle mesh run of the user's\n")
    code, _, err = run_cli("batch", manifest, "-o", workspace / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{folder}: already holds a run that restyle batch did not make" in err and "--overwrite" in err
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml"]  # nothing else written, nothing replaced
    assert (folder / "config.toml").read_text() == "# a restyle mesh run of the user's\n"
    code, stdout, err = run_cli("batch", manifest, "-o", workspace / "out", "--overwrite")
    assert code == 0 and "1 jobs: 1 done" in stdout, err


@pytest.mark.parametrize(("manifest", "content", "expected"), [
    ("batch.toml", RED_JOB + '[defaults]\noutput = "elsewhere"\n', "[defaults]: unknown key 'output' (valid: preset,"),
    ("list.csv", b"name,mesh,styles\nr\xe9d,box.glb,red.png\n", "row 2: not UTF-8 text (byte 0xe9)"),
    ("list.csv", b"name,mesh,styles\nred,box.glb\x00,red.png\n", "row 2: holds a NUL byte"),
])
def test_bad_manifests_are_one_line_and_no_work(run_cli, workspace, manifest, content, expected) -> None:
    path = workspace / manifest
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    code, _, err = run_cli("batch", path, "-o", workspace / "out")
    assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    assert err.startswith(f"restyle: error: {path}: ")
    assert not (workspace / "out").exists()


@pytest.mark.parametrize("blocked", ["file", "read-only"])
def test_an_output_folder_that_cannot_be_written_is_one_line(run_cli, workspace, monkeypatch, blocked) -> None:
    out = workspace / "out"
    if blocked == "file":
        out.write_text("a file where the output folder goes")
    else:
        out.mkdir()
        pretend_read_only(monkeypatch, out)
    code, _, err = run_cli("batch", write_manifest(workspace, RED_JOB), "-o", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"restyle: error: {out}: " in err, err
