"""`restyle mesh` on one process vs N ranks under torchrun (gloo on the CPU, NCCL where CUDA is present): the
step time of each and how far the N-rank result is from the single-process one with the same global batch, both
taken whole (one pass) and in passes of B/N views with each rank's thread count (the same arithmetic as the
ranks: the run the tests hold to 1e-6). Writes results/ddp.json.

Step time = the median time between consecutive steps in metrics.jsonl (every step logged), so start-up, the
first step and export are left out. On a 2-core machine 2 CPU ranks share the cores: the figure there
checks that the exchange costs little, not a speed-up.
Run: .venv/bin/python benchmarks/bench_ddp.py [--ranks 2] [--iters 8] [--views-per-step 4] [--render-size 128]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from restyle.io.images import save_image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(ranks: int, out: Path, mesh: Path, style: Path, args: argparse.Namespace, *, per_pass: int = 0,
        threads_of: int | None = None) -> dict:
    """One run; each process gets the cores divided by ``threads_of`` processes (default: by ``ranks``)."""
    config = out.parent / f"log_every_{out.name}.toml"
    config.write_text("[optim]\nlog_every = 1\n")
    options = ["mesh", str(mesh), "-s", str(style), "-o", str(out), "--config", str(config), "-b", args.backbone,
               "--iters", str(args.iters), "--views-per-step", str(args.views_per_step), "--views-per-pass",
               str(per_pass), "--render-size", str(args.render_size), "--texture-size", str(args.texture_size),
               "--turntable", "none", "-q"]
    launcher = ["-m", "torch.distributed.run", "--nproc_per_node", str(ranks), "--master_port", str(_free_port())]
    command = [sys.executable, *(launcher if ranks > 1 else []), "-m", "restyle", *options]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // (threads_of or ranks)))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"{ranks} rank(s) failed:\n{done.stderr[-3000:]}")
    entries = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    entries = [entry for entry in entries if "total" in entry]  # the steps' entries, not the held-out check's
    times = [entry["elapsed_s"] for entry in entries]
    step_s = statistics.median(b - a for a, b in zip(times, times[1:], strict=False)) if len(times) > 1 else 0.0
    state = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)["state"]
    return {"step_s": round(step_s, 4), "losses": entries[-1], "params": state["params"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--iters", type=int, default=8)
    parser.add_argument("--views-per-step", type=int, default=4)
    parser.add_argument("--render-size", type=int, default=128)
    parser.add_argument("--texture-size", type=int, default=256)
    parser.add_argument("--backbone", default="patch")
    parser.add_argument("--mesh", type=Path, default=REPO / "assets/meshes/box_textured/BoxTextured.glb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        style = work / "style.png"
        save_image(torch.rand(3, args.render_size, args.render_size, generator=torch.Generator().manual_seed(0)),
                   style)
        single = run(1, work / "single", args.mesh, style, args)
        passes = run(1, work / "passes", args.mesh, style, args, per_pass=args.views_per_step // args.ranks,
                     threads_of=args.ranks)
        shared = run(args.ranks, work / "shared", args.mesh, style, args)
    write_result("ddp", {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "step_s_1_rank": single["step_s"],
        "step_s_1_rank_in_passes": passes["step_s"],
        f"step_s_{args.ranks}_ranks": shared["step_s"],
        "speedup": round(single["step_s"] / shared["step_s"], 3) if shared["step_s"] else None,
        "against_1_rank": _differences(single, shared),
        "against_1_rank_in_passes": _differences(passes, shared),
    })


def _differences(reference: dict, other: dict) -> dict:
    return {
        "max_abs_param_difference": max((other["params"][k] - v).abs().max().item()
                                        for k, v in reference["params"].items()),
        "max_rel_loss_difference_last_step": max(abs(other["losses"][k] - v) / max(abs(v), 1e-12)
                                                 for k, v in reference["losses"].items()
                                                 if k not in ("step", "lr", "elapsed_s")),
    }


if __name__ == "__main__":
    main()
