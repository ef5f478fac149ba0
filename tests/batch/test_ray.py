"""The Ray executor on a local two-CPU cluster: the same outputs as the local executor, and a job asking for a
GPU the cluster lacks is reported failed after a short timeout instead of waiting forever."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_fixtures import TWO_JOBS, texture_bytes, write_manifest

from restyle.batch import run_batch

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.ray, pytest.mark.slow]

@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_gives_the_same_outputs_as_local(workspace: Path) -> None:
    manifest = write_manifest(workspace, TWO_JOBS)
    local = run_batch(manifest, workspace / "local")
    on_ray = run_batch(manifest, workspace / "ray", executor="ray")
    assert [job.status for job in local.jobs] == [job.status for job in on_ray.jobs] == ["done", "done"]
    expected = texture_bytes(workspace / "local")
    assert len(expected) == 2 and texture_bytes(workspace / "ray") == expected
    assert (workspace / "ray" / "index.html").is_file()


def test_gpu_job_on_a_gpu_less_cluster_fails_instead_of_hanging(workspace: Path) -> None:
    manifest = write_manifest(workspace, '[[job]]\nname = "needs_gpu"\nmesh = "box.glb"\nstyles = ["red.png"]\n'
                                         "[job.resources]\ngpus = 1\n")
    summary = run_batch(manifest, workspace / "out", executor="ray", retries=2, schedule_timeout=1.0)
    (job,) = summary.jobs
    assert job.status == "failed" and "cannot be scheduled" in job.error and "1 GPU" in job.error
    assert job.attempts == 1  # waiting again would not help
