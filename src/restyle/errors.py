"""User-facing errors. The CLI prints their message as one line and exits non-zero, without a traceback."""

from __future__ import annotations


class RestyleError(Exception):
    """Base class of every error whose message is meant for the user."""

    exit_code = 2


class InputError(RestyleError):
    """A file the user gave cannot be used (missing, empty, truncated, wrong type, bad values)."""


class ConfigError(RestyleError):
    """An option, preset, config file or registry name is invalid."""


class WeightsMissingError(RestyleError):
    """A pretrained weight file is not available locally and cannot be downloaded."""
