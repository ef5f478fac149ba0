"""One mesh run over several processes (``torchrun --nproc_per_node=N -m restyle mesh ...``).

Every rank draws the same global batch of B views from the same seeded generators (so the random streams stay
those of a single process), then renders and scores only its contiguous block of B/N views, in passes of
``render.views_per_pass`` views. Each pass's losses are means over its views, weighted by its share of the global
batch (pass size / B) before ``backward``, so the sum of all passes' gradients over all ranks, one all-reduce, is
the gradient of the global batch. A single process with passes of B/N views does the same arithmetic pass by
pass, so it agrees to the bit with 2 ranks of one pass each (a sum of two numbers does not depend on the order);
with one pass of B views it is the same step up to float rounding. The palette loss acts on the whole textures: every
rank adds it after the exchange, with the same (merged) coverage. Logged losses are the ranks' sums, the global
values. Only rank 0 locks the folder and writes files; every rank loads a checkpoint on resume. A depth/angle-
weighted style loss normalises by its weights per pass, and text augmentations draw from each rank's torch
generator: those equal a single process with the same passes closely, not exactly.

Collectives time out after ``RESTYLE_DIST_TIMEOUT`` seconds (default 300), and a rank that fails, dies or times
out makes the others stop with a one-line :class:`DistributedError` rather than hang. A run that ends normally
ends together: every rank meets at a final barrier (rank 0 with its last checkpoint written) and leaves the
process group before any exits; rank 0 exports after that, with nothing distributed left that could time out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import Tensor

from restyle.errors import ConfigError, RestyleError, first_line
from restyle.run.files import locked_output, refuse_existing_run

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C; how clusters (and torchrun, passing it on) stop work
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
    owns_group: bool = False  # this run joined the process group, so it leaves it (not a caller's group)

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

    def passes(self, batch: int, per_pass: int) -> list[slice]:
        """This rank's share of a global batch of ``batch`` views, cut into passes of ``per_pass`` views (0: one
        pass). Every pass of every rank has the same size, so a step's losses are the mean of the passes'."""
        block = self.block(batch)
        share = block.stop - block.start
        per_pass = per_pass or share
        if share % per_pass:
            raise ConfigError(f"render.views_per_pass ({per_pass}) must divide the {share} views each process "
                              "renders per step (render.views_per_step / processes)")
        return [slice(start, start + per_pass) for start in range(block.start, block.stop, per_pass)]

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

    def summed_losses(self, losses: dict[str, float]) -> dict[str, float]:
        """Each loss value summed over the ranks: the global value, where each rank holds its passes' share."""
        if not self.distributed:
            return losses
        names = list(losses)
        values = torch.tensor([losses[name] for name in names], dtype=torch.float64, device=self._comm_device())
        _collective("the loss exchange", dist.all_reduce, values)
        return dict(zip(names, values.tolist(), strict=True))

    def sum_gradients(self, params: Sequence[Tensor], step: int) -> None:
        """Replace each parameter's gradient by its sum over the ranks, in one flattened all-reduce."""
        if not self.distributed:
            return
        _test_exit_hook(self.rank, step)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        _collective("the gradient exchange", dist.all_reduce, flat)
        offset = 0
        for param in params:
            count = param.numel()
            param.grad = flat[offset : offset + count].view_as(param).clone()
            offset += count

    def finish(self) -> None:
        """The run's last collective: wait until every rank is here (rank 0 has written its last checkpoint), then
        leave the process group, so that no rank exits while another still exchanges and gloo's threads are
        joined before the interpreter shuts down. A caller's own group is only waited on, not left."""
        if not self.distributed:
            return
        _collective("the final barrier", dist.barrier)
        if self.owns_group:
            dist.destroy_process_group()

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device(
            "cpu")

    @contextlib.contextmanager
    def stops_between_steps(self) -> Iterator[Callable[[], None]]:
        """Around the step loop: yields ``check``, to call after each step. In a distributed run, Ctrl-C and
        SIGTERM (which torchrun passes to every rank, each at its own point of the step) are only noted; ``check``
        shares them across the ranks (one tiny all-reduce), and if any rank got one, every rank raises it at the
        end of the same step: rank 0 can write a checkpoint of that step, and no rank waits in an exchange for one
        that has left. SIGTERM wins over Ctrl-C. One process: nothing changes, ``check`` does nothing."""
        if not self.distributed or threading.current_thread() is not threading.main_thread():
            yield lambda: None
            return
        noted = [0]

        def note(signum: int, frame: object) -> None:
            noted[0] = max(noted[0], signum)

        previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
        for number in STOP_SIGNALS:
            signal.signal(number, note)

        def check() -> None:
            agreed = torch.tensor([noted[0]], dtype=torch.int64, device=self._comm_device())
            _collective("the stop exchange", dist.all_reduce, agreed, op=dist.ReduceOp.MAX)
            if agreed.item():  # the stop goes the way this process's own handler would have sent it
                _raise_stop(int(agreed.item()), previous[int(agreed.item())])

        try:
            yield check
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def stopped_with_the_others(self, step: int) -> NoReturn:
        """On a rank other than 0, after ``check`` (see :meth:`stops_between_steps`) raised the shared stop at the
        end of ``step``: a KeyboardInterrupt that says so (rank 0 writes the checkpoint; this rank writes nothing).
        Called while that stop is handled: the message replaces it."""
        raise KeyboardInterrupt(f"rank {self.rank} stopped with the others after step {step}; rank 0 writes the "
                                "checkpoint") from None

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


def _raise_stop(signum: int, handler: object) -> None:
    """Raise the stop as the process's own handler of ``signum`` would (the CLI's SIGTERM handler notes the
    signal for the exit status); a KeyboardInterrupt where it has none that raises."""
    if callable(handler):
        handler(signum, None)
    raise KeyboardInterrupt


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
    _bind_world_defaults_before_init()
    try:
        dist.init_process_group(backend, timeout=timeout(), rank=ranks.rank, world_size=ranks.world_size)
    except RuntimeError as error:
        raise DistributedError(f"could not join the distributed run as rank {ranks.rank}: "
                               f"{first_line(error, 100)}") from None
    try:
        yield dataclasses.replace(ranks, owns_group=True)
    finally:
        if dist.is_initialized():  # not left yet: the run stopped early (error, stop, dead rank)
            dist.destroy_process_group()


def _bind_world_defaults_before_init() -> None:
    """Import ``torch.distributed.nn`` while there is no process group yet.

    Its functions take ``group=group.WORLD`` as a default, evaluated on import, and torch.optim imports it (through
    torch._dynamo) when the first optimiser is built. Imported after ``init_process_group``, ten function defaults
    would hold the group for the life of the process: ``destroy_process_group`` could not free it, gloo's worker
    threads would run on into interpreter shutdown, and one that releases a tensor then (which takes the GIL)
    aborts the process: "terminate called without an active exception", SIGABRT, and torchrun stops the others.
    """
    import torch.distributed.nn  # noqa: F401

