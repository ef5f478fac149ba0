"""``torchrun -m restyle mesh``: N ranks with B/N views each take the same steps as one process with B views in
passes of B/N (gloo on the CPU), only rank 0 writes, resume works, the ranks end together and leave no gloo thread
behind, and a rank that dies stops the others with a message. One process's passes add up to its whole batch at
once."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rank_probe import EXIT_LINE
from restyle.configs import apply_overrides
from restyle.io.images import save_image
from restyle.jobs.mesh.run import MeshConfig, MeshJob
from restyle.jobs.mesh.step import step_gradients
from restyle.run.heldout import is_loss_entry
from restyle.run.ranks import TEST_EXIT_ENV, TIMEOUT_ENV, Ranks
from run_processes import wait_for_logged_step

TINY = ("-b", "patch", "--texture-size", "32", "--render-size", "64", "--views-per-step", "2", "--turntable", "none",
        "-q")
LIMIT_S = 240  # a hang fails the test instead of blocking the suite
PROBE = Path(__file__).parents[1] / "rank_probe.py"


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


def _adam_moments(state: dict) -> list[torch.Tensor]:
    return [entry[key] for entry in state["optimizer"]["state"].values() for key in ("exp_avg", "exp_avg_sq")]


def _losses(out: Path) -> list[dict[str, float]]:
    """The loss entries of a run's log (a resumed run's held-out check measures at other steps)."""
    lines = (out / "metrics.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    return [{k: v for k, v in entry.items() if k != "elapsed_s"} for entry in entries if is_loss_entry(entry)]


def _assert_same_run(one: Path, two: Path) -> None:
    """The issue's bar: textures (and Adam's moments, so every later step too) equal to 1e-6 after several steps.
    With the ranks' passes equal to the single process's, the arithmetic is the same, and on this machine the
    runs agree to the bit."""
    single, shared = _state(one), _state(two)
    assert single["step"] == shared["step"] == 3
    for name, value in single["params"].items():
        torch.testing.assert_close(shared["params"][name], value, rtol=0, atol=1e-6, msg=name)
    for a, b in zip(_adam_moments(single), _adam_moments(shared), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)
    for a, b in zip(single["coverage"], shared["coverage"], strict=True):
        assert torch.equal(a, b)
    a, b = _losses(one), {entry["step"]: entry for entry in _losses(two)}  # a resumed run also logs its last step
    assert a and all(entry["step"] in b for entry in a)
    for x in a:
        assert x.keys() == b[x["step"]].keys()
        for key in x:
            assert b[x["step"]][key] == pytest.approx(x[key], rel=1e-6), key


@pytest.fixture(scope="module")
def inputs(assets, tmp_path_factory) -> tuple[Path, Path]:
    style = tmp_path_factory.mktemp("style") / "style.png"
    save_image(torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(1)), style)
    return assets / "meshes" / "box_textured" / "BoxTextured.glb", style


def _single_run(inputs, out: Path, *options: str) -> Path:
    box, style = inputs
    done = _single(box, "-s", style, "-o", out, "--iters", "3", "--views-per-pass", "1", *TINY, *options)
    assert done.returncode == 0, done.stderr
    return out


def test_two_ranks_take_the_single_process_steps_and_only_rank_0_writes(inputs, tmp_path) -> None:
    """Three steps, palette on (each rank adds it after the exchange: counted once)."""
    box, style = inputs
    single = _single_run(inputs, tmp_path / "single")
    shared = tmp_path / "run"
    done = _torchrun(box, "-s", style, "-o", shared, "--iters", "3", *TINY)
    assert done.returncode == 0, done.stderr
    _assert_same_run(single, shared)
    # the same files as one process writes: no second log, no per-rank leftovers
    listing = sorted(str(p.relative_to(shared)) for p in shared.rglob("*"))
    assert listing == sorted(str(p.relative_to(single)) for p in single.rglob("*"))


def test_every_rank_resumes_from_the_checkpoint(inputs, tmp_path) -> None:
    """Two steps on two ranks, then a torchrun resume to the third: the three steps of one process. (Without the
    palette, whose weight schedule follows ``--iters`` and so changes when a resume raises it.)"""
    box, style = inputs
    single = _single_run(inputs, tmp_path / "single", "--palette", "none")
    shared = tmp_path / "run"
    first = _torchrun(box, "-s", style, "-o", shared, "--iters", "2", *TINY, "--palette", "none")
    assert first.returncode == 0, first.stderr
    resumed = _torchrun("--resume", shared, "--iters", "3", "-q")
    assert resumed.returncode == 0, resumed.stderr
    _assert_same_run(single, shared)


def _hand_started(command: list[str], **extra: str) -> list[subprocess.Popen]:
    """Ranks 0 and 1 of ``command``, started by hand (no torchrun agent: nothing stops a survivor for us)."""
    port = str(_free_port())
    return [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port, **extra))
        for rank in (0, 1)]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads native thread names from /proc (Linux)")
def test_ranks_end_together_and_leave_no_gloo_thread_running(inputs, tmp_path) -> None:
    """Rank 0 is slow to write its last checkpoint here: rank 1 must wait for it at the final barrier, not exit
    first. And every rank has left the process group before it exits: a gloo thread still running when the
    interpreter shuts down aborts the process if it frees a tensor then ("terminate called without an active
    exception"), and torchrun then kills the other ranks mid-export."""
    box, style = inputs
    out = tmp_path / "run"
    processes = _hand_started([sys.executable, str(PROBE), "mesh", str(box), "-s", str(style), "-o", str(out),
                               "--iters", "2", *TINY])
    try:
        _, rank_1_err = processes[1].communicate(timeout=LIMIT_S)
        step_when_rank_1_left = _state(out)["step"] if (out / "checkpoint.pt").exists() else None
        _, rank_0_err = processes[0].communicate(timeout=LIMIT_S)
    finally:
        for process in processes:
            process.kill()
    assert [process.returncode for process in processes] == [0, 0], rank_0_err + rank_1_err
    assert step_when_rank_1_left == 2
    assert f"{EXIT_LINE} []" in rank_0_err and f"{EXIT_LINE} []" in rank_1_err, rank_0_err + rank_1_err


def test_a_rank_that_dies_stops_the_other_with_a_message(inputs, tmp_path) -> None:
    """Two ranks started by hand (no torchrun agent to kill the survivor): rank 1 exits abruptly at step 2, and
    rank 0 must report it and exit non-zero within the collective timeout."""
    box, style = inputs
    command = [sys.executable, "-m", "restyle", "mesh", str(box), "-s", str(style), "-o", str(tmp_path / "run"),
               "--iters", "5", *TINY]
    processes = _hand_started(command, **{TIMEOUT_ENV: "30", TEST_EXIT_ENV: "1:2"})
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


def _first_step(config: MeshConfig, views_per_pass: int) -> tuple[list[torch.Tensor], dict[str, float]]:
    job = MeshJob(dataclasses.replace(config, render=dataclasses.replace(config.render,
                                                                          views_per_pass=views_per_pass)))
    losses = step_gradients(job)
    return [p.grad for p in job.params.parameters()], losses


def test_passes_add_up_to_the_whole_batch(inputs, tmp_path) -> None:
    """Four views in passes of one or two: the same gradient and losses as all four at once, up to rounding."""
    box, style = inputs
    config = apply_overrides(MeshConfig(), {
        "mesh": str(box), "styles": [str(style)], "output": str(tmp_path / "out"), "style": {"backbone": "patch"},
        "render": {"texture_size": 32, "render_size": 64, "views_per_step": 4}, "weights": {"tv": 1.0},
    }, source="test")
    whole, losses = _first_step(config, 0)
    assert set(losses) == {"style", "content", "tv", "palette", "total"}
    for per_pass in (1, 2):
        grads, found = _first_step(config, per_pass)
        assert found == pytest.approx(losses, rel=1e-6)
        for g, expected in zip(grads, whole, strict=True):
            assert expected.abs().max() > 0
            torch.testing.assert_close(g, expected, rtol=0, atol=1e-6 * expected.abs().max().item())


def test_passes_that_do_not_divide_a_share_are_refused(inputs, tmp_path) -> None:
    box, style = inputs
    done = _single(box, "-s", style, "-o", tmp_path / "run", "--iters", "1", *TINY, "--views-per-pass", "3")
    assert done.returncode == 2 and not (tmp_path / "run").exists()
    assert "render.views_per_pass (3) must divide the 2 views" in done.stderr and "Traceback" not in done.stderr
    assert Ranks(rank=1, world_size=2).passes(8, 2) == [slice(4, 6), slice(6, 8)]
    assert Ranks().passes(4, 0) == [slice(0, 4)]


@pytest.mark.parametrize("how", ["SIGTERM to torchrun", "Ctrl-C to the process group"])
def test_a_stop_stops_every_rank_after_the_same_step_and_resumes(inputs, tmp_path, how) -> None:
    """torchrun passes SIGTERM on to every rank, and a terminal's Ctrl-C reaches every process: each rank notes
    it mid-step, the ranks agree at the step's end, rank 0 writes that step's checkpoint, all exit, and a
    torchrun resume continues from it."""
    box, style = inputs
    out, config = tmp_path / "run", tmp_path / "log_every_step.toml"
    config.write_text("[optim]\nlog_every = 1\n")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(_free_port()), "-m", "restyle", "mesh", str(box), "-s", str(style), "-o", str(out), "--config",
               str(config), "--iters", "400", *TINY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                               start_new_session=True)  # its own process group, as a terminal would give it
    try:
        wait_for_logged_step(out / "metrics.jsonl", process, LIMIT_S)
        if how.startswith("SIGTERM"):
            os.kill(process.pid, signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=LIMIT_S)
    finally:
        process.kill()
    step = _state(out)["step"]
    assert 1 <= step < 400
    prefix = "restyle: terminated (SIGTERM), " if how.startswith("SIGTERM") else "restyle: "
    assert f"{prefix}interrupted at step {step}; checkpoint written" in err, err
    assert f"{prefix}rank 1 stopped with the others after step {step}" in err, err
    assert "distributed run stopped" not in err
    resumed = _torchrun("--resume", out, "--iters", str(step + 1), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert _state(out)["step"] == step + 1
