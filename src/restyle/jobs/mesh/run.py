"""``restyle mesh``: CLIP-based neural neighbour style transfer for 3D assets (Mishra & Granskog), end to end.

Each step draws a batch of fresh random views (or, with ``render.view_pool``, views from a pool rasterised once),
renders them once, composites the renders over the style image (a random crop when it is larger than the render)
for the style loss and over black for the content loss (the CLIP paper's two renders, from one shading pass; or
both losses from one backbone pass over the style composite), and adds a colour-palette loss on the covered texels
(those the views have read so far). ``--text`` adds CLIPstyler's text losses on the renders (``text``), with the
style images or instead of them.

This module sets the order: the run folder, the job's state (``state``), the resume, the one optimisation loop
(``restyle.run.loop.optimise``) with its held-out check (``heldout``), checkpoints and previews, and the export
(``outputs``), whose time is measured before the first step so that the ETA includes it. The step itself is in
``step``. Under torchrun, rank 0 does all of this; the other ranks only take the steps (``restyle.run.ranks``).

Shapes: textures ``[3,Ht,Wt]``; renders ``[P,3,H,W]`` per pass of P = ``render.views_per_pass`` views (by
default all B = ``render.views_per_step``; see ``step``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from restyle.jobs.mesh import checkpoint as mesh_checkpoint
from restyle.jobs.mesh import step as mesh_step
from restyle.jobs.mesh.checkpoint import CHECKPOINT, load_resume_config
from restyle.jobs.mesh.config import MESH_PRESETS, MeshConfig, TextureConfig
from restyle.jobs.mesh.heldout import heldout_check
from restyle.jobs.mesh.outputs import (
    MeshResult,
    export_seconds,
    final_textures,
    input_files,
    output_files,
    result,
    write_outputs,
    write_progress_preview,
)
from restyle.jobs.mesh.state import MeshState, check_inputs, resolve_defaults
from restyle.run.eta import LoopTimes
from restyle.run.files import CONFIG_NAME, METRICS_NAME, refuse_overlap, remove_previous_run
from restyle.run.heldout import HeldOutCheck
from restyle.run.loop import Every, PhaseCallback, StepCallback, StepInfo, optimise, report, write_config
from restyle.run.ranks import Ranks, session
from restyle.run.timings import record_step_seconds, timing_key

__all__ = [
    "CHECKPOINT", "MESH_PRESETS", "Interrupted", "MeshConfig", "MeshJob", "MeshResult", "TextureConfig",
    "load_resume_config", "resolve_defaults", "run",
]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run: a checkpoint was written and the run can be resumed."""

    def __init__(self, output: Path, step: int) -> None:
        super().__init__(f"interrupted at step {step}; checkpoint written; continue with --resume {output}")
        self.output, self.step = output, step


class MeshJob(MeshState):
    """One stylisation run: its state (:class:`MeshState`) and what is done to it, a ``step()``, a checkpoint and
    the export."""

    def __init__(self, config: MeshConfig, on_phase: PhaseCallback | None = None, ranks: Ranks | None = None) -> None:
        super().__init__(config, on_phase, ranks)
        self._provenance: dict[str, Any] | None = None  # what ties a checkpoint to this run (see checkpoint)

    def step(self) -> StepInfo:
        """One optimisation step (see ``step.take_step``); the loop logs it."""
        return mesh_step.take_step(self)

    def provenance(self) -> dict[str, Any]:
        """The run's inputs' hashes and resume keys, hashed once: the inputs do not change during a run."""
        if self._provenance is None:
            self._provenance = mesh_checkpoint.provenance(self)
        return self._provenance

    def save_checkpoint(self) -> Path:
        """``checkpoint.pt`` of this step; refused (DivergedError) when the textures are not finite, so that the
        last good checkpoint is kept."""
        mesh_checkpoint.refuse_non_finite(self)
        return mesh_checkpoint.save(self, self.provenance())

    def write_outputs(self) -> MeshResult:
        """The export and every side output (see ``outputs.write_outputs``)."""
        return write_outputs(self)


# --------------------------------------------------------------------------------------------- running


