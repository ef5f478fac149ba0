"""Batch manifests: which assets to stylise with which looks, read from TOML or CSV.

TOML: ``[[job]]`` tables (``name``, ``mesh``, ``styles``, ``text``, ``preset`` and any config key, sections as
nested tables such as ``[job.optim]``), and/or a product ``assets = [...]`` x ``[[look]]`` tables (``name``,
``styles``/``text``, ``preset`` and options) giving one job per asset and look. ``[defaults]`` holds a ``preset``
and options for every job (a job's or look's own win, section by section); ``[resources] cpus = 1, gpus = 0`` is
what each job asks of a Ray cluster, overridable by a job's or look's own ``[job.resources]``. ``output`` and
``overwrite`` are the batch's own (``-o``, ``--overwrite``); any other key that is not an option is refused,
listing the valid ones.

CSV (:mod:`restyle.batch.manifest_csv`): header ``name,mesh,styles,text,preset``; several styles separated by ``;``.

Paths are relative to the manifest's folder. Every job gets a unique, filesystem-safe name (the asset's stem,
plus the look's name in a product).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

import tomllib

from restyle.batch.manifest_csv import csv_entries
from restyle.errors import ConfigError, InputError

# keys of a job, a look and [defaults] that are not config options
_JOB_KEYS = ("name", "mesh", "styles", "preset", "resources")
_LOOK_KEYS = ("name", "styles", "preset", "resources")
_DEFAULTS_KEYS = ("preset",)
# config fields a manifest may not set: the batch sets them for every job (the inputs, -o OUTDIR/<name>, --overwrite)
_BATCH_FIELDS = frozenset({"mesh", "styles", "output", "overwrite"})
MAX_PATH_CHARS = 4096  # longer is no file on any filesystem (PATH_MAX); refused before the OS says so in a traceback
MAX_NAME_BYTES = 200  # a job's folder name, with room under the 255-byte limit of most filesystems
# files the batch writes into OUTDIR itself: no job folder may take their names
RESERVED_NAMES = frozenset({"summary.json", "summary.csv", "index.html"})


@dataclasses.dataclass(frozen=True)
class Resources:
    """What one job asks of a Ray cluster."""

    cpus: float = 1.0
    gpus: float = 0.0


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """One asset stylised with one look, written into ``OUTDIR/<name>``."""

    name: str
    mesh: Path  # absolute
    styles: tuple[Path, ...]  # absolute
    preset: str | None
    options: dict[str, Any]  # config options as for ``restyle.api.stylize_mesh`` (defaults merged under)
    resources: Resources


@dataclasses.dataclass(frozen=True)
class Manifest:
    path: Path
    jobs: tuple[BatchJob, ...]


def safe_name(text: str) -> str:
    """``text`` as a folder name that works on every filesystem: letters, digits, ``._-``, nothing hidden."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._ ")
    return name or "job"


