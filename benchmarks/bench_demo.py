"""Wall time of `make demo` on a fresh clone (set-up of .venv included), split into set-up and the job.
Writes results/demo.json. The issue's target: <= 5 minutes on 2 cores.

Run: .venv/bin/python benchmarks/bench_demo.py   (clones the committed HEAD into a temporary folder)
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from _common import write_result

REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        clone = Path(work) / "restyle"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        setup = timed(["make", ".venv/.installed"], clone)
        job = timed(["make", "demo"], clone)
        outputs = sorted(p.name for p in (clone / "out" / "demo").iterdir())
    write_result("demo", {
        "setup_s": setup, "job_s": job, "total_s": setup + job, "target_total_s": 300, "outputs": outputs,
    })


if __name__ == "__main__":
    main()
