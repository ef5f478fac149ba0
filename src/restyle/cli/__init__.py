"""The ``restyle`` command line: a thin layer over ``restyle.api`` (the app is in :mod:`restyle.cli.app`)."""

from restyle.cli.app import app, main

__all__ = ["app", "main"]
