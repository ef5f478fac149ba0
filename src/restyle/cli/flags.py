"""Command-line options generated from the config fields: one declaration per option, the field's.

A command states which config it exposes; :func:`config_flags` gives it one typer option per field with a flag
(:class:`restyle.configs.Flag`), with the field's help, and hands the body the values given as a nested dict of
TOML keys. Nothing is retyped here: a flag's name, short alias, switch form, metavar and environment variable, its
help and its TOML key all come from the field; its range is checked with every other config source's.

Every generated option defaults to "not given" (None), so that defaults < preset < config file < flags holds.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from typer.models import OptionInfo

from restyle.configs import ExposedField, exposed_fields, flagged_fields, nested
from restyle.errors import ConfigError

CommandBody = Callable[..., None]
SIMPLE_TYPES = (bool, int, float, str, Path)
# The default of a command body's ``flags`` parameter, which marks where the generated options go in --help.
FLAGS: Any = None


class FieldOption(OptionInfo):
    """A typer option generated from a config field; ``key`` is the field's dotted TOML key."""

    def __init__(self, field: ExposedField) -> None:
        flag = field.flag
        assert flag is not None, field.key
        self.key, self.flag_name, self.items = field.key, flag.name, _list_items(field.hint)
        help = f"{field.help} Comma-separated." if self.items else field.help
        super().__init__(default=None, param_decls=flag.decls, help=help, show_default=False, metavar=flag.metavar,
                         envvar=flag.envvar)

    def value(self, given: Any) -> Any:
        """The config value of what the command line gave (comma-separated lists split into their items)."""
        if given is None or self.items is None:
            return given
        return split_list(given, self.flag_name, self.items)


def field_option(config: type, name: str) -> FieldOption:
    """The option of one field of ``config`` (a section), for commands that take it without the whole config."""
    found = [field for field in exposed_fields(config) if field.key == name and field.flag is not None]
    if not found:
        raise KeyError(f"{config.__name__}.{name} has no flag")
    return FieldOption(found[0])


def config_parameters(config: type) -> list[inspect.Parameter]:
    """One keyword parameter per field of ``config`` its command offers as a flag, in field order."""
    params = [_parameter(field) for field in flagged_fields(config)]
    _refuse_clashes(config, params)
    return params


def _parameter(field: ExposedField) -> inspect.Parameter:
    assert field.flag is not None
    return inspect.Parameter(field.flag.param_name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                             default=FieldOption(field), annotation=cli_type(field.hint) | None)


def _refuse_clashes(config: type, params: list[inspect.Parameter]) -> None:
    names = [p.name for p in params]
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        raise TypeError(f"{config.__name__}: two fields declare the flag of parameter {doubled[0]!r}")


def config_flags(config: type) -> Callable[[CommandBody], CommandBody]:
    """Decorate a command body that has a ``flags`` parameter: typer sees the body's other parameters with the
    generated options of ``config`` standing where ``flags`` stands; the body gets ``flags``, a nested dict of
    the options given (``{"optim": {"iters": 5}}``), ready for :mod:`restyle.api`."""
    generated = config_parameters(config)

    def decorate(body: CommandBody) -> CommandBody:
        own = list(inspect.signature(body, eval_str=True).parameters.values())
        at = [p.name for p in own].index("flags")
        params = [*own[:at], *generated, *own[at + 1:]]
        _refuse_shadowing(body, own, generated)

        def command(**values: Any) -> None:
            given = {p.default.key: p.default.value(values.pop(p.name)) for p in generated}
            body(**values, flags=nested(given))

        command.__name__, command.__qualname__, command.__doc__ = body.__name__, body.__qualname__, body.__doc__
        command.__module__ = body.__module__
        command.__signature__ = inspect.Signature(params)  # what typer reads
        command.config_class = config  # read by the tests of the CLI surface
        return command

    return decorate


def _refuse_shadowing(body: CommandBody, own: list[inspect.Parameter], generated: list[inspect.Parameter]) -> None:
    clash = {p.name for p in own} & {p.name for p in generated}
    if clash:
        raise TypeError(f"{body.__name__} declares {sorted(clash)[0]!r}, which a config field's flag generates")


def cli_type(hint: Any) -> Any:
    """What typer parses for a field of type ``hint``: the type itself for plain types and fixed-length tuples,
    ``str`` for choices (the config names the valid ones) and for comma-separated lists."""
    inner = _without_none(hint)
    origin = typing.get_origin(inner)
    if origin is Literal or _list_items(hint) is not None:
        return str
    if origin is tuple or inner in SIMPLE_TYPES:
        return inner
    raise TypeError(f"no command-line form for a field of type {hint}; give it flag=None")


def _without_none(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _list_items(hint: Any) -> type | None:
    """The item type of a variable-length tuple field (given as one comma-separated value), else None."""
    inner = _without_none(hint)
    args = typing.get_args(inner)
    if typing.get_origin(inner) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def split_list(text: str, flag: str, item: type) -> list[Any]:
    """``"0.7,0.3"`` -> ``[0.7, 0.3]``; ``"relu1_1,relu2_1"`` -> ``["relu1_1", "relu2_1"]``."""
    items = [part.strip() for part in text.split(",")]
    if not all(items):
        raise ConfigError(f"{flag} takes a comma-separated list with no empty entries; got {text!r}")
    if item is str:
        return items
    try:
        return [item(part) for part in items]
    except ValueError:
        example = "0.7,0.3" if item is float else "2,3"
        kind = "numbers" if item is float else f"{item.__name__} values"
        raise ConfigError(f"{flag} takes comma-separated {kind}, e.g. {example}; got {text!r}") from None
