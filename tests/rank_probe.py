"""``python rank_probe.py mesh ...``: ``restyle`` as one rank of a hand-started distributed run, for
test_distributed. Rank 0 takes ``SLOW_SAVE_S`` longer to write each checkpoint, so that a rank that did not wait
for it would exit first; at exit, every rank prints the gloo threads still running (none once it has left the
process group)."""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path

SLOW_SAVE_S = 2.0
EXIT_LINE = "gloo threads at exit:"


def gloo_threads() -> list[str]:
    """Names of this process's native threads that belong to gloo (Linux: /proc/self/task/*/comm)."""
    tasks = Path("/proc/self/task")
    names = ((tasks / tid / "comm").read_text().strip() for tid in os.listdir(tasks))
    return sorted(name for name in names if "gloo" in name)


def _slow_down_checkpoints() -> None:
    from restyle.jobs.mesh import checkpoint as mesh_checkpoint

    save = mesh_checkpoint.save

    def slow_save(job: object, origin: dict) -> Path:
        time.sleep(SLOW_SAVE_S)
        return save(job, origin)

    mesh_checkpoint.save = slow_save


def main() -> None:
    from restyle import cli

    if os.environ.get("RANK") == "0":
        _slow_down_checkpoints()
    atexit.register(lambda: print(f"{EXIT_LINE} {gloo_threads()}", file=sys.stderr, flush=True))
    sys.argv = ["restyle", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
