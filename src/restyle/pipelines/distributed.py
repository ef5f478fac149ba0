"""One mesh run over several processes (``torchrun --nproc_per_node=N -m restyle mesh ...``).

Every rank draws the same global batch of B views from the same seeded generators (so the random streams stay
those of a single process), then renders and scores only its contiguous block of B/N views. Each loss term is a
mean over the views (NNFM over all feature vectors, Gram, content and TV over the batch), so with equal blocks the
mean of the ranks' gradients is the single-process gradient: the residual textures' gradients are averaged with
one all-reduce after ``backward``. The palette loss acts on the whole textures: every rank computes it in full
with the same (all-reduced) coverage, so averaging identical gradients keeps it counted once. Logged losses are
the ranks' mean, the global values. Only rank 0 locks the folder and writes files; every rank loads a checkpoint
on resume. Exact to float rounding for unmasked style losses; a depth/angle-weighted style loss normalises by the
weights per rank, and text augmentations draw from each rank's torch generator, so those are close, not equal.

Collectives time out after ``RESTYLE_DIST_TIMEOUT`` seconds (default 300), and a rank that fails, dies or times
out makes the others stop with a one-line :class:`DistributedError` rather than hang.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import Tensor

from restyle.errors import ConfigError, RestyleError, first_line
from restyle.pipelines.mesh_outputs import MeshResult, final_textures
from restyle.pipelines.run_files import locked_output, refuse_existing_run

if TYPE_CHECKING:
    from restyle.pipelines.mesh import MeshJob

TIMEOUT_ENV = "RESTYLE_DIST_TIMEOUT"  # seconds a collective may wait for the other ranks
DEFAULT_TIMEOUT_S = 300.0
# Test hook only: "RANK:STEP" makes that rank exit abruptly (os._exit(1)) before syncing that step's gradients,
# to check that the other ranks stop with a message instead of hanging. Never set it outside tests.
TEST_EXIT_ENV = "RESTYLE_TEST_RANK_EXIT_AT"


class DistributedError(RestyleError):
    """Another rank of a ``torchrun`` run stopped, died or did not answer within the timeout."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run; ``Ranks()`` is a single process, for which every method is a no-op."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this rank writes files and logs (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def block(self, batch: int) -> slice:
        """This rank's contiguous share of a global batch of ``batch`` views; the whole batch for one process."""
        if batch % self.world_size:
            raise ConfigError(f"render.views_per_step ({batch}) must be a multiple of the number of processes "
                              f"({self.world_size}) so that every rank renders the same number of views")
        share = batch // self.world_size
        return slice(self.rank * share, (self.rank + 1) * share)

    def device(self, name: str) -> str:
        """The device name for this rank: ``cuda:LOCAL_RANK`` where CUDA is asked for (or ``auto`` finds it)."""
        wants_cuda = name == "cuda" or (name == "auto" and torch.cuda.is_available())
        return f"cuda:{self.local_rank}" if self.distributed and wants_cuda else name

    # -- collectives (no-ops for one process) ----------------------------------------------------------

    def union_coverage(self, coverage: Sequence[Tensor]) -> list[Tensor]:
        """Per slot, the texels any rank has seen (an OR across ranks), so that all ranks hold the same map."""
        if not self.distributed:
            return list(coverage)
        merged = []
        for covered in coverage:
            flags = covered.to(torch.uint8)
            _collective("the coverage exchange", dist.all_reduce, flags, op=dist.ReduceOp.MAX)
            merged.append(flags.bool())
        return merged

    def global_losses(self, losses: dict[str, float]) -> dict[str, float]:
        """The ranks' mean of each loss value: the value over the global batch (identical ones stay as they are)."""
        if not self.distributed:
            return losses
        names = sorted(losses)
        values = torch.tensor([losses[name] for name in names], dtype=torch.float64, device=self._comm_device())
        _collective("the loss exchange", dist.all_reduce, values)
        return dict(zip(names, (values / self.world_size).tolist(), strict=True))

    def average_gradients(self, params: Sequence[Tensor], step: int) -> None:
        """Replace each parameter's gradient by the ranks' mean, in one flattened all-reduce."""
        if not self.distributed:
            return
        _test_exit_hook(self.rank, step)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        _collective("the gradient exchange", dist.all_reduce, flat)
        flat /= self.world_size
        offset = 0
        for param in params:
            count = param.numel()
            param.grad = flat[offset : offset + count].view_as(param).clone()
            offset += count

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device(
            "cpu")

    # -- files ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def output_folder(self, output: Path, *, resume: bool, overwrite: bool) -> Iterator[None]:
        """Rank 0 locks the folder and checks it may be written; the other ranks only read from it."""
        if not self.is_main:
            yield
            return
        with locked_output(output):
            refuse_existing_run(output, resume=resume, overwrite=overwrite)
            yield


def _collective(what: str, operation, *args, **kwargs) -> None:
    try:
        operation(*args, **kwargs)
    except RuntimeError as error:  # gloo/NCCL report a dead peer or a timeout as RuntimeError (DistBackendError)
        raise DistributedError(f"distributed run stopped: {what} failed on rank {dist.get_rank()}; another rank "
                               f"died, failed or timed out ({first_line(error, 100)})") from None


def _test_exit_hook(rank: int, step: int) -> None:
    spec = os.environ.get(TEST_EXIT_ENV)
    if spec and spec == f"{rank}:{step}":
        os._exit(1)


def ranks_from_env() -> Ranks:
    """This process's ranks from torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; one process without them."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        raise ConfigError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    return datetime.timedelta(seconds=seconds)


@contextlib.contextmanager
def session() -> Iterator[Ranks]:
    """Join the process group torchrun set up (gloo on CPU, NCCL with CUDA) for the run, and leave it after."""
    ranks = ranks_from_env()
    if not ranks.distributed or dist.is_initialized():  # one process, or a caller that manages the group
        yield ranks if not dist.is_initialized() else Ranks(dist.get_rank(), dist.get_world_size(), ranks.local_rank)
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(ranks.local_rank)
    try:
        dist.init_process_group(backend, timeout=timeout(), rank=ranks.rank, world_size=ranks.world_size)
    except RuntimeError as error:
        raise DistributedError(f"could not join the distributed run as rank {ranks.rank}: "
                               f"{first_line(error, 100)}") from None
    try:
        yield ranks
    finally:
        dist.destroy_process_group()


def follow(job: MeshJob) -> MeshResult:
    """A rank other than 0: take every step (its share and the exchanges) and write nothing. The result names the
    files rank 0 writes; they may still be being written when this returns (rank 0's export is not waited for, so
    that a long export cannot run into the collectives' timeout)."""
    while job.step_count < job.config.optim.iters:
        job.step()
    name = job.config.mesh.stem if job.config.mesh else "asset"
    glb, obj = job.output / f"{name}_stylized.glb", job.output / "obj" / f"{name}_stylized.obj"
    return MeshResult(final_textures(job), job.output, glb, obj, job.config, job.step_count)
