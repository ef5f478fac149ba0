"""User-facing errors. The CLI prints their message as one line and exits non-zero, without a traceback."""

from __future__ import annotations


def first_line(error: BaseException, limit: int = 140) -> str:
    """The first line of another library's error message, bounded, to quote inside a one-line report."""
    lines = str(error).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


class RestyleError(Exception):
    """Base class of every error whose message is meant for the user."""

    exit_code = 2


class InputError(RestyleError):
    """A file the user gave cannot be used (missing, empty, truncated, wrong type, bad values)."""


class ConfigError(RestyleError):
    """An option, preset, config file or registry name is invalid."""


class DivergedError(RestyleError):
    """A loss term became NaN or infinite: the run stopped before the optimiser could take the step, and no
    checkpoint holding the diverged values was written (the last good one is kept). Exit status 3, so scripts
    can tell it from a bad option or input (2)."""

    exit_code = 3


class WeightsMissingError(RestyleError):
    """A pretrained weight file is not available locally and cannot be downloaded."""


class RestyleWarning(UserWarning):
    """Something the user asked for that restyle does, though it probably is not what they meant (the command line
    shows it as one line, ``restyle image: warning: ...``)."""