def run(
    config: MeshConfig,
    on_step: StepCallback | None = None,
    *,
    resume: bool = False,
    config_file: Path | None = None,
    on_phase: PhaseCallback | None = None,
) -> MeshResult:
    """Stylise ``config.mesh``; writes the asset and every side output into ``config.output``.

    With ``resume``, the checkpoint in the output folder is loaded first and the run continues where it
    stopped; the result equals an uninterrupted run with the same seed on the CPU. Ctrl-C writes a checkpoint
    and raises :class:`Interrupted`. A folder holding another run is refused unless ``resume`` or
    ``config.overwrite``; a folder in use by a live run is refused; no input file is ever written over.
    ``on_phase`` is told each stage of the preparation and the export (see :data:`PhaseCallback`).
    """
    output = check_inputs(config)[2]
    with session() as ranks, ranks.output_folder(output, resume=resume, overwrite=config.overwrite):
        on_phase, on_step = (on_phase, on_step) if ranks.is_main else (None, None)
        # a permission of this invocation, not a setting of the run: the config.toml written must not carry it
        # into a later run that reuses it with --config or --resume
        job = MeshJob(dataclasses.replace(config, overwrite=False, device=ranks.device(config.device)), on_phase,
                      ranks)
        files, owned = output_files(job.config, job.output, len(job.mesh.slots))
        inputs = input_files(job, config_file, resume)
        refuse_overlap(files, inputs, owned)
        if config.overwrite and not resume and ranks.is_main:  # every check passed: the old run may go
            remove_previous_run(output, keep=[path for _, path in inputs])
        origin = job.provenance()
        if resume:
            mesh_checkpoint.resume(job, origin)
        report(on_phase, f"optimising ({job.config.optim.iters - job.step_count} steps)")
        return _optimise(job, on_step, on_phase) if ranks.is_main else _follow(job)


def _steps(job: MeshJob, on_interrupt: Callable[[], NoReturn], every: tuple[Every, ...] = (),
           on_step: StepCallback | None = None, *, heldout: HeldOutCheck | None = None,
           on_phase: PhaseCallback | None = None, tail_s: float = 0.0) -> LoopTimes:
    """The job's remaining steps in the one loop. Under torchrun, signals that arrive while a step or a checkpoint
    is under way are only noted, and every rank stops after the same step (see ``Ranks.stops_between_steps``)."""
    optim = job.config.optim
    with job.ranks.stops_between_steps() as check_stop:
        return optimise(job.step, start=job.step_count, total=optim.iters, metrics=job.metrics,
                        log_every=optim.log_every, every=every, on_step=on_step, check_stop=check_stop,
                        on_interrupt=on_interrupt, heldout=heldout, on_phase=on_phase, tail_s=tail_s)


def _optimise(job: MeshJob, on_step: StepCallback | None, on_phase: PhaseCallback | None) -> MeshResult:
    """Rank 0 (or the one process): the held-out check and the export's time prepared, the loop with its checks,
    checkpoints and previews, this machine's seconds per step kept, the last checkpoint, the export."""
    write_config(job.config, job.output / CONFIG_NAME)
    job.metrics.open(job.output / METRICS_NAME)  # appended as the run goes
    outputs = job.config.outputs

    def checkpoint(_: int) -> None:
        job.save_checkpoint()

    def preview(_: int) -> None:
        write_progress_preview(job)

    def interrupted() -> NoReturn:  # Ctrl-C (or a stop shared by the ranks): keep the steps done
        job.save_checkpoint()
        raise Interrupted(job.output, job.step_count) from None

    heldout, tail_s = heldout_check(job), export_seconds(job)
    times = _steps(job, interrupted, (Every(outputs.checkpoint_every, checkpoint),
                                      Every(outputs.preview_every, preview)),
                   on_step, heldout=heldout, on_phase=on_phase, tail_s=tail_s)
    config = job.config
    record_step_seconds(timing_key(config.device, config.style, config.render, config.optim), times.step_s(),
                        len(times.steps))
    job.save_checkpoint()
    job.ranks.finish()  # under torchrun: all ranks leave together; the export needs no other rank
    report(on_phase, f"exporting to {job.output}")
    return job.write_outputs()


def _follow(job: MeshJob) -> MeshResult:
    """A rank other than 0: take every step (its share and the exchanges) and write nothing. The result names the
    files rank 0 writes; they may still be being written when this returns (rank 0 exports after the final barrier,
    so that a long export cannot run into the collectives' timeout)."""
    _steps(job, lambda: job.ranks.stopped_with_the_others(job.step_count))
    job.ranks.finish()
    return result(job, final_textures(job))
