"""NNFM loss: chunked search vs the unchunked full-matrix reference, side by side in one run.

Workload: 16k x 256 target vectors (one view) against 16k x 256 style vectors, float32, forward + backward.

Figures:
* time: median wall seconds of forward + backward, the two variants interleaved round by round so
  that the shared machine's noise hits both alike;
* peak extra memory: each variant runs once in a fresh subprocess; after the inputs exist and torch
  is warmed up on a tiny problem, the child resets its resident-set high-water mark (writing ``5``
  to ``/proc/self/clear_refs``) and reports ``VmHWM`` growth across one forward + backward. That
  counts every page torch touched (tracemalloc cannot see torch's allocations; ``ru_maxrss`` cannot
  be reset and is inherited from the parent across fork/exec). On a GPU the same child reports
  ``torch.cuda.max_memory_allocated`` growth instead;
* agreement: max abs difference of the loss and of the gradient w.r.t. the target features.

Run: ``.venv/bin/python benchmarks/bench_nnfm.py [--chunk-sizes 1024,2048,4096]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_bytes, time_it, write_result  # noqa: E402
from restyle.losses.nnfm import DEFAULT_CHUNK_SIZE, nnfm_loss, nnfm_loss_reference  # noqa: E402

N_TARGET = 16384
N_STYLE = 16384
CHANNELS = 256
MIB = 1024 * 1024


def make_inputs(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(1, N_TARGET, CHANNELS, generator=generator).to(device)
    style = torch.randn(N_STYLE, CHANNELS, generator=generator).to(device)
    return features.requires_grad_(True), style


def forward_backward(variant: str, features: torch.Tensor, style: torch.Tensor) -> tuple[float, torch.Tensor]:
    features.grad = None
    if variant == "reference":
        loss = nnfm_loss_reference(features, style)
    else:
        loss = nnfm_loss(features, style, chunk_size=int(variant.split("=")[1]))
    loss.backward()
    return loss.item(), features.grad.detach().clone()


def peak_memory_child(variant: str, device: str) -> None:
    """Runs in a fresh process: prints the peak-memory growth of one forward + backward, in bytes."""
    features, style = make_inputs(device)
    tiny_features = features[:, :64].detach().requires_grad_(True)
    forward_backward(variant, tiny_features, style[:64])  # warm up kernels and allocator outside the figure
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.max_memory_allocated()
        forward_backward(variant, features, style)
        torch.cuda.synchronize()
        print(torch.cuda.max_memory_allocated() - before)
        return
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS high-water mark to the current RSS
    before = peak_rss_bytes()
    forward_backward(variant, features, style)
    print(peak_rss_bytes() - before)


def peak_memory(variant: str, device: str) -> int:
    command = [sys.executable, __file__, "--child", variant, "--device", device]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return int(output.strip().splitlines()[-1])


def interleaved_times(variants: list[str], features: torch.Tensor, style: torch.Tensor, rounds: int) -> dict:
    samples: dict[str, list[float]] = {variant: [] for variant in variants}
    for variant in variants:  # warm-up round
        forward_backward(variant, features, style)
    for _ in range(rounds):
        for variant in variants:
            timing = time_it(lambda v=variant: forward_backward(v, features, style), repeats=1, warmup=0)
            samples[variant].append(timing["median_s"])
    return {variant: sorted(values)[len(values) // 2] for variant, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk-sizes", default=str(DEFAULT_CHUNK_SIZE))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        peak_memory_child(args.child, args.device)
        return

    chunked = [f"chunk={size}" for size in args.chunk_sizes.split(",")]
    variants = ["reference", *chunked]
    features, style = make_inputs(args.device)
    reference_loss, reference_grad = forward_backward("reference", features, style)
    median_s = interleaved_times(variants, features, style, args.rounds)
    results = {}
    for variant in variants:
        loss, grad = forward_backward(variant, features, style)
        results[variant] = {
            "median_s": median_s[variant],
            "time_ratio_vs_reference": median_s[variant] / median_s["reference"],
            "peak_extra_mib": peak_memory(variant, args.device) / MIB,
            "max_abs_loss_diff": abs(loss - reference_loss),
            "max_abs_grad_diff": (grad - reference_grad).abs().max().item(),
        }
    write_result(
        "nnfm",
        {
            "workload": {"target": [N_TARGET, CHANNELS], "style": [N_STYLE, CHANNELS], "dtype": "float32"},
            "device": args.device,
            "default_chunk_size": DEFAULT_CHUNK_SIZE,
            "memory_method": "peak RSS growth (getrusage) per variant in a fresh subprocess"
            if args.device == "cpu"
            else "torch.cuda.max_memory_allocated growth per variant in a fresh subprocess",
            "variants": results,
            "targets": {"peak_extra_mib_max": 512, "time_ratio_max": 1.2, "same_result": True},
        },
    )
    print(json.dumps({v: round(r["time_ratio_vs_reference"], 3) for v, r in results.items()}))


if __name__ == "__main__":
    main()
