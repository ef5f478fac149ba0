"""Every option is validated before any work, from the ranges declared on the config dataclasses: whatever value
reaches apply_overrides (flags, TOML, presets, the API) either fits or is a one-line ConfigError naming the option
as ``[section] name``; the command line turns each into exit 2 with no traceback and no output."""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restyle.configs import Range, apply_overrides
from restyle.errors import ConfigError
from restyle.jobs.apply.config import ApplyConfig
from restyle.jobs.image.config import ImageConfig
from restyle.jobs.mesh.config import MeshConfig
from restyle.run import preflight
from restyle.sections import RenderAssetConfig


def _leaves(config: object, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], type, dataclasses.Field]]:
    """(path, owning class, field) of every non-section field of a config, sections walked."""
    out = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out += _leaves(value, (*prefix, f.name))
        else:
            out.append(((*prefix, f.name), type(config), f))
    return out


def _is_numeric(cls: type, f: dataclasses.Field) -> bool:
    text = str(typing.get_type_hints(cls)[f.name])
    return "int" in text or "float" in text


# (the config class, path, owning class, field) of every option of both pipelines
ALL_LEAVES = [(top, *leaf) for top in (MeshConfig, ImageConfig) for leaf in _leaves(top())]


@pytest.mark.parametrize("config", [MeshConfig(), ImageConfig(), RenderAssetConfig(), ApplyConfig()], ids=type)
def test_every_numeric_option_declares_its_range(config) -> None:
    for path, cls, f in _leaves(config):
        if _is_numeric(cls, f):
            bounds = f.metadata.get("range")
            assert isinstance(bounds, Range) and bounds.min is not None, ".".join(path)


def _nested(path: tuple[str, ...], value: object) -> dict:
    for key in reversed(path):
        value = {key: value}
    return value  # type: ignore[return-value]


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.lists(st.one_of(st.floats(), st.integers(), st.text(max_size=5)), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leaf=st.sampled_from(ALL_LEAVES), value=VALUES)
def test_any_value_into_any_option_is_accepted_or_a_config_error(leaf, value) -> None:
    top, path, _, _ = leaf
    try:
        apply_overrides(top(), _nested(path, value), source="test")
    except ConfigError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(leaf=st.sampled_from([leaf for leaf in ALL_LEAVES if _is_numeric(leaf[2], leaf[3])]),
       value=st.sampled_from([float("nan"), float("inf"), -float("inf"), -1, -1e300, 10**30]))
def test_non_finite_negative_and_huge_numbers_are_refused_naming_the_option(leaf, value) -> None:
    top, path, cls, f = leaf
    bounds: Range = f.metadata["range"]
    if "float" not in str(typing.get_type_hints(cls)[f.name]) and isinstance(value, float):
        value = -1  # an int option: a float is a type error, tested above; here its range
    if math.isfinite(value) and bounds.min <= value <= (bounds.max if bounds.max is not None else math.inf):
        return  # within the range (a big weight, say)
    wrapped = [value, value] if "tuple" in str(typing.get_type_hints(cls)[f.name]) else value
    with pytest.raises(ConfigError) as info:
        apply_overrides(top(), _nested(path, wrapped), source="test")
    name = f"[{'.'.join(path[:-1])}] {path[-1]}" if len(path) > 1 else f"'{path[0]}'"
    assert name in str(info.value)


def test_messages_name_sections_as_in_toml() -> None:
    with pytest.raises(ConfigError, match=r"^test: \[optim\] lr must be > 0 and <= 1e\+06; got -1"):
        apply_overrides(MeshConfig(), {"optim": {"lr": -1}}, source="test")
    with pytest.raises(ConfigError, match=r"unknown option 'decay' in \[optim\]; valid:"):
        apply_overrides(MeshConfig(), {"optim": {"decay": 1}}, source="test")
    with pytest.raises(ConfigError, match=r"\[views\] elevation must be >= -90 and <= 90; got 100"):
        apply_overrides(MeshConfig(), {"views": {"elevation": [100, 200]}}, source="test")
    with pytest.raises(ConfigError, match=r"\[optim\] must be a table"):
        apply_overrides(MeshConfig(), {"optim": 3}, source="test")


# --------------------------------------------------------------------------------------------- the CLI




def _assert_refused(code: int, err: str, needle: str, folder: Path, before: set[Path]) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
    assert set(folder.rglob("*")) == before  # nothing written


@pytest.mark.parametrize(("flags", "needle"), [
    (["--lr", "nan"], "[optim] lr must be a finite number"),
    (["--lr", "inf"], "[optim] lr must be a finite number"),
    (["--lr", "-1"], "[optim] lr must be > 0"),
    (["--iters", "-5"], "[optim] iters must be >= 0"),
    (["--size", "0"], "'size' must be >= 1"),
    (["--palette-weight", "-1"], "[palette] weight must be >= 0"),
])
def test_image_flags_out_of_range_exit_2_before_any_work(run_cli, images, tmp_path, flags,
                                                         needle) -> None:
    content, style = images
    before = set(tmp_path.rglob("*"))
    code, _, err = run_cli("image", content, "-s", style, "-o", tmp_path / "o.png", *flags)
    _assert_refused(code, err, needle, tmp_path, before)


