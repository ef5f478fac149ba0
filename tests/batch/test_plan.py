"""Planning without running: fingerprints (content, resolved config, paths relative to the manifest), one hash per
file and one load per mesh, the jobs' folders against every job's inputs, runs the batch did not make, and
finished jobs whose outputs are gone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from batch_fixtures import RED_JOB, TWO_JOBS, write_manifest, write_style

from restyle.batch import plan as planning
from restyle.batch.jobs import RECORD
from restyle.batch.manifest import load_manifest
from restyle.batch.plan import job_mode, plan_batch
from restyle.errors import ConfigError


def fingerprints(manifest: Path, output: Path) -> dict[str, str]:
    return {planned.job.name: planned.fingerprint for planned in plan_batch(load_manifest(manifest), output)}


def test_the_fingerprint_follows_the_resolved_config(workspace: Path) -> None:
    manifest = write_manifest(workspace, TWO_JOBS)
    before = fingerprints(manifest, workspace / "out")
    assert before == fingerprints(manifest, workspace / "out")  # nothing changed: the same
    write_manifest(workspace, TWO_JOBS.replace('styles = ["blue.png"]', 'styles = ["blue.png"]\npreset = "draft"'))
    after = fingerprints(manifest, workspace / "out")
    assert after["red"] == before["red"] and after["blue"] != before["blue"]  # the preset changes the config
    write_manifest(workspace, TWO_JOBS + "[job.optim]\nlr = 0.5\n")  # an option of the second job
    after = fingerprints(manifest, workspace / "out")
    assert after["red"] == before["red"] and after["blue"] != before["blue"]


def test_the_fingerprint_follows_the_inputs_bytes(workspace: Path) -> None:
    manifest = write_manifest(workspace, TWO_JOBS)
    before = fingerprints(manifest, workspace / "out")
    write_style(workspace / "red.png", 9)
    after = fingerprints(manifest, workspace / "out")
    assert after["red"] != before["red"] and after["blue"] == before["blue"]


def test_moving_the_library_or_the_output_keeps_the_fingerprints(workspace: Path,
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    manifest = write_manifest(workspace, TWO_JOBS)
    before = fingerprints(manifest, workspace / "out")
    moved = tmp_path_factory.mktemp("elsewhere") / "library"
    shutil.copytree(workspace, moved)
    assert fingerprints(moved / manifest.name, moved / "out") == before
    assert fingerprints(moved / manifest.name, tmp_path_factory.mktemp("other") / "results") == before


def test_each_file_is_hashed_once_and_each_mesh_loaded_once(workspace: Path, monkeypatch) -> None:
    import restyle.io.meshes

    rows = "".join(f"job{index},box.glb,red.png;blue.png\n" for index in range(40))
    (workspace / "list.csv").write_text("name,mesh,styles\n" + rows)
    hashed: list[Path] = []
    loaded: list[Path] = []
    real_hash, real_load = planning.file_sha256, restyle.io.meshes.load_mesh
    monkeypatch.setattr(planning, "file_sha256", lambda path: hashed.append(path) or real_hash(path))
    monkeypatch.setattr(restyle.io.meshes, "load_mesh", lambda path, **kw: loaded.append(path) or real_load(path, **kw))
    planned = plan_batch(load_manifest(workspace / "list.csv"), workspace / "out")
    assert len(planned) == 40 and len({p.fingerprint for p in planned}) == 1  # the same job under 40 names
    assert sorted(p.name for p in hashed) == ["blue.png", "box.glb", "red.png"]
    assert loaded == [workspace / "box.glb"]


def test_a_job_folder_may_not_hold_another_jobs_input(workspace: Path) -> None:
    (workspace / "styles").mkdir()
    write_style(workspace / "styles" / "ink.png", 3)
    manifest = write_manifest(workspace, '[[job]]\nname = "ink"\nmesh = "box.glb"\nstyles = ["styles/ink.png"]\n'
                                         '[[job]]\nname = "styles"\nmesh = "box.glb"\nstyles = ["red.png"]\n')
    with pytest.raises(ConfigError) as caught:  # -o at the library root
        plan_batch(load_manifest(manifest), workspace)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{manifest}: job 'styles' writes into {workspace / 'styles'}")
    assert f"style image {workspace / 'styles' / 'ink.png'} of job 'ink'" in message
    assert sorted(p.name for p in workspace.iterdir()) == ["batch.toml", "blue.png", "box.glb", "broken.obj",
                                                           "red.png", "styles"]


def test_a_job_folder_may_not_hold_its_own_mesh_or_the_manifest(workspace: Path) -> None:
    (workspace / "box").mkdir()
    shutil.copy(workspace / "box.glb", workspace / "box" / "box.glb")
    manifest = write_manifest(workspace, '[[job]]\nmesh = "box/box.glb"\nstyles = ["red.png"]\n')
    with pytest.raises(ConfigError, match=r"job 'box' writes into .*box, which holds mesh file .*box\.glb of this job"):
        plan_batch(load_manifest(manifest), workspace)
    (workspace / "lib").mkdir()
    manifest = write_manifest(workspace / "lib", '[[job]]\nname = "lib"\nmesh = "../box.glb"\n'
                                                 'styles = ["../red.png"]\n')
    with pytest.raises(ConfigError, match=r"job 'lib' writes into .*lib, which holds the manifest .*batch\.toml;"):
        plan_batch(load_manifest(manifest), workspace)


def test_the_batch_files_may_not_overwrite_the_manifest(workspace: Path) -> None:
    (workspace / "summary.csv").write_text("name,mesh,styles\nred,box.glb,red.png\n")
    with pytest.raises(ConfigError, match=r"the batch writes .*summary\.csv, which is the manifest; choose another"):
        plan_batch(load_manifest(workspace / "summary.csv"), workspace)


def test_a_run_the_batch_did_not_make_is_refused_unless_overwrite(workspace: Path) -> None:
    manifest = write_manifest(workspace, RED_JOB)
    foreign = workspace / "out" / "red"
    foreign.mkdir(parents=True)
    (foreign / "config.toml").write_text("# a restyle mesh run\n")
    with pytest.raises(ConfigError, match=r"out/red: already holds a run that restyle batch did not make "
                                          r"\(config\.toml, no batch_record\.json\); replace it with restyle batch "
                                          r"--overwrite"):
        plan_batch(load_manifest(manifest), workspace / "out")
    (planned,) = plan_batch(load_manifest(manifest), workspace / "out", overwrite=True)
    assert planned.mode == "overwrite"


def _record(folder: Path, digest: str, *, finished: bool, outputs: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORD).write_text(json.dumps({"fingerprint": digest, "finished": finished, "outputs": outputs}))


def test_a_finished_job_is_skipped_only_while_its_outputs_exist(tmp_path: Path) -> None:
    folder = tmp_path / "red"
    _record(folder, "f" * 64, finished=True, outputs={"glb": "red/box_stylized.glb"})
    (folder / "config.toml").write_text("")
    (folder / "box_stylized.glb").write_bytes(b"glb")
    assert job_mode(folder, "f" * 64, overwrite=False) is None
    assert job_mode(folder, "e" * 64, overwrite=False) == "overwrite"  # changed inputs or config
    (folder / "box_stylized.glb").unlink()
    assert job_mode(folder, "f" * 64, overwrite=False) == "overwrite"


def test_an_interrupted_job_resumes_only_with_its_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "red"
    _record(folder, "f" * 64, finished=False, outputs={})
    assert job_mode(folder, "f" * 64, overwrite=False) == "fresh"  # it failed before writing anything
    (folder / "config.toml").write_text("")
    assert job_mode(folder, "f" * 64, overwrite=False) == "overwrite"
    (folder / "checkpoint.pt").write_bytes(b"")
    assert job_mode(folder, "f" * 64, overwrite=False) == "resume"
    assert job_mode(folder, "e" * 64, overwrite=False) == "overwrite"
