"""Config machinery: dataclasses as the single source of options, TOML in and out, strict overrides.

Every component declares a dataclass whose fields are created with :func:`option`, which carries everything about
an option: its help text (``--help`` and the docs), the range of its values (checked for every source alike), and
its command-line flag, from which :mod:`restyle.cli` generates the option (see :class:`Flag`). Its TOML key is the
field's name. Values are resolved in one order, tested: ``defaults < preset < config file < command-line flags``.
The fully resolved config is written next to every output as TOML and can be fed back with ``--config``.
"""

from __future__ import annotations

import dataclasses
import math
import re
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
UNDECIDED = object()  # a field whose option() says nothing about a flag (see option's ``flag``)
NO_PRESET = "none"  # the preset name that applies no preset (see resolve)


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a number (or each number of a list) may take; checked by :func:`apply_overrides` for every
    config source alike (flags, files, presets, API). Non-finite floats are refused unless ``finite`` is False."""

    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    finite: bool = True

    def check(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        if self.finite and isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number; got {value!r}")
        low_bad = self.min is not None and (value <= self.min if self.min_exclusive else value < self.min)
        high_bad = self.max is not None and (value >= self.max if self.max_exclusive else value > self.max)
        if low_bad or high_bad:
            raise ConfigError(f"{where} must be {self.describe()}; got {value!r}")

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.min_exclusive else '>='} {self.min:g}")
        if self.max is not None:
            parts.append(f"{'<' if self.max_exclusive else '<='} {self.max:g}")
        return " and ".join(parts) or "a finite number"


@dataclasses.dataclass(frozen=True)
class Flag:
    """How a config field is given on the command line; :mod:`restyle.cli` generates the option from it, with the
    field's help, on every command that exposes the field's section.

    A bool field is a switch that turns the option on (``--disparity``), or with ``negatable`` a pair
    (``--unwrap/--no-unwrap``). A variable-length tuple field is given as one comma-separated value
    (``--style-blend 0.7,0.3``); a fixed-length one as that many values (``--depth-range 0.2 0.9``).
    """

    name: str  # the long flag, "--style-weight"
    short: str | None = None  # "-b"
    negatable: bool = False
    metavar: str | None = None  # how --help shows the value, e.g. "W1,W2,..."
    envvar: str | None = None  # an environment variable read when the flag is not given

    def __post_init__(self) -> None:
        if not re.fullmatch(r"--[a-z0-9]+(-[a-z0-9]+)*", self.name):
            raise ValueError(f"a flag is --lower-case-words; got {self.name!r}")
        if self.short is not None and not re.fullmatch(r"-[a-zA-Z]", self.short):
            raise ValueError(f"a short flag is one letter after a dash; got {self.short!r}")

    @property
    def decls(self) -> tuple[str, ...]:
        """The declarations typer takes: ``("--unwrap/--no-unwrap",)``, ``("--backbone", "-b")``."""
        long = f"{self.name}/--no-{self.name[2:]}" if self.negatable else self.name
        return (long,) if self.short is None else (long, self.short)

    @property
    def param_name(self) -> str:
        """The parameter name the CLI gives it, as click would: ``--style-weight`` -> ``style_weight``."""
        return self.name[2:].replace("-", "_")


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    factory: Any = dataclasses.MISSING,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    max_exclusive: bool = False,
    finite: bool = True,
    flag: str | None | object = UNDECIDED,
    short: str | None = None,
    negatable: bool = False,
    metavar: str | None = None,
    envvar: str | None = None,
    flags: bool = True,
    omit_flags: tuple[str, ...] = (),
) -> Any:
    """A dataclass field with its user-facing help text and, for numbers, the range of its values (inclusive
    unless ``min_exclusive``/``max_exclusive``; for lists and tuples, of every item).

    ``flag`` (with ``short``, ``negatable``, ``metavar``, ``envvar``; see :class:`Flag`) is its command-line flag.
    ``flag=None`` says it has none: it is set in config files (and through the API) only, or by a parameter the
    command declares itself (its positional inputs, ``-s``, ``-o``). Every field of a section a command exposes
    must say one or the other (a test checks it); fields of sections no command exposes need not.

    On a field that holds a section (a config dataclass): ``flags=False`` makes the whole section config-file only
    for the command whose config holds it; ``omit_flags`` names fields of the section that have a flag but that
    this command does not offer (``restyle mesh`` has no ``--optimizer``; ``restyle image`` has).
    """
    metadata: dict[str, Any] = {"help": help, "range": Range(min, max, min_exclusive, max_exclusive, finite)}
    if isinstance(flag, str):
        metadata["flag"] = Flag(flag, short, negatable, metavar, envvar)
    elif flag is None:
        metadata["flag"] = None
    metadata["section_flags"], metadata["omit_flags"] = flags, tuple(omit_flags)
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def range_of(cls: type, name: str) -> Range:
    """The declared range of field ``name`` of ``cls`` (no bounds, finite only, when none was declared)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("range", Range())
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def check_ranges(config: Any, section: str) -> None:
    """Check each field of ``config`` against its declared range, naming it ``section.field``: called by the
    ``__post_init__`` of sections that are also built directly (the API, tests), where :func:`apply_overrides`
    does not see the values."""
    for f in dataclasses.fields(config):
        _check_range(getattr(config, f.name), f.metadata.get("range", Range()), f"{section}.{f.name}")


