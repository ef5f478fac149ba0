"""Batch runs over asset libraries: a manifest of jobs, run locally (a process pool) or on Ray, resumably.

A front end beside ``cli.py`` on :mod:`restyle.api`; see :func:`restyle.batch.run.run_batch`.
"""

from restyle.batch.manifest import BatchJob, Manifest, Resources, load_manifest
from restyle.batch.report import BatchSummary, JobReport
from restyle.batch.run import EventCallback, run_batch

__all__ = ["BatchJob", "BatchSummary", "EventCallback", "JobReport", "Manifest", "Resources", "load_manifest",
           "run_batch"]