@pytest.mark.parametrize(("flags", "needle"), [
    (["--views-per-step", "0"], "[render] views_per_step must be >= 1"),
    (["--elevation", "100", "200"], "[views] elevation must be >= -90"),
    (["--light-power", "-1"], "[views] light_power must be >= 0"),
    (["--distance", "0.5", "2"], "[views] distance must be > 1"),
    (["--texture-size", "100000"], "[render] texture_size must be"),
])
def test_mesh_flags_out_of_range_exit_2_before_any_work(run_cli, monkeypatch, assets, images, tmp_path, flags,
                                                        needle) -> None:
    _, style = images
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    before = set(tmp_path.rglob("*"))

    def never(*_: object, **__: object) -> None:
        raise AssertionError("the mesh was loaded before the options were checked")

    # refused before any work: nothing is loaded, so a texture of 100000^2 is never allocated
    monkeypatch.setattr("restyle.jobs.mesh.state.load_mesh", never)
    code, _, err = run_cli("mesh", box, "-s", style, "-o", tmp_path / "run", *flags)
    _assert_refused(code, err, needle, tmp_path, before)


def test_bad_output_suffix_and_unwritable_place_are_refused_up_front(run_cli, images,
                                                                     tmp_path) -> None:
    content, style = images
    before = set(tmp_path.rglob("*"))
    code, _, err = run_cli("image", content, "-s", style, "-o", tmp_path / "o.gif")
    _assert_refused(code, err, "unsupported output format '.gif'", tmp_path, before)
    code, _, err = run_cli("image", content, "-s", style, "-o", content / "o.png")
    _assert_refused(code, err, "is a file, not a folder", tmp_path, before)


def test_unwritable_folder_is_refused(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(preflight.os, "access", lambda path, mode: False)
    with pytest.raises(ConfigError, match="is not writable"):
        preflight.check_writable(tmp_path / "new" / "o.png", folder=False)
    with pytest.raises(ConfigError, match="is not writable"):
        preflight.check_writable(tmp_path / "run", folder=True)


def test_run_larger_than_memory_is_refused_with_estimate_and_limit(run_cli, monkeypatch, assets, images,
                                                                    tmp_path) -> None:
    _, style = images
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    monkeypatch.setenv(preflight.MEMORY_LIMIT_ENV, "0.01")
    before = set(tmp_path.rglob("*"))
    code, _, err = run_cli("mesh", box, "-s", style, "-o", tmp_path / "run",
                           "--texture-size", "4096")
    _assert_refused(code, err, "GB of memory, more than the 0.0 GB available", tmp_path, before)
    content, _ = images
    code, _, err = run_cli("image", content, "-s", style, "-o", tmp_path / "o.png",
                           "--size", "4096")
    _assert_refused(code, err, "this image run needs about", tmp_path, before)


def test_memory_estimate_grows_with_the_run_and_the_limit_can_be_turned_off(monkeypatch) -> None:
    small = preflight.mesh_bytes(512, 1, 2, 224, 1)
    assert small < preflight.mesh_bytes(1024, 1, 2, 224, 1) < preflight.mesh_bytes(1024, 3, 2, 224, 1)
    assert preflight.mesh_bytes(100_000, 1, 1, 224, 1) > 100 * 1024**3  # the 120 GB texture
    monkeypatch.setenv(preflight.MEMORY_LIMIT_ENV, "0")
    assert preflight.available_bytes("cpu") is None
    monkeypatch.setenv(preflight.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ConfigError, match=preflight.MEMORY_LIMIT_ENV):
        preflight.available_bytes("cpu")
    monkeypatch.delenv(preflight.MEMORY_LIMIT_ENV)
    assert preflight.available_bytes("cpu") > 0


def test_no_progress_bar_is_drawn_before_an_input_error(run_cli, monkeypatch, images, tmp_path) -> None:
    """On a terminal the bar appears at the first step, so a run refused while loading leaves no empty bar."""
    import rich.progress

    from restyle.cli import progress as cli_progress

    def no_bar(*_: object, **__: object) -> None:
        raise AssertionError("a progress bar was drawn")

    monkeypatch.setattr(cli_progress, "_is_terminal", lambda: True)
    monkeypatch.setattr(rich.progress, "Progress", no_bar)
    content, _ = images
    code, _, err = run_cli("image", content, "-s", tmp_path / "missing.png",
                           "-o", tmp_path / "o.png")
    assert code == 2 and "missing.png" in err and "Traceback" not in err