def merge_options(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; sections (dicts) are merged key by key rather than replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_options(merged[key], value)
        else:
            merged[key] = value
    return merged


@functools.cache
def option_keys() -> tuple[str, ...]:
    """The config options a job, look or [defaults] may set: ``restyle mesh``'s, less the batch's own."""
    from restyle import api  # here, as in split_style: the API brings torch, which reading a manifest needs not

    return tuple(f.name for f in dataclasses.fields(api.MeshConfig) if f.name not in _BATCH_FIELDS)


def check_keys(path: Path, where: str, table: dict[str, Any], own: tuple[str, ...]) -> None:
    """ConfigError naming the first key of ``table`` that is neither one of ``own`` nor a config option."""
    valid = (*own, *option_keys())
    unknown = sorted(set(table) - set(valid))
    if unknown:
        raise ConfigError(f"{path}: {where}: unknown key {unknown[0]!r} (valid: {', '.join(valid)})")


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest; every problem is one line naming the manifest (and the job)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    if path.suffix.lower() == ".csv":
        jobs = [job_from(path, entry, {}, Resources(), index) for index, entry in enumerate(csv_entries(path))]
    elif path.suffix.lower() == ".toml":
        jobs = _toml_jobs(path)
    else:
        raise ConfigError(f"{path}: a manifest is a .toml or .csv file")
    if not jobs:
        raise ConfigError(f"{path}: the manifest lists no jobs (add [[job]] tables, or assets and [[look]] tables)")
    _check_names(path, jobs)
    for job in jobs:
        _check_files(path, job)
    return Manifest(path=path.resolve(), jobs=tuple(jobs))


# ----------------------------------------------------------------------------------------------------- TOML


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as some editors write, is dropped
        return tomllib.loads(text)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the manifest ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML manifest ({exc})") from None


def _toml_jobs(path: Path) -> list[BatchJob]:
    data = _read_toml(path)
    unknown = sorted(set(data) - {"job", "assets", "look", "defaults", "resources"})
    if unknown:
        raise ConfigError(f"{path}: unknown manifest key {unknown[0]!r} (valid: job, assets, look, defaults, "
                          "resources)")
    defaults = _table(path, data, "defaults")
    check_keys(path, "[defaults]", defaults, _DEFAULTS_KEYS)
    resources = _resources(path, "[resources]", _table(path, data, "resources"), Resources())
    jobs = []
    for index, entry in enumerate(_tables(path, data, "job")):
        check_keys(path, _label("job", entry, index), entry, _JOB_KEYS)
        jobs.append(job_from(path, entry, defaults, resources, index))
    assets, looks = data.get("assets", []), _tables(path, data, "look")
    if bool(assets) != bool(looks):
        raise ConfigError(f"{path}: 'assets' and [[look]] tables go together (one job per asset and look)")
    if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
        raise ConfigError(f"{path}: 'assets' must be a list of file paths")
    for index, look in enumerate(looks):
        check_keys(path, _label("look", look, index), look, _LOOK_KEYS)
    for asset in assets:
        for index, look in enumerate(looks):
            look_name = safe_name(str(look.get("name", f"look{index + 1}")))
            entry = {**look, "mesh": asset, "name": f"{safe_name(Path(asset).stem)}_{look_name}"}
            jobs.append(job_from(path, entry, defaults, resources, index))
    return jobs


def _table(path: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: '{key}' must be a table ([{key}])")
    return value


def _tables(path: Path, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{path}: '{key}' must be an array of tables ([[{key}]])")
    return value


def _resources(path: Path, where: str, table: Any, base: Resources) -> Resources:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table with cpus and gpus")
    unknown = sorted(set(table) - {"cpus", "gpus"})
    if unknown:
        raise ConfigError(f"{path}: {where}: unknown key {unknown[0]!r} (valid: cpus, gpus)")
    values = {k: table.get(k, getattr(base, k)) for k in ("cpus", "gpus")}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{path}: {where}: {key} must be a number >= 0, not {value!r}")
    return Resources(cpus=float(values["cpus"]), gpus=float(values["gpus"]))


def _label(kind: str, entry: dict[str, Any], index: int) -> str:
    """``job 'name'`` (cut short: a message stays one readable line), or ``job 3`` for one without a name."""
    name = entry.get("name", index + 1)
    return f"{kind} {name[:60] + '...' if isinstance(name, str) and len(name) > 60 else name!r}"


def job_from(path: Path, entry: dict[str, Any], defaults: dict[str, Any], resources: Resources,
             index: int) -> BatchJob:
    """The job an entry (a ``[[job]]`` table, an asset with a look, a CSV row) describes, over ``defaults``."""
    mesh = entry.get("mesh")
    where = _label("job", entry, index)
    if not isinstance(mesh, str) or not mesh:
        raise ConfigError(f"{path}: {where}: 'mesh' (a file path) is required")
    styles = entry.get("styles", [])
    if isinstance(styles, str):
        styles = [styles]
    if not isinstance(styles, list) or not all(isinstance(s, str) for s in styles):
        raise ConfigError(f"{path}: {where}: 'styles' must be a list of image paths")
    preset = entry.get("preset", defaults.get("preset"))
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"{path}: {where}: 'preset' must be a name")
    own = {k: v for k, v in entry.items() if k not in _JOB_KEYS}
    name = safe_name(str(entry.get("name") or Path(mesh).stem))
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ConfigError(f"{path}: {where}: the name is longer than {MAX_NAME_BYTES} bytes (a folder is named "
                          "after it); give a shorter 'name'")
    return BatchJob(
        name=name,
        mesh=_path(path, where, mesh),
        styles=tuple(_style_path(path, where, s) for s in styles),
        preset=preset,
        options=merge_options({k: v for k, v in defaults.items() if k not in _DEFAULTS_KEYS}, own),
        resources=_resources(path, f"job {name!r}: resources", entry.get("resources", {}), resources),
    )


def _path(manifest: Path, where: str, text: str) -> Path:
    if "\0" in text or len(text) > MAX_PATH_CHARS:
        problem = "holds a NUL character" if "\0" in text else f"is longer than {MAX_PATH_CHARS} characters"
        shown = text[:40] + ("..." if len(text) > 40 else "")
        raise ConfigError(f"{manifest}: {where}: the path {shown!r} {problem}; no file is named so")
    return (manifest.parent / Path(text).expanduser()).resolve()


def _style_path(manifest: Path, where: str, text: str) -> Path:
    """A style spec with its file made absolute; a depth mask (``far.jpg@far``) stays on it."""
    try:
        file, mask = split_style(text)
    except ConfigError as error:
        raise ConfigError(f"{manifest}: {where}: {error}") from None
    resolved = _path(manifest, where, file)
    return resolved if mask is None else Path(f"{resolved}@{mask}")


def split_style(spec: str) -> tuple[str, str | None]:
    """``FILE@MASK`` -> ``(FILE, MASK)``, ``FILE`` -> ``(FILE, None)``: the one parser of the CLI, the API and
    manifests (at the last ``@``, so that a folder or file with an ``@`` in its name stays whole)."""
    from restyle import api

    return api.split_style_spec(spec)


# --------------------------------------------------------------------------------------------------- checks


def _check_names(path: Path, jobs: list[BatchJob]) -> None:
    seen: dict[str, int] = {}
    for job in jobs:
        seen[job.name] = seen.get(job.name, 0) + 1
    duplicates = sorted(name for name, count in seen.items() if count > 1)
    if duplicates:
        raise ConfigError(f"{path}: duplicate job names: {', '.join(duplicates)} (give each job its own 'name')")
    reserved = sorted(job.name for job in jobs if job.name in RESERVED_NAMES)
    if reserved:
        raise ConfigError(f"{path}: job name {reserved[0]!r} is reserved for the batch's own files")


def style_file(spec: Path) -> Path:
    """The image file of a style spec: the spec itself, or its part before a depth mask (``far.jpg@far``)."""
    return Path(split_style(str(spec))[0])


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the filesystem, a folder that cannot be read
        return False


def _check_files(path: Path, job: BatchJob) -> None:
    for role, file in [("mesh", job.mesh), *(("style image", style_file(s)) for s in job.styles)]:
        if not _is_file(file):
            raise InputError(f"{path}: job {job.name!r}: {role} not found: {file}")
