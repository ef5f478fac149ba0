"""Shared helpers for benchmark scripts: machine description, timing, JSON output.

Benchmarks are never part of the test pass/fail. Each script writes ``benchmarks/results/<name>.json``;
figures worth quoting are ratios measured side by side in one run (the machines are shared and noisy).
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from restyle.run.precision import resolve_precision

RESULTS = Path(__file__).resolve().parent / "results"


def machine_info() -> dict:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def time_it(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> dict:
    """Median / min wall seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "repeats": repeats}


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "machine": machine_info(), **result}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return path


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM; ``/proc/self/clear_refs`` with "5" resets it to the current)."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1)) * 1024


def time_alternately(fns: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, dict]:
    """Median / min wall seconds of each ``fn()``, the functions running in turn so that they share the machine's
    noise (what a ratio between them needs on a shared machine)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(found), "min_s": min(found), "repeats": repeats}
            for name, found in samples.items()}


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of two tensors taken as flat vectors."""
    return float(torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


def precision_comparison(steps: dict[str, dict], gradients: dict[str, torch.Tensor]) -> dict:
    """fp32 vs bf16 side by side: each one's step times, the speed-up, and the bf16 gradient's cosine to fp32's."""
    return {
        "auto_here": resolve_precision("auto", torch.device("cpu")).describe(),
        "bf16_here": resolve_precision("bf16", torch.device("cpu")).describe(),
        "step": steps,
        "speedup_bf16_over_fp32": steps["fp32"]["median_s"] / steps["bf16"]["median_s"],
        "gradient_cosine_bf16_to_fp32": cosine(gradients["bf16"], gradients["fp32"]),
    }
