"""`restyle render` with `rgbd`: each view of the sheet as a colour PNG, an exact 16-bit depth PNG and its camera."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from restyle.errors import ConfigError
from restyle.io.depth import read_depth
from restyle.jobs.render import run as render_asset
from restyle.render.camera import Cameras
from restyle.render.geometry import geometry_and_textures
from restyle.render.raster import rasterize
from restyle.run.previews import sheet_cameras
from restyle.sections import RenderAssetConfig

SIZE, VIEWS = 48, 3


@pytest.fixture
def scene(box: Path, tmp_path: Path) -> tuple[RenderAssetConfig, render_asset.RenderAssetResult]:
    config = RenderAssetConfig(mesh=box, output=tmp_path / "sheet.png", views=VIEWS, size=SIZE,
                               rgbd=tmp_path / "rgbd")
    return config, render_asset.run(config)


def _reference(box: Path, config: RenderAssetConfig):
    """The asset's geometry and the sheet's cameras, rebuilt independently of the pipeline's writer."""
    geometry, _, _ = geometry_and_textures(render_asset._viewable_mesh(box))
    return geometry, sheet_cameras(geometry, n_views=config.views, size=config.size, seed=config.seed)


def test_the_folder_holds_a_colour_and_depth_pair_per_view_and_the_cameras(scene) -> None:
    config, result = scene
    assert result.rgbd == config.rgbd and result.sheet.is_file()
    names = sorted(p.name for p in config.rgbd.iterdir())
    expected = [f"view_{i:02d}{kind}.png" for i in range(VIEWS) for kind in ("", "_depth")] + ["views.json"]
    assert names == sorted(expected)
    for index in range(VIEWS):
        with Image.open(config.rgbd / f"view_{index:02d}.png") as colour:
            assert colour.mode == "RGB" and colour.size == (SIZE, SIZE)
        with Image.open(config.rgbd / f"view_{index:02d}_depth.png") as depth:
            assert depth.mode.startswith("I") and depth.size == (SIZE, SIZE)  # 16-bit grey
    scene_file = json.loads((config.rgbd / "views.json").read_text())
    assert len(scene_file["views"]) == VIEWS and scene_file["depth_scale"] > 0
    assert "units" in scene_file and "BoxTextured.glb" in scene_file["units"]
    for index, view in enumerate(scene_file["views"]):
        assert view["colour"] == f"view_{index:02d}.png" and view["depth"] == f"view_{index:02d}_depth.png"
        assert (view["width"], view["height"]) == (SIZE, SIZE)
        assert view["fov_y_degrees"] == pytest.approx(40.0, abs=1e-4)
        forward, up = np.array(view["forward"]), np.array(view["up"])
        assert np.linalg.norm(forward) == pytest.approx(1.0) and abs(forward @ up) < 1e-6
        to_target = np.array(view["target"]) - np.array(view["eye"])
        assert np.allclose(to_target / np.linalg.norm(to_target), forward, atol=1e-6)


def test_depth_is_exact_where_the_surface_is_and_a_hole_on_background(box: Path, scene) -> None:
    config, _ = scene
    geometry, cameras = _reference(box, config)
    exact = rasterize(geometry, cameras)  # un-supersampled: what the depth files hold
    fine = rasterize(geometry, cameras.resized(2 * SIZE, 2 * SIZE))  # what the colour views were shaded from
    colour_mask = torch.nn.functional.avg_pool2d(fine.mask, 2)[:, 0].numpy()
    scales = set()
    for index in range(VIEWS):
        depth, scale = read_depth(config.rgbd / f"view_{index:02d}_depth.png")
        scales.add(scale)
        hole = np.isnan(depth)
        assert np.array_equal(hole, exact.mask[index, 0].numpy() == 0)
        assert hole.any() and (~hole).any()
        assert np.all(depth[~hole] > 0)
        assert np.abs(depth[~hole] - exact.depth[index].double().numpy()[~hole]).max() <= scale / 2 + 1e-9
        # the colour view shows the background exactly where no sub-sample hit, and the object where all did
        assert hole[colour_mask[index] == 0].all() and not hole[colour_mask[index] == 1].any()
        with Image.open(config.rgbd / f"view_{index:02d}.png") as image:
            colour = np.asarray(image)
        assert (colour[colour_mask[index] == 0] == 255).all()
    assert len(scales) == 1  # one scale for the whole scene
    assert scales == {json.loads((config.rgbd / "views.json").read_text())["depth_scale"]}


