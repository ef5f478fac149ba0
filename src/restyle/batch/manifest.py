"""Batch manifests: which assets to stylise with which looks, read from TOML or CSV.

TOML: ``[[job]]`` tables (``name``, ``mesh``, ``styles``, ``text``, ``preset`` and any config key, sections as
nested tables such as ``[job.optim]``), and/or a product ``assets = [...]`` x ``[[look]]`` tables (``name``,
``styles``/``text``, ``preset`` and options) giving one job per asset and look. ``[defaults]`` holds options for
every job (a job's or look's own win, section by section); ``[resources] cpus = 1, gpus = 0`` is what each job
asks of a Ray cluster, overridable by a job's or look's own ``[job.resources]``.

CSV: header ``name,mesh,styles,text,preset``; several styles separated by ``;``.

Paths are relative to the manifest's folder. Every job gets a unique, filesystem-safe name (the asset's stem,
plus the look's name in a product).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path
from typing import Any

import tomllib

from restyle.errors import ConfigError, InputError, RestyleError

# keys of a job or look that are not config options
_JOB_KEYS = ("name", "mesh", "styles", "preset", "resources")
_CSV_HEADER = ("name", "mesh", "styles", "text", "preset")
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


def load_manifest(path: str | Path) -> Manifest:
    """Read and check a manifest; every problem is one line naming the manifest (and the job)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    if path.suffix.lower() == ".csv":
        jobs = _csv_jobs(path)
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
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML manifest ({exc})") from None


def _toml_jobs(path: Path) -> list[BatchJob]:
    data = _read_toml(path)
    unknown = sorted(set(data) - {"job", "assets", "look", "defaults", "resources"})
    if unknown:
        raise ConfigError(f"{path}: unknown manifest key {unknown[0]!r} (valid: job, assets, look, defaults, "
                          "resources)")
    defaults = _table(path, data, "defaults")
    resources = _resources(path, "[resources]", _table(path, data, "resources"), Resources())
    jobs = [_job(path, entry, defaults, resources, index) for index, entry in enumerate(_tables(path, data, "job"))]
    assets, looks = data.get("assets", []), _tables(path, data, "look")
    if bool(assets) != bool(looks):
        raise ConfigError(f"{path}: 'assets' and [[look]] tables go together (one job per asset and look)")
    if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
        raise ConfigError(f"{path}: 'assets' must be a list of file paths")
    for asset in assets:
        for index, look in enumerate(looks):
            look_name = safe_name(str(look.get("name", f"look{index + 1}")))
            entry = {**look, "mesh": asset, "name": f"{safe_name(Path(asset).stem)}_{look_name}"}
            jobs.append(_job(path, entry, defaults, resources, index))
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


def _job(path: Path, entry: dict[str, Any], defaults: dict[str, Any], resources: Resources, index: int) -> BatchJob:
    mesh = entry.get("mesh")
    where = f"job {entry.get('name', index + 1)!r}"
    if not isinstance(mesh, str) or not mesh:
        raise ConfigError(f"{path}: {where}: 'mesh' (a file path) is required")
    styles = entry.get("styles", [])
    if isinstance(styles, str):
        styles = [styles]
    if not isinstance(styles, list) or not all(isinstance(s, str) for s in styles):
        raise ConfigError(f"{path}: {where}: 'styles' must be a list of image paths")
    preset = entry.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"{path}: {where}: 'preset' must be a name")
    own = {k: v for k, v in entry.items() if k not in _JOB_KEYS}
    name = safe_name(str(entry.get("name") or Path(mesh).stem))
    return BatchJob(
        name=name,
        mesh=_path(path, mesh),
        styles=tuple(_path(path, s) for s in styles),
        preset=preset,
        options=merge_options(defaults, own),
        resources=_resources(path, f"job {name!r}: resources", entry.get("resources", {}), resources),
    )


def _path(manifest: Path, text: str) -> Path:
    # a depth-mask suffix (``far.jpg@far``) stays on the style spec, the file part is made absolute
    file, at, mask = text.partition("@") if "@" in text and not Path(text).exists() else (text, "", "")
    resolved = (manifest.parent / Path(file).expanduser()).resolve()
    return Path(f"{resolved}{at}{mask}")


# ------------------------------------------------------------------------------------------------------ CSV


def _csv_jobs(path: Path) -> list[BatchJob]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        header = tuple(name.strip() for name in (reader.fieldnames or ()))
    unknown = sorted(set(header) - set(_CSV_HEADER))
    if "mesh" not in header or unknown:
        raise ConfigError(f"{path}: CSV header must be {','.join(_CSV_HEADER)} (mesh required"
                          + (f"; unknown column {unknown[0]!r})" if unknown else ")"))
    jobs = []
    for index, row in enumerate(rows):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        entry: dict[str, Any] = {"mesh": row.get("mesh", ""),
                                 "styles": [s.strip() for s in row.get("styles", "").split(";") if s.strip()]}
        for key in ("name", "text", "preset"):
            if row.get(key):
                entry[key] = row[key]
        jobs.append(_job(path, entry, {}, Resources(), index))
    return jobs


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


def _check_files(path: Path, job: BatchJob) -> None:
    files = [("mesh", job.mesh)] + [("style image", Path(str(s).partition("@")[0]) if not s.exists() else s)
                                     for s in job.styles]
    for role, file in files:
        if not file.is_file():
            raise InputError(f"{path}: job {job.name!r}: {role} not found: {file}")


def validate_jobs(manifest: Manifest, output: Path) -> None:
    """Resolve every job's config before any work, so that a typo fails the whole batch at once."""
    from restyle import api

    for job in manifest.jobs:
        try:
            api.mesh_config(job.mesh, job.styles, output / job.name, preset=job.preset, **job.options)
        except RestyleError as error:
            raise ConfigError(f"{manifest.path}: job {job.name!r}: {error}") from None