def help_of(cls: type, name: str) -> str:
    """The help text of field ``name`` of config dataclass ``cls`` (used by the CLI)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("help", "")
    raise KeyError(f"{cls.__name__} has no field {name!r}")


@dataclasses.dataclass(frozen=True)
class ExposedField:
    """A field of a command's config that the command can offer as a flag: its dotted TOML key, its type."""

    key: str  # "weights.style"
    hint: Any  # float | None
    field: dataclasses.Field

    @property
    def flag(self) -> Flag | None:
        """Its flag; None when it has none (or has not said, see :func:`option`)."""
        return self.field.metadata.get("flag")

    @property
    def help(self) -> str:
        return self.field.metadata.get("help", "")


def exposed_fields(config: type, prefix: str = "", omit: tuple[str, ...] = ()) -> list[ExposedField]:
    """Every field of the config dataclass ``config`` and of the sections it exposes to the command line (all but
    those with ``flags=False``), less the ones its section field omits, in declaration order."""
    hints = typing.get_type_hints(config)
    found: list[ExposedField] = []
    for f in dataclasses.fields(config):
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if f.metadata.get("section_flags", True):
                found += exposed_fields(hint, f"{prefix}{f.name}.", f.metadata.get("omit_flags", ()))
        elif f.name not in omit:
            found.append(ExposedField(f"{prefix}{f.name}", hint, f))
    return found


def flagged_fields(config: type) -> list[ExposedField]:
    """The fields of ``config`` (see :func:`exposed_fields`) its command offers as flags."""
    return [field for field in exposed_fields(config) if field.flag is not None]


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


def apply_overrides(config: T, overrides: dict[str, Any], *, source: str, section: str = "") -> T:
    """A copy of ``config`` with ``overrides`` (a nested dict, as in TOML) applied, every value type- and
    range-checked.

    ``source`` names where the overrides came from (a file, a preset, the command line) for error messages;
    ``section`` is the TOML table the config is (``optim``), so that messages name an option as ``[optim] lr``.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: {_name(section, '')} must be a table of options; got {overrides!r}")
    hints = typing.get_type_hints(type(config))
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in fields:
            valid = ", ".join(sorted(fields))
            where = f"[{section}]" if section else "the top level"
            raise ConfigError(f"{source}: unknown option {key!r} in {where}; valid: {valid}")
        current = getattr(config, key)
        name = _name(section, key)
        if dataclasses.is_dataclass(current):
            changes[key] = apply_overrides(current, value, source=source, section=f"{section}.{key}".strip("."))
        else:
            where = f"{source}: {name}"
            changes[key] = _coerce(value, hints[key], where)
            _check_range(changes[key], fields[key].metadata.get("range", Range()), where)
    return dataclasses.replace(config, **changes)


def _name(section: str, key: str) -> str:
    """How messages name an option: ``[optim] lr``, or ``size`` at the top level."""
    if not section:
        return f"option {key!r}" if key else "the config"
    return f"[{section}] {key}" if key else f"[{section}]"


def _check_range(value: Any, bounds: Range, where: str) -> None:
    for item in value if isinstance(value, (list, tuple)) else (value,):
        bounds.check(item, where)


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
        try:
            return float(value)
        except OverflowError:  # an int beyond float's range
            raise ConfigError(f"{where} is out of range; got {value!r}") from None
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
    """Apply ``preset``, then ``config_file``, then command-line ``flags`` (a nested dict) to ``defaults``.
    ``preset`` :data:`NO_PRESET` (``"none"``) applies none: the bare field defaults, whatever a command would pick
    without a preset."""
    config = defaults
    if preset is not None and preset != NO_PRESET:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(sorted([*presets, NO_PRESET]))}")
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