def test_depths_agree_with_the_cameras_distance_to_the_mesh(box: Path, scene) -> None:
    config, _ = scene
    geometry, _ = _reference(box, config)
    centre = (geometry.center.double() + geometry.origin).numpy()
    views = json.loads((config.rgbd / "views.json").read_text())["views"]
    for index, view in enumerate(views):
        depth, _ = read_depth(config.rgbd / f"view_{index:02d}_depth.png")
        distance = np.linalg.norm(np.array(view["eye"]) - centre)
        assert abs(np.nanmedian(depth) - distance) < geometry.radius
        assert np.nanmax(depth) < distance + geometry.radius


def test_a_depth_pixel_back_projects_onto_the_mesh_with_the_written_camera(box: Path, scene) -> None:
    config, _ = scene
    geometry, _ = _reference(box, config)
    view = json.loads((config.rgbd / "views.json").read_text())["views"][0]
    depth, _ = read_depth(config.rgbd / "view_00_depth.png")
    row, col = SIZE // 2, SIZE // 2
    assert np.isfinite(depth[row, col])
    # the pixel centre's ray, scaled to view depth 1, in the camera's frame (looking down -z)
    tan_half = math.tan(math.radians(view["fov_y_degrees"]) / 2)
    ray = np.array([((col + 0.5) / SIZE * 2 - 1) * tan_half, (1 - (row + 0.5) / SIZE * 2) * tan_half, -1.0])
    world_to_camera = np.array(view["world_to_camera"])
    point = world_to_camera[:3, :3].T @ (ray * depth[row, col] - world_to_camera[:3, 3])
    camera = Cameras.look_at(view["eye"], view["target"], fov_y=math.radians(view["fov_y_degrees"]))
    assert np.allclose(camera.world_to_view[0].numpy(), world_to_camera, atol=1e-4)
    # BoxTextured is the cube [-0.5, 0.5]^3: a surface point lies on one of its faces
    assert np.abs(point).max() == pytest.approx(0.5, abs=1e-3)


def test_a_folder_that_already_holds_a_scene_is_refused_with_nothing_changed(box: Path, scene) -> None:
    config, _ = scene
    before = _snapshot(config.output.parent)
    again = RenderAssetConfig(mesh=box, output=config.output.parent / "other.png", views=VIEWS, size=SIZE,
                              rgbd=config.rgbd)
    with pytest.raises(ConfigError, match=r"rgbd: already holds an RGB-D scene \(views\.json\); choose another"):
        render_asset.run(again)
    assert _snapshot(config.output.parent) == before


def test_an_rgbd_path_that_is_a_file_is_refused_up_front(box: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file")
    config = RenderAssetConfig(mesh=box, output=tmp_path / "sheet.png", size=SIZE, rgbd=tmp_path / "taken")
    with pytest.raises(ConfigError, match="output must be a folder"):
        render_asset.run(config)
    assert not (tmp_path / "sheet.png").exists()


@pytest.mark.parametrize(
    ("sheet", "role"),
    [
        ("rgbd/view_00.png", "colour of RGB-D view 0"),
        ("rgbd/view_02_depth.png", "depth of RGB-D view 2"),
        ("rgbd/../rgbd/view_01.png", "colour of RGB-D view 1"),  # the same file by another spelling
        ("rgbd", "RGB-D folder"),  # with --rgbd rgbd.png below: the folder cannot be made where the sheet is
    ],
)
def test_a_sheet_that_is_one_of_the_rgbd_files_is_refused_before_anything(box, tmp_path, monkeypatch, sheet,
                                                                           role) -> None:
    monkeypatch.setattr(render_asset, "load_mesh", lambda *a, **k: pytest.fail("loaded before the check"))
    folder = tmp_path / ("rgbd.png" if sheet == "rgbd" else "rgbd")
    output = tmp_path / ("rgbd.png" if sheet == "rgbd" else sheet)
    config = RenderAssetConfig(mesh=box, output=output, views=VIEWS, size=SIZE, rgbd=folder)
    with pytest.raises(ConfigError, match=rf"both the sheet and the {role} would be written there"):
        render_asset.run(config)
    assert list(tmp_path.iterdir()) == []


def test_cli_sheet_named_view_00_in_the_rgbd_folder_is_one_line_exit_2(run_cli, box, tmp_path) -> None:
    code, out, err = run_cli("render", box, "-o", tmp_path / "rgbd" / "view_00.png", "--rgbd", tmp_path / "rgbd",
                             "--views", VIEWS, "--size", SIZE)
    assert code == 2 and out == "" and err.strip().count("\n") == 0 and "view_00.png" in err
    assert list(tmp_path.iterdir()) == []


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    files = (p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
