"""Long preparation is visible: the jobs name each phase before it starts, in order, through ``on_phase``;
the CLI prints them as lines on stderr before the progress lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from restyle import api, cli
from restyle.io.images import save_image
from restyle.run.precision import resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from meshes_fixtures import uv_less_obj  # noqa: E402

TINY = {"style": {"backbone": "patch"}, "optim": {"iters": 2},
        "render": {"texture_size": 32, "render_size": 48, "views_per_step": 1}}
# the networks' phase names the precision that ``auto`` found on this machine, and why
LOADING_NETWORKS = f"loading networks ({resolve_precision('auto', torch.device('cpu')).describe()})"


@pytest.fixture
def style(tmp_path: Path) -> Path:
    path = tmp_path / "style.png"
    save_image(torch.rand(3, 32, 32), path)
    return path


def test_mesh_phases_come_in_order_and_unwrap_is_named(tmp_path, style) -> None:
    phases: list[str] = []
    api.stylize_mesh(uv_less_obj(tmp_path / "in"), [style], tmp_path / "out", preset="draft", on_phase=phases.append,
                     **{**TINY, "render": {**TINY["render"], "view_pool": 2}})
    assert phases == [
        "loading tetra.obj", "unwrapping tetra.obj (4 faces)", "loading 1 style image", LOADING_NETWORKS,
        "rasterising 2 views", "optimising (2 steps)", f"exporting to {tmp_path / 'out'}",
    ]


def test_textured_mesh_is_not_said_to_unwrap(tmp_path, style, assets) -> None:
    phases: list[str] = []
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    fresh_views = {**TINY, "render": {**TINY["render"], "view_pool": 0}}  # the draft's pool would be rasterised
    api.stylize_mesh(box, [style], tmp_path / "out", preset="draft", on_phase=phases.append, **fresh_views)
    assert phases[:4] == ["loading BoxTextured.glb", "loading 1 style image", LOADING_NETWORKS, "preparing"]
    assert not any(p.startswith("unwrapping") for p in phases)


def test_image_phases_come_in_order(tmp_path, style) -> None:
    content = tmp_path / "content.png"
    save_image(torch.rand(3, 32, 40), content)
    phases: list[str] = []
    api.stylize_image(content, [style], tmp_path / "o.png", on_phase=phases.append, size=40,
                      style={"backbone": "patch"}, optim={"iters": 2})
    assert phases == ["loading content.png and the style image", LOADING_NETWORKS, "optimising (2 steps)",
                      "writing o.png"]


def test_cli_prints_phases_before_progress_lines(monkeypatch, capsys, tmp_path, style) -> None:
    mesh = uv_less_obj(tmp_path / "in")
    monkeypatch.setattr(sys, "argv", ["restyle", "mesh", str(mesh), "-s", str(style), "-o", str(tmp_path / "out"),
                                      "-b", "patch", "-p", "draft", "--iters", "2", "--texture-size", "32",
                                      "--render-size", "48"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[:2] == ["restyle mesh: loading tetra.obj…", "restyle mesh: unwrapping tetra.obj (4 faces)…"]
    optimising = lines.index("restyle mesh: optimising (2 steps)…")
    first_step = next(i for i, line in enumerate(lines) if line.startswith("restyle mesh: step "))
    assert optimising < first_step < lines.index(f"restyle mesh: exporting to {tmp_path / 'out'}…")


def test_quiet_cli_prints_no_phases(monkeypatch, capsys, tmp_path, style) -> None:
    mesh = uv_less_obj(tmp_path / "in")
    monkeypatch.setattr(sys, "argv", ["restyle", "mesh", str(mesh), "-s", str(style), "-o", str(tmp_path / "out"),
                                      "-b", "patch", "-p", "draft", "--iters", "1", "--texture-size", "32",
                                      "--render-size", "48", "-q"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 0
    assert capsys.readouterr().err == ""
