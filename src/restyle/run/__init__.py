"""The one optimisation loop and everything a run shares: the run folder and its file names, checkpoints' hashing,
ranks (torchrun), preflight checks, previews, metrics.
"""
