"""The `paper` preset of ``restyle mesh`` and the paper's details it switches on: the squashed style image, the
primary style image behind every view."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mesh_job_fixtures import NO_PALETTE, PATCH, mesh_job, tiny

from restyle.io.images import save_image, square_style
from restyle.jobs.mesh.run import MeshConfig

TINY = tiny(render={"views_per_step": 4, "view_pool": 0}, optim={"iters": 1}, palette=NO_PALETTE, style=PATCH,
            outputs={"checkpoint_every": 0})


@pytest.fixture
def wide_style(tmp_path: Path) -> Path:
    """A 2:1 image: red left quarter, green middle, blue right quarter."""
    image = torch.zeros(3, 40, 80)
    image[0, :, :20] = 1.0
    image[1, :, 20:60] = 1.0
    image[2, :, 60:] = 1.0
    path = tmp_path / "wide.png"
    save_image(image, path)
    return path


def test_squash_keeps_the_whole_style_image_and_crop_drops_its_sides(wide_style) -> None:
    squashed = square_style(wide_style, 32, torch.device("cpu"), "squash")
    cropped = square_style(wide_style, 32, torch.device("cpu"), "crop")
    assert squashed.shape == cropped.shape == (1, 3, 32, 32)
    # squashed: the left quarter is still red and the right quarter blue
    assert squashed[0, 0, :, :6].mean() > 0.95 and squashed[0, 2, :, -6:].mean() > 0.95
    # cropped: the centre square of a 2:1 image is the green middle only
    assert cropped[0, 1].mean() > 0.95 and cropped[0, 0].mean() < 0.02 and cropped[0, 2].mean() < 0.02


def _solid(tmp_path: Path, name: str, colour: tuple[float, float, float]) -> Path:
    path = tmp_path / f"{name}.png"
    save_image(torch.tensor(colour, dtype=torch.float32)[:, None, None].expand(3, 32, 32), path)
    return path


@pytest.mark.parametrize(("background", "expect_only_first"), [("primary", True), ("style", False)])
def test_primary_background_is_always_the_first_style_image(box, tmp_path, background, expect_only_first):
    red, blue = _solid(tmp_path, "red", (1, 0, 0)), _solid(tmp_path, "blue", (0, 0, 1))
    job = mesh_job(TINY, box, [red, blue], tmp_path / "out", render={"background": background})
    behind = torch.cat([job.style_backgrounds(4, 64) for _ in range(8)])  # 32 views
    red_views = int((behind[:, 0].mean(dim=(1, 2)) > 0.9).sum())
    assert (red_views == 32) == expect_only_first


def test_paper_preset_resolves_to_the_papers_setting_without_loading_anything(random_weights_dir) -> None:
    """Where the paper's weights are (here random ones in the published formats), backbone auto is its CLIP-RN50."""
    from restyle.configs import resolve
    from restyle.jobs.mesh.run import MESH_PRESETS, resolve_defaults

    config = resolve_defaults(resolve(MeshConfig(), presets=MESH_PRESETS, preset="paper", config_file=None,
                                      flags={"pretrained": {"weights_dir": str(random_weights_dir)}}))
    assert (config.render.views_per_step, config.render.supersample, config.render.view_pool) == (8, 2, 0)
    assert (config.render.background, config.texture.style_fit) == ("primary", "squash")
    assert (config.views.directions, config.views.ambient, config.views.light_power) == ("sphere", 0.0, 0.64)
    assert config.shading.specular <= 0.01
    assert (config.style.backbone, config.style.content_backbone, config.style.smoothing) == ("clip-rn50", "vgg16",
                                                                                              1.0)
    assert (config.style.style_reduction, config.style.content_reduction) == ("sum", "sum")
    assert len(config.style.style_taps) == 9 and config.style.content_taps == ("11", "13", "15")
    assert (config.weights.style, config.weights.content, config.palette.colors) == (1e4, 22.0, 16)
    vgg = resolve_defaults(resolve(MeshConfig(), presets=MESH_PRESETS, preset="paper", config_file=None,
                                   flags={"style": {"backbone": "vgg16"}}))
    assert (vgg.weights.style, vgg.weights.content, vgg.style.smoothing) == (200.0, 1.0, 0.0)
    assert vgg.style.style_taps == ("11", "13", "15")
