"""The command line: bad inputs exit non-zero with one line on stderr, no traceback and no output file;
flags override config files; every command runs end to end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from restyle.configs import load_toml
from restyle.io.images import save_image


def _assert_clean_failure(code: int, err: str, needle: str, out: Path) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not out.exists() and not list(out.parent.glob(f"{out.stem}*"))


def test_missing_content_file(run_cli, images, tmp_path) -> None:
    _, style = images
    out = tmp_path / "result.png"
    code, _, err = run_cli("image", tmp_path / "missing.png", "-s", style, "-o", out, "-q")
    _assert_clean_failure(code, err, "missing.png", out)


def test_text_file_named_png(run_cli, images, tmp_path) -> None:
    content, _ = images
    fake = tmp_path / "fake.png"
    fake.write_text("hello, I am not a picture\n")
    out = tmp_path / "result.png"
    code, _, err = run_cli("image", content, "-s", fake, "-o", out, "-q", "-b", "patch")
    _assert_clean_failure(code, err, "fake.png", out)


def test_truncated_jpeg(run_cli, images, tmp_path) -> None:
    content, _ = images
    whole = tmp_path / "whole.jpg"
    save_image(torch.rand(3, 64, 64), whole)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "result.png"
    code, _, err = run_cli("image", content, "-s", truncated, "-o", out, "-q", "-b", "patch")
    _assert_clean_failure(code, err, "truncated.jpg", out)


def test_unknown_backbone(run_cli, images, tmp_path) -> None:
    content, style = images
    out = tmp_path / "result.png"
    code, _, err = run_cli("image", content, "-s", style, "-o", out, "-b", "alexnet", "-q")
    _assert_clean_failure(code, err, "unknown backbone 'alexnet'", out)


def test_image_command_flags_override_config_file(run_cli, images, tmp_path) -> None:
    content, style = images
    config = tmp_path / "job.toml"
    config.write_text('size = 44\n[optim]\niters = 5\nlr = 0.5\n[style]\nbackbone = "patch"\n')
    out = tmp_path / "result.png"
    code, stdout, err = run_cli("image", content, "-s", style, "-o", out,
                                "--config", config, "--iters", "2", "--preset", "nnfm-vgg", "-b", "patch", "-q")
    assert code == 0, err
    assert "wrote" in stdout
    resolved = load_toml(tmp_path / "result.config.toml")
    assert resolved["optim"]["iters"] == 2  # flag beats file
    assert resolved["optim"]["lr"] == 0.5  # file beats preset default
    assert resolved["size"] == 44
    assert resolved["weights"]["style"] == 200.0  # preset nnfm-vgg, not overridden


def test_render_command_writes_sheet_and_turntable(run_cli, assets, tmp_path) -> None:
    sheet, turntable = tmp_path / "sheet.png", tmp_path / "spin.gif"
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    code, _, err = run_cli("render", box, "-o", sheet, "--views", "3", "--size", "40",
                           "--turntable", turntable, "--frames", "4")
    assert code == 0, err
    assert sheet.stat().st_size > 0 and turntable.stat().st_size > 0


def test_mesh_command_runs_and_bad_mesh_fails_cleanly(run_cli, assets, images, tmp_path) -> None:
    _, style = images
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    out = tmp_path / "asset"
    code, _, err = run_cli("mesh", box, "-s", style, "-o", out, "-b", "patch", "-p", "draft",
                           "--iters", "2", "--texture-size", "32", "--render-size", "48", "--distance", "2", "3",
                           "-q")
    assert code == 0, err
    assert (out / "BoxTextured_stylized.glb").is_file()
    assert load_toml(out / "config.toml")["views"]["distance"] == [2.0, 3.0]

    not_a_mesh = tmp_path / "notes.obj"
    not_a_mesh.write_text("this is prose, not geometry\n")
    code, _, err = run_cli("mesh", not_a_mesh, "-s", style, "-o", tmp_path / "x", "-q")
    assert code != 0 and len(err.strip().splitlines()) == 1 and "notes.obj" in err
    assert not (tmp_path / "x").exists()


def test_weights_path_missing_is_one_line(run_cli, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("RESTYLE_WEIGHTS_DIR", raising=False)
    code, _, err = run_cli("weights", "path", "vgg16", "--weights-dir", tmp_path)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "restyle weights download" in err


def test_weights_list_shows_local_files(run_cli, random_weights_dir) -> None:
    code, out, err = run_cli("weights", "list", "--weights-dir", random_weights_dir)
    assert code == 0, err
    assert str(random_weights_dir) in out and "vgg16" in out and "clip-rn50" in out


def test_image_command_pastiche_style_flags_reach_the_config(run_cli, images, tmp_path) -> None:
    content, style = images
    second = tmp_path / "second.png"
    save_image(torch.rand(3, 40, 36), second)
    out = tmp_path / "result.png"
    code, _, err = run_cli("image", content, "-s", style, "-s", second, "-o", out, "-q",
                           "-b", "patch", "--method", "gram", "--style-blend", "0.7,0.3", "--preserve-color",
                           "match", "--size-pixels", "1300", "--style-size", "36", "--init", "noise",
                           "--optimizer", "lbfgs", "--style-layers", "s0,s1", "--style-layer-weights", "2,1",
                           "--content-layers", "s2", "--content-layer-weights", "1", "--iters", "2",
                           "--save-every", "1")
    assert code == 0, err
    resolved = load_toml(tmp_path / "result.config.toml")
    assert resolved["style_blend"] == [0.7, 0.3] and resolved["preserve_color"] == "match"
    assert (resolved["size_pixels"], resolved["style_size"], resolved["init"]) == (1300, 36, "noise")
    assert resolved["optim"]["optimizer"] == "lbfgs" and resolved["save_every"] == 1
    assert resolved["style"]["style_taps"] == ["s0", "s1"] and resolved["style"]["style_tap_weights"] == [2.0, 1.0]
    assert resolved["style"]["content_taps"] == ["s2"] and resolved["style"]["content_tap_weights"] == [1.0]
    assert sorted(p.name for p in tmp_path.glob("result.0*.png")) == ["result.00001.png", "result.00002.png"]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--style-blend", "0.5,0.3,0.2"], "style_blend has 3 weight(s) for 1 style images"),
        (["--style-blend", "0.5,x"], "--style-blend takes comma-separated numbers"),
        (["--style-blend", "-1"], "style_blend' must be >= 0"),
        (["--preserve-color", "sepia"], "none, luminance, match"),
        (["--init", "missing_init.png"], "missing_init.png: no such init image file"),
        (["--size", "40", "--size-pixels", "2000"], "either size (long side) or size_pixels"),
        (["--optimizer", "sgd"], "adam, lbfgs"),
        (["--style-layers", "s0,s1", "--style-layer-weights", "1"], "style_tap_weights has 1 weight(s) for 2"),
        (["--style-layers", "s0,,s1"], "no empty entries"),
        (["--save-every", "-2"], "save_every' must be >= 0"),
    ],
)
def test_image_command_bad_new_options_fail_cleanly(run_cli, images, tmp_path, flags,
                                                    needle) -> None:
    content, style = images
    out = tmp_path / "result.png"
    code, _, err = run_cli("image", content, "-s", style, "-o", out, "-q", "-b", "patch",
                           "--iters", "2", *flags)
    assert code == 2
    _assert_clean_failure(code, err, needle, out)


# ------------------------------------------------------------------------------------------ --print-config


def _refuse_to_load(monkeypatch) -> None:
    """--print-config must not touch a mesh, an image or a network: each of them now fails the test."""
    import restyle.jobs.image.inputs as image_inputs
    import restyle.jobs.image.run as image_pipeline
    import restyle.jobs.mesh.state as mesh_state

    def refuse(*args, **kwargs):
        raise AssertionError("--print-config loaded an input or a network")

    for module, name in ((mesh_state, "load_mesh"), (mesh_state, "build_networks"),
                         (image_inputs, "load_image"), (image_pipeline, "build_networks"),
                         (image_pipeline, "load_run_images")):
        monkeypatch.setattr(module, name, refuse)


def test_mesh_print_config_is_the_resolved_toml_and_reads_no_input(run_cli, monkeypatch, tmp_path) -> None:
    _refuse_to_load(monkeypatch)
    config = tmp_path / "job.toml"
    config.write_text("[optim]\niters = 5\nseed = 3\n")
    missing = tmp_path / "no such mesh.obj"
    # the paper's network named: backbone auto would look for its weights (tests/jobs/mesh/test_mesh_presets.py)
    code, stdout, err = run_cli("mesh", missing, "-s", tmp_path / "missing.png", "-b", "clip-rn50",
                                "--preset", "paper", "--config", config, "--iters", "7", "--print-config")
    assert code == 0, err
    resolved = tomllib.loads(stdout)
    assert resolved["mesh"] == str(missing)
    assert resolved["render"]["texture_size"] == 1024 and resolved["optim"]["lr"] == 0.0095  # the preset's
    assert resolved["optim"]["iters"] == 7 and resolved["optim"]["seed"] == 3  # flag beats file beats preset
    assert resolved["weights"]["style"] == 1e4 and resolved["style"]["content_backbone"] == "vgg16"  # resolved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.toml"]  # nothing written


def test_mesh_print_config_needs_no_inputs_at_all(run_cli, monkeypatch, capsys) -> None:
    _refuse_to_load(monkeypatch)
    code, stdout, err = run_cli("mesh", "--preset", "paper", "--print-config")
    assert code == 0, err
    resolved = tomllib.loads(stdout)
    assert "mesh" not in resolved and resolved["optim"]["iters"] == 15000


def test_image_print_config_is_the_resolved_toml_and_reads_no_input(run_cli, monkeypatch, tmp_path) -> None:
    _refuse_to_load(monkeypatch)
    code, stdout, err = run_cli("image", tmp_path / "missing.jpg", "-s", tmp_path / "s.png",
                                "--preset", "gatys", "--size", "99", "--print-config")
    assert code == 0, err
    resolved = tomllib.loads(stdout)
    assert resolved["style"]["method"] == "gram" and resolved["optim"]["lr"] == 0.02  # the preset's
    assert resolved["size"] == 99  # the flag
    assert isinstance(resolved["weights"]["style"], float)  # the backbone's default, resolved
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["mesh", "image"])
def test_text_loss_weights_are_flags_of_both_commands(run_cli, monkeypatch, command) -> None:
    _refuse_to_load(monkeypatch)
    code, stdout, err = run_cli(command, "--text", "stained glass", "--patch-weight", "120",
                                "--directional-weight", "7", "--print-config")
    assert code == 0, err
    resolved = tomllib.loads(stdout)["clip_text"]
    assert (resolved["patch_weight"], resolved["directional_weight"]) == (120.0, 7.0)


def test_print_config_still_refuses_a_bad_option(run_cli, capsys) -> None:
    code, stdout, err = run_cli("mesh", "-b", "alexnet", "--print-config")
    assert code != 0 and not stdout and "unknown backbone 'alexnet'" in err


def test_image_refuses_an_existing_output_unless_overwrite(run_cli, images, tmp_path) -> None:
    content, style = images
    out = tmp_path / "o.png"
    out.write_bytes(b"the user's earlier result")
    args = ("image", content, "-s", style, "-o", out, "--size", "48", "--backbone", "patch", "--iters", "1", "-q")
    code, _, err = run_cli(*args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "output exists; replace it with --overwrite" in err
    assert out.read_bytes() == b"the user's earlier result"

    code, _, err = run_cli(*args, "--overwrite")
    assert code == 0, err
    assert out.read_bytes().startswith(b"\x89PNG")


def _no_unwrap(*args: object) -> None:
    raise AssertionError("restyle render must not unwrap")


def test_render_shows_meshes_without_uvs_without_unwrapping(run_cli, monkeypatch, tmp_path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
    from meshes_fixtures import uv_less_obj, vertex_colored_ply

    from restyle.io import meshes, unwrap

    monkeypatch.setattr(meshes, "parametrize", _no_unwrap)
    monkeypatch.setattr(unwrap, "_xatlas_parametrize", _no_unwrap)
    for mesh in (uv_less_obj(tmp_path), vertex_colored_ply(tmp_path)):
        sheet = tmp_path / f"{mesh.stem}.png"
        code, _, err = run_cli("render", mesh, "-o", sheet, "--views", "2", "--size", "48")
        assert code == 0, err
        assert err.splitlines()[0] == f"restyle render: loading {mesh.name}…"
    spread = {name: _colour_spread(tmp_path / f"{name}.png") for name in ("tetra", "colored")}
    assert spread["tetra"] < 0.05 < 0.1 < spread["colored"]  # grey without colours; the PLY colours (face means)


def _colour_spread(path: Path) -> float:
    from restyle.io.images import load_image

    image = load_image(path)
    return float((image.max(dim=0).values - image.min(dim=0).values).max())
