"""Config resolution: defaults < preset < config file < flags, strict keys and types, TOML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from restyle.configs import apply_overrides, dump_toml, help_of, load_toml, nested, resolve
from restyle.errors import ConfigError
from restyle.jobs.image.run import IMAGE_PRESETS, ImageConfig

PRESETS = {"fast": {"optim": {"iters": 7, "lr": 0.5}, "size": 64}}


def test_precedence_defaults_preset_file_flags(tmp_path: Path) -> None:
    config_file = tmp_path / "c.toml"
    config_file.write_text("size = 32\n[optim]\nlr = 0.25\n")
    flags = nested({"optim.lr": 0.125, "style.backbone": None})

    only_defaults = resolve(ImageConfig(), presets=PRESETS, preset=None, config_file=None, flags={})
    with_preset = resolve(ImageConfig(), presets=PRESETS, preset="fast", config_file=None, flags={})
    with_file = resolve(ImageConfig(), presets=PRESETS, preset="fast", config_file=config_file, flags={})
    with_flags = resolve(ImageConfig(), presets=PRESETS, preset="fast", config_file=config_file, flags=flags)

    assert (only_defaults.size, only_defaults.optim.iters) == (None, ImageConfig().optim.iters)  # None: 512
    assert (with_preset.size, with_preset.optim.iters, with_preset.optim.lr) == (64, 7, 0.5)
    assert (with_file.size, with_file.optim.iters, with_file.optim.lr) == (32, 7, 0.25)
    assert (with_flags.size, with_flags.optim.iters, with_flags.optim.lr) == (32, 7, 0.125)
    assert with_flags.style.backbone == ImageConfig().style.backbone  # None flags do not override


def test_unknown_key_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'iterz'.*iters"):
        apply_overrides(ImageConfig(), {"optim": {"iterz": 3}}, source="x.toml")


def test_wrong_type_is_named() -> None:
    with pytest.raises(ConfigError, match=r"x.toml: \[optim\] iters must be int"):
        apply_overrides(ImageConfig(), {"optim": {"iters": "many"}}, source="x.toml")
    with pytest.raises(ConfigError, match="must be one of nnfm, gram"):
        apply_overrides(ImageConfig(), {"style": {"method": "fancy"}}, source="flags")


def test_ints_widen_to_float_and_paths_and_tuples_coerce() -> None:
    config = apply_overrides(
        ImageConfig(), {"optim": {"lr": 1}, "styles": ["a.png", "b.png"], "style": {"style_taps": ["1", "6"]}},
        source="t",
    )
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)
    assert config.styles == [Path("a.png"), Path("b.png")]
    assert config.style.style_taps == ("1", "6")


def test_toml_round_trip(tmp_path: Path) -> None:
    config = apply_overrides(ImageConfig(), {"content": "c.png", "styles": ["s.png"], "size": 99}, source="t")
    path = tmp_path / "config.toml"
    path.write_text(dump_toml(config))
    assert apply_overrides(ImageConfig(), load_toml(path), source=str(path)) == config


def test_bad_toml_and_missing_file_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("size = = 3")
    with pytest.raises(ConfigError, match="bad.toml: not a valid TOML"):
        load_toml(bad)
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        load_toml(tmp_path / "nope.toml")


def test_unknown_preset_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="gatys"):
        resolve(ImageConfig(), presets=IMAGE_PRESETS, preset="nope", config_file=None, flags={})


def test_every_preset_applies_cleanly() -> None:
    for name in IMAGE_PRESETS:
        resolve(ImageConfig(), presets=IMAGE_PRESETS, preset=name, config_file=None, flags={})


def test_help_comes_from_the_dataclass() -> None:
    assert "Long side" in help_of(ImageConfig, "size")
