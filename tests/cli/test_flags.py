"""Every option is one config field: the commands' options for config fields are generated from the fields (none
declared by hand), every field of a section a command exposes says whether it has a flag, and each generated
option reaches its field's TOML key with the value given."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import typer
from typer.models import ArgumentInfo, OptionInfo
from typer.testing import CliRunner

from restyle import api
from restyle.cli import app
from restyle.cli.flags import FieldOption, cli_type, split_list
from restyle.configs import ExposedField, exposed_fields, flagged_fields
from restyle.errors import ConfigError

# The parameters the commands declare themselves: their inputs, the style images, where options come from, how
# they report. Everything else that sets a config field is generated from the field.
OWN_PARAMETERS = {"content", "mesh", "model", "inputs", "style", "style_near", "style_far", "output", "preset",
                  "config", "resume", "quiet", "print_config"}
CONFIGS = [api.ImageConfig, api.MeshConfig, api.RenderAssetConfig, api.ApplyConfig]


def _commands(typer_app: typer.Typer, prefix: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    for info in typer_app.registered_commands:
        yield f"{prefix}{info.name}", info.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, f"{prefix}{group.name} ")


COMMANDS = dict(_commands(app))
CONFIG_COMMANDS = {name: command for name, command in COMMANDS.items() if hasattr(command, "config_class")}


def test_the_config_commands_are_the_four_jobs() -> None:
    assert {name: command.config_class for name, command in CONFIG_COMMANDS.items()} == {
        "image": api.ImageConfig, "mesh": api.MeshConfig, "render": api.RenderAssetConfig, "apply": api.ApplyConfig}


@pytest.mark.parametrize("name", sorted(CONFIG_COMMANDS))
def test_no_config_option_is_declared_by_hand(name: str) -> None:
    command = CONFIG_COMMANDS[name]
    params = inspect.signature(command).parameters.values()
    own = {p.name for p in params if not isinstance(p.default, FieldOption)}
    assert own <= OWN_PARAMETERS, f"restyle {name} declares {sorted(own - OWN_PARAMETERS)} by hand"
    generated = {p.default.key for p in params if isinstance(p.default, FieldOption)}
    assert generated == {field.key for field in flagged_fields(command.config_class)}


@pytest.mark.parametrize("name", sorted(CONFIG_COMMANDS))
def test_own_parameters_that_set_a_field_take_its_help(name: str) -> None:
    command = CONFIG_COMMANDS[name]
    fields = {field.key: field for field in exposed_fields(command.config_class)}
    for param in inspect.signature(command).parameters.values():
        field = fields.get(param.name)
        own = isinstance(param.default, (ArgumentInfo, OptionInfo)) and not isinstance(param.default, FieldOption)
        if field is not None and own:
            assert field.flag is None, f"{param.name} is both a command's own parameter and a generated flag"
            assert param.default.help == field.help, f"restyle {name} {param.name}: help not the field's"


def test_other_commands_take_config_options_from_their_fields() -> None:
    """``restyle weights list/path --weights-dir`` is the field's option, not a copy of it."""
    for name in ("weights list", "weights path"):
        default = inspect.signature(COMMANDS[name]).parameters["weights_dir"].default
        assert isinstance(default, FieldOption) and default.key == "weights_dir"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_of_an_exposed_section_says_whether_it_has_a_flag(config: type) -> None:
    """A new field of a section a command exposes needs ``flag="--name"`` or ``flag=None`` (config file only)."""
    undecided = [field.key for field in exposed_fields(config) if "flag" not in field.field.metadata]
    assert not undecided, f"{config.__name__}: give these fields flag='--...' or flag=None: {undecided}"


def _sections(config: type) -> Iterator[tuple[type, dataclasses.Field]]:
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        if dataclasses.is_dataclass(hints[f.name]):
            yield hints[f.name], f


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_omitted_flags_name_fields_with_flags(config: type) -> None:
    for section, f in _sections(config):
        flagged = {field.key for field in flagged_fields(section)}
        for name in f.metadata.get("omit_flags", ()):
            assert name in flagged, f"{config.__name__}.{f.name} omits {name!r}, which has no flag"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.__name__)
def test_every_flagged_field_has_a_command_line_form(config: type) -> None:
    for field in flagged_fields(config):
        cli_type(field.hint)  # raises for a type the command line cannot give


# ------------------------------------------------------------------------ each flag reaches its field's key


def _without_none(hint: Any) -> Any:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1
    return args[0] if optional else hint


def _argv(field: ExposedField) -> tuple[list[str], Any]:
    """Command-line words giving ``field`` a value, and the value the config should get."""
    flag = field.flag
    assert flag is not None
    inner = cli_type(field.hint)
    if inner is bool:
        return ([f"--no-{flag.name[2:]}"], False) if flag.negatable else ([flag.name], True)
    hint = _without_none(field.hint)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal:
        return [flag.name, str(args[-1])], args[-1]
    if typing.get_origin(inner) is tuple:
        return [flag.name, "2", "3"], (2.0, 3.0)
    if typing.get_origin(hint) is tuple:  # a comma-separated list
        return ([flag.name, "a,b"], ["a", "b"]) if args[0] is str else ([flag.name, "0.5,2"], [0.5, 2.0])
    samples = {int: ("3", 3), float: ("0.5", 0.5), str: ("x", "x"), Path: ("p.png", Path("p.png"))}
    text, value = samples[inner]
    return [flag.name, text], value


def _at(tree: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        tree = tree[part]
    return tree


CASES = [(name, field) for name, command in sorted(CONFIG_COMMANDS.items())
         for field in flagged_fields(command.config_class)]
POSITIONALS = {"image": [], "mesh": [], "render": ["m.glb", "-o", "o.png"], "apply": ["u.pt", "i.png", "-o", "o"]}
API_CALLS = {"image": "stylize_image", "mesh": "stylize_mesh", "render": "render_preview", "apply": "apply_model"}


@pytest.mark.parametrize(("name", "field"), CASES, ids=[f"{n}:{f.flag.name}" for n, f in CASES])
def test_a_generated_option_reaches_its_fields_key(monkeypatch, name: str, field: ExposedField) -> None:
    seen: dict[str, Any] = {}

    def capture(*_: Any, **options: Any) -> None:
        seen.update(options)
        raise typer.Exit(0)

    monkeypatch.setattr(api, API_CALLS[name], capture)
    argv, expected = _argv(field)
    result = CliRunner().invoke(app, [name, *POSITIONALS[name], *argv])
    assert result.exit_code == 0, result.output
    assert _at(seen, field.key) == expected
    flat_keys = {k for k, v in seen.items() if not isinstance(v, dict)} | {
        f"{k}.{sub}" for k, v in seen.items() if isinstance(v, dict) for sub in v}
    assert flat_keys - {"on_step", "on_phase", "preset", "config_file", "resume"} == {field.key}


def test_comma_separated_lists_are_split_and_bad_ones_named() -> None:
    assert split_list(" relu1_1, relu2_1", "--style-layers", str) == ["relu1_1", "relu2_1"]
    assert split_list("0.7,0.3", "--style-blend", float) == [0.7, 0.3]
    with pytest.raises(ConfigError, match="--style-blend takes comma-separated numbers"):
        split_list("0.7,x", "--style-blend", float)
    with pytest.raises(ConfigError, match="no empty entries"):
        split_list("a,,b", "--style-layers", str)
