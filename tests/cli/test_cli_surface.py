"""The command line's surface is pinned: every command's parameters with their flags, short aliases, types,
multiplicity and defaults (help texts excepted) are those in ``tests/data/cli_surface.json``. A change to the CLI
shows here; when it is meant, write the file again with ``python tests/cli/test_cli_surface.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import typer

from restyle.cli import app

PINNED = Path(__file__).resolve().parents[1] / "data" / "cli_surface.json"


def _param(param: click.Parameter) -> dict[str, Any]:
    return {
        "kind": param.param_type_name,
        "opts": list(param.opts),
        "secondary_opts": list(param.secondary_opts),
        "type": str(param.type_descriptor.annotation),
        "nargs": param.nargs,
        "multiple": param.multiple,
        "default": repr(param.default),
        "required": param.required,
        "envvar": param.envvar,
        "metavar": param.metavar,
        "is_flag": getattr(param, "is_flag", None),
    }


def surface() -> dict[str, dict[str, dict[str, Any]]]:
    """``{"mesh": {"style_weight": {"opts": ["--style-weight"], ...}}, "weights list": {...}}``."""
    found: dict[str, dict[str, dict[str, Any]]] = {}

    def walk(command: click.Command, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])
        if not getattr(command, "commands", None):
            found[" ".join(path)] = {param.name: _param(param) for param in command.params}

    walk(typer.main.get_command(app), [])
    return found


def test_the_command_line_surface_is_the_pinned_one() -> None:
    pinned, live = json.loads(PINNED.read_text(encoding="utf-8")), surface()
    assert sorted(live) == sorted(pinned), "commands differ"
    for command, params in pinned.items():
        assert sorted(live[command]) == sorted(params), f"restyle {command}: parameters differ"
        for name, expected in params.items():
            assert live[command][name] == expected, f"restyle {command}: {name} differs"


if __name__ == "__main__":
    print(json.dumps(surface(), indent=1, sort_keys=True))
