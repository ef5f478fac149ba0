"""Config machinery: dataclasses as the single source of options, TOML in and out, strict overrides.

Every component declares a dataclass whose fields are created with :func:`option`, which carries the help
text shown by ``--help`` and written into the docs. Values are resolved in one order, tested:
``defaults < preset < config file < command-line flags``. The fully resolved config is written next to every
output as TOML and can be fed back with ``--config``.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import tomli_w

from restyle.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, *, help: str, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with its user-facing help text."""
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def help_of(cls: type, name: str) -> str:
    """The help text of field ``name`` of config dataclass ``cls`` (used by the CLI)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def to_dict(config: Any) -> dict[str, Any]:
    """A TOML-ready nested dict: Paths as strings, tuples as lists, ``None`` values left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = _plain(getattr(config, f.name))
        if value is not None:
            out[f.name] = value
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return to_dict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dump_toml(config: Any) -> str:
    return tomli_w.dumps(to_dict(config))


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML config ({exc})") from None


def apply_overrides(config: T, overrides: dict[str, Any], *, source: str) -> T:
    """A copy of ``config`` with ``overrides`` (a nested dict, as in TOML) applied, every value type-checked.

    ``source`` names where the overrides came from (a file, a preset, the command line) for error messages.
    """
    hints = typing.get_type_hints(type(config))
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields:
            valid = ", ".join(sorted(fields))
            raise ConfigError(f"{source}: unknown option {key!r} in [{type(config).__name__}]; valid: {valid}")
        current = getattr(config, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {key!r} must be a table of options")
            changes[key] = apply_overrides(current, value, source=source)
        else:
            changes[key] = _coerce(value, hints[key], f"{source}: option {key!r}")
    return dataclasses.replace(config, **changes)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert a TOML/CLI value to the annotated type, or raise ConfigError saying what was expected."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where) if len(inner) == 1 else value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, args))}; got {value!r}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list; got {value!r}")
        item_types = args if origin is tuple and args and args[-1] is not Ellipsis else (args[0] if args else Any,)
        if origin is tuple and len(item_types) > 1 and len(item_types) != len(value):
            raise ConfigError(f"{where} must have {len(item_types)} values; got {len(value)}")
        items = [_coerce(v, item_types[min(i, len(item_types) - 1)], where) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if annotation is Any:
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false; got {value!r}")
        return value
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if annotation is str and isinstance(value, str):
        return value
    if annotation is Path and isinstance(value, (str, Path)):
        return Path(value)
    raise ConfigError(f"{where} must be {getattr(annotation, '__name__', annotation)}; got {value!r}")


def resolve(
    defaults: T,
    *,
    presets: dict[str, dict[str, Any]],
    preset: str | None,
    config_file: Path | None,
    flags: dict[str, Any],
) -> T:
    """Apply ``preset``, then ``config_file``, then command-line ``flags`` (a nested dict) to ``defaults``."""
    config = defaults
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(sorted(presets))}")
        config = apply_overrides(config, presets[preset], source=f"preset {preset!r}")
    if config_file is not None:
        config = apply_overrides(config, load_toml(config_file), source=str(config_file))
    return apply_overrides(config, flags, source="command line")


def nested(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"optim.iters": 5, "size": 3}`` -> ``{"optim": {"iters": 5}, "size": 3}``, dropping ``None`` values."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
