"""``torchrun -m restyle mesh``: N ranks with B/N views each take the same steps as one process with B views
(gloo on the CPU), only rank 0 writes, resume works, and a rank that dies stops the others with a message."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from restyle.configs import apply_overrides
from restyle.io.images import save_image
from restyle.pipelines.distributed import TEST_EXIT_ENV, TIMEOUT_ENV, Ranks
from restyle.pipelines.loop import weighted_total
from restyle.pipelines.mesh import MeshConfig, MeshJob
from restyle.pipelines.mesh_views import job_views

TINY = ("-b", "patch", "--texture-size", "32", "--render-size", "64", "--views-per-step", "2", "--palette", "none",
        "--turntable", "none", "-q")
LIMIT_S = 240  # a hang fails the test instead of blocking the suite


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def _single(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "restyle", "mesh", *map(str, args)], capture_output=True,
                          text=True, timeout=LIMIT_S, env=_env())


def _torchrun(*args: object, ranks: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks), "--master_port",
               str(_free_port()), "-m", "restyle", "mesh", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=LIMIT_S, env=_env())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _state(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]


def _gradient_moments(state: dict) -> list[torch.Tensor]:
    """Adam's first moments: a fixed linear mix of every step's gradients, so equal gradients give equal ones."""
    return [entry["exp_avg"] for entry in state["optimizer"]["state"].values()]


def _losses(out: Path) -> list[dict[str, float]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in lines]


def _assert_same_run(one: Path, two: Path) -> None:
    """The first step's gradients agree to float rounding (``test_two_halves_average_to_the_whole_batch``); Adam
    then moves a texel whose gradient is ~1e-7 of the largest by up to lr either way, so a few texels differ by
    more than rounding after it, and the later gradients follow them a little."""
    single, shared = _state(one), _state(two)
    for a, b in zip(_gradient_moments(single), _gradient_moments(shared), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-4 * a.abs().max().item())
    for a, b in zip(single["coverage"], shared["coverage"], strict=True):
        assert torch.equal(a, b)
    for name, value in single["params"].items():
        difference = (shared["params"][name] - value).abs()
        assert difference.max() < 1e-3 and (difference > 1e-6).float().mean() < 0.02, name
    a, b = _losses(one), {entry["step"]: entry for entry in _losses(two)}  # a resumed run also logs its last step
    assert a and all(entry["step"] in b for entry in a)
    for x in a:
        y = b[x["step"]]
        assert x.keys() == y.keys()
        for key in x:
            assert y[key] == pytest.approx(x[key], rel=1e-5, abs=1e-6), key


@pytest.fixture(scope="module")
def inputs(assets, tmp_path_factory) -> tuple[Path, Path]:
    style = tmp_path_factory.mktemp("style") / "style.png"
    save_image(torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(1)), style)
    return assets / "meshes" / "box_textured" / "BoxTextured.glb", style


@pytest.fixture(scope="module")
def single_run(inputs, tmp_path_factory) -> Path:
    box, style = inputs
    out = tmp_path_factory.mktemp("single") / "run"
    done = _single(box, "-s", style, "-o", out, "--iters", "3", *TINY)
    assert done.returncode == 0, done.stderr
    return out


def test_two_ranks_take_the_single_process_steps_resume_and_only_rank_0_writes(inputs, single_run, tmp_path) -> None:
    """Two steps on two ranks, then every rank resumes from the checkpoint for the third: the run of one process."""
    box, style = inputs
    out = tmp_path / "run"
    first = _torchrun(box, "-s", style, "-o", out, "--iters", "2", *TINY)
    assert first.returncode == 0, first.stderr
    resumed = _torchrun("--resume", out, "--iters", "3", "-q")
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(single_run, out)
    # the same files as one process writes: no second log, no per-rank leftovers
    listing = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert listing == sorted(str(p.relative_to(single_run)) for p in single_run.rglob("*"))


def test_a_rank_that_dies_stops_the_other_with_a_message(inputs, tmp_path) -> None:
    """Two ranks started by hand (no torchrun agent to kill the survivor): rank 1 exits abruptly at step 2, and
    rank 0 must report it and exit non-zero within the collective timeout."""
    box, style = inputs
    port = str(_free_port())
    command = [sys.executable, "-m", "restyle", "mesh", str(box), "-s", str(style), "-o", str(tmp_path / "run"),
               "--iters", "5", *TINY]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(
            RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
            **{TIMEOUT_ENV: "30", TEST_EXIT_ENV: "1:2"}))
        for rank in (0, 1)
    ]
    try:
        _, err = processes[0].communicate(timeout=LIMIT_S)
        processes[1].communicate(timeout=LIMIT_S)
    finally:
        for process in processes:
            process.kill()
    assert processes[1].returncode == 1
    assert processes[0].returncode not in (0, None), err
    assert "distributed run stopped" in err and "Traceback" not in err, err


def test_a_batch_that_does_not_split_evenly_is_refused() -> None:
    with pytest.raises(Exception, match="multiple of the number of processes"):
        Ranks(rank=0, world_size=2).block(3)
    assert Ranks(rank=1, world_size=2).block(4) == slice(2, 4)
    assert Ranks().block(3) == slice(0, 3)


class _Half(Ranks):
    """One of two ranks, in this process: its share of the views, without the exchanges."""

    def union_coverage(self, coverage):
        return list(coverage)


def test_two_halves_average_to_the_whole_batch(inputs, tmp_path) -> None:
    """What each rank computes: the mean of the two halves' gradients and losses is the whole batch's."""
    box, style = inputs
    config = apply_overrides(MeshConfig(), {
        "mesh": str(box), "styles": [str(style)], "output": str(tmp_path / "out"), "style": {"backbone": "patch"},
        "render": {"texture_size": 32, "render_size": 64, "views_per_step": 2}, "palette": {"source": "none"},
    }, source="test")
    results = []
    for ranks in (Ranks(), _Half(0, 2), _Half(1, 2)):
        job = MeshJob(config, ranks=ranks)  # each from the same seed: the same global batch
        job.views = job_views(job.geometry, job.sampler, job.config.render, ranks.block if ranks.distributed else None)
        terms = job.loss_terms()
        weighted_total(terms).backward()
        results.append(([p.grad for p in job.params.parameters()], float(terms["style"].detach())))
    (whole, loss), (first, loss_0), (second, loss_1) = results
    assert (loss_0 + loss_1) / 2 == pytest.approx(loss, rel=1e-6)
    for g, g0, g1 in zip(whole, first, second, strict=True):
        torch.testing.assert_close((g0 + g1) / 2, g, rtol=0, atol=1e-6 * g.abs().max().item())
