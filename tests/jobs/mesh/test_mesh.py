"""`restyle mesh` end to end on tiny assets: every preset x backbone, resume equivalence, the palette loss
on covered texels only, outputs that reload with identical geometry, and bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from mesh_job_fixtures import PATCH, TINY, merge, mesh_job, tiny

from restyle.api import stylize_mesh
from restyle.configs import load_toml
from restyle.errors import ConfigError, InputError
from restyle.io.images import load_image
from restyle.io.meshes import load_mesh
from restyle.jobs.mesh import step as mesh_step
from restyle.jobs.mesh.run import MESH_PRESETS, Interrupted
from restyle.objectives.style import content_objective


@pytest.mark.parametrize("preset", sorted(MESH_PRESETS))
@pytest.mark.parametrize("backbone", ["patch", "vgg16", "clip-rn50"])
def test_every_preset_and_backbone_runs(box, style, tmp_path, random_weights_dir, preset, backbone) -> None:
    out = tmp_path / "out"
    options = merge(TINY, {"style": {"backbone": backbone}, "pretrained": {"weights_dir": random_weights_dir}})
    result = stylize_mesh(box, [style], out, preset=preset, **options)

    assert result.glb.is_file() and result.obj.is_file() and result.obj.with_suffix(".mtl").is_file()
    for name in ("before_after.png", "config.toml", "metrics.jsonl", "residual_0.png", "coverage_0.png",
                 "checkpoint.pt"):
        assert (out / name).is_file(), name
    # the paper's palette loss; the CPU presets start from the style's colours instead (recolour)
    palette = MESH_PRESETS[preset].get("palette", {}).get("source") != "none"
    assert (out / "palette.png").is_file() == palette
    assert (result.config.texture.recolour == "style") != palette
    entries = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in entries] == [1, 2]
    assert {"style", "content", "total"} <= set(entries[0]) and ("palette" in entries[0]) == palette
    assert load_toml(out / "config.toml")["style"]["backbone"] == backbone


def test_outputs_reload_with_identical_geometry(box, style, tmp_path) -> None:
    result = stylize_mesh(box, [style], tmp_path / "out", **tiny(style=PATCH))
    source = load_mesh(box)
    for exported in (result.glb, result.obj):
        again = load_mesh(exported)
        np.testing.assert_array_equal(again.vertices, source.vertices)
        np.testing.assert_array_equal(again.faces, source.faces)
        np.testing.assert_array_equal(again.uv, source.uv)
    reloaded = load_mesh(result.glb).slots[0].image
    assert reloaded.shape[:2] == tuple(result.textures[0].shape[-2:])
    assert np.abs(reloaded - result.textures[0].permute(1, 2, 0).numpy()).max() < 1.5 / 255


@pytest.mark.parametrize(
    "relative", ["spot/spot.obj", "box_textured/BoxTextured.glb", "spider/spider.obj"]
)
def test_stylised_bundled_assets_keep_their_geometry_and_validate(
    assets, style, tmp_path, request, relative
) -> None:
    source_path = assets / "meshes" / relative
    result = stylize_mesh(source_path, [style], tmp_path / "out", **tiny(style=PATCH))
    # geometry is checked with trimesh alone, so it holds whether or not node (the validator) is installed
    source, exported = _world_triangles(source_path), _world_triangles(result.glb)
    np.testing.assert_array_equal(exported[:, :, :3], source[:, :, :3])
    np.testing.assert_allclose(exported[:, :, 3:], source[:, :, 3:], rtol=0, atol=2.0**-23)  # glTF's v flip
    if shutil.which("node") is not None:
        report = request.getfixturevalue("gltf_validator")(result.glb)
        assert report["issues"]["numErrors"] == 0, report["issues"]["messages"][:5]


def _world_triangles(path: Path) -> np.ndarray:
    """``[F, 3, 5]`` every triangle's corner positions (float32, world space) and UVs as trimesh reads the
    file, in a canonical order: independent of restyle's loader, vertex numbering and part order."""
    scene = trimesh.load_scene(path, process=False)
    triangles = []
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geometry = scene.geometry[name]
        positions = trimesh.transformations.transform_points(geometry.vertices, transform).astype(np.float32)
        corners = np.concatenate((positions, np.asarray(geometry.visual.uv, dtype=np.float32)), axis=1)
        triangles.append(corners[geometry.faces])
    flat = np.concatenate(triangles).reshape(-1, 15)
    order = np.lexsort(flat[:, ::-1].T)  # lexsort's last key is the primary one
    return flat[order].reshape(-1, 3, 5)


def test_stylisation_changes_the_texture_and_lowers_the_style_loss(box, style, tmp_path) -> None:
    options = merge(TINY, {"style": {"backbone": "patch"}, "palette": {"source": "none"},
                           "optim": {"iters": 30, "lr": 0.05, "log_every": 1},
                           "outputs": {"checkpoint_every": 0}})
    result = stylize_mesh(box, [style], tmp_path / "out", **options)
    entries = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    first, last = np.mean([e["style"] for e in entries[:3]]), np.mean([e["style"] for e in entries[-3:]])
    assert last < 0.9 * first
    assert _mean_change(load_mesh(box).slots[0].image, result.textures[0]) > 0.05


def _mean_change(original: np.ndarray, texture: torch.Tensor) -> float:
    """Mean absolute difference of a [3,Ht,Wt] result from the [Ht',Wt',3] source texture at its size."""
    source = torch.from_numpy(np.ascontiguousarray(original)).permute(2, 0, 1)[None].float()
    source = torch.nn.functional.interpolate(source, size=texture.shape[1:], mode="area")[0]
    assert texture.shape[0] == 3
    return float((texture.float().cpu() - source).abs().mean())


def test_interrupted_then_resumed_equals_uninterrupted(box, style, tmp_path) -> None:
    options = merge(TINY, {"style": {"backbone": "patch"}, "optim": {"iters": 6, "log_every": 1},
                           "outputs": {"checkpoint_every": 100}})
    straight = stylize_mesh(box, [style], tmp_path / "straight", **options)

    def stop_at_4(info) -> None:
        if info.step == 4:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="--resume"):
        stylize_mesh(box, [style], tmp_path / "cut", on_step=stop_at_4, **options)
    # the log is appended as the run goes: it holds the steps up to the interruption
    cut_lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in cut_lines] == [1, 2, 3, 4]
    resumed = stylize_mesh(resume=tmp_path / "cut")

    assert resumed.steps == 6
    for a, b in zip(straight.textures, resumed.textures, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5, 6]



def test_a_bf16_run_resumed_equals_uninterrupted(box, style, tmp_path) -> None:
    """bf16 (real VGG19 under autocast) keeps resume exact: a resumed step runs the same ops in the same order.
    (The whole resume path, files included, is the fp32 test above; this one resumes the job's state.)"""
    options = merge(TINY, {"style": {"backbone": "vgg19"}, "optim": {"precision": "bf16"},
                           "render": {"views_per_step": 1}})
    straight = mesh_job(options, box, [style], tmp_path / "out")
    assert straight.nets.style.precision.name == "bf16"
    for _ in range(2):
        straight.step()
    cut = mesh_job(options, box, [style], tmp_path / "out")
    cut.step()
    path = tmp_path / "checkpoint.pt"
    torch.save(cut.state_dict(), path)
    resumed = mesh_job(options, box, [style], tmp_path / "out")
    resumed.load_state_dict(torch.load(path, weights_only=True))
    resumed.step()
    for a, b in zip(straight.textures(), resumed.textures(), strict=True):
        assert torch.equal(a, b)


def _palette_distance(texture: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Per texel, the distance to the nearest palette colour: [Ht,Wt]."""
    colours = texture.permute(1, 2, 0).reshape(-1, 1, 3)
    return (colours - palette[None]).norm(dim=-1).min(dim=1).values.reshape(texture.shape[-2:])


def test_palette_loss_moves_covered_texels_and_leaves_uncovered_alone(box, style, tmp_path) -> None:
    job = mesh_job(TINY, box, [style], tmp_path / "out", style=PATCH, weights={"style": 0.0, "content": 0.0},
                   palette={"source": "#ff0000,#0000ff", "weight": 1.0}, optim={"lr": 0.05}, render={"view_pool": 1})
    assert not job.coverage[0].any()  # nothing seen before the first step: the palette term must cope
    before = job.textures()[0].detach().clone()
    for _ in range(5):
        job.step()
    after = job.textures()[0].detach()
    covered = job.coverage[0]
    assert covered.any() and (~covered).any()  # a single view sees part of the texture only

    assert torch.equal(after[:, ~covered], before[:, ~covered])
    closer = _palette_distance(after, job.palette) < _palette_distance(before, job.palette) - 1e-4
    assert closer[covered].float().mean() > 0.9


def test_palette_loss_pulls_back_a_texel_pushed_past_one(box, style, tmp_path) -> None:
    """The palette loss sees original + residual unclamped (the paper's): a texel at 1.3 against a white palette
    is 0.3 from it and is pulled down; its clamped value, 1, would sit on the palette and get no pull."""
    job = mesh_job(TINY, box, [style], tmp_path / "out", style=PATCH, weights={"style": 0.0, "content": 0.0},
                   palette={"source": "#ffffff", "weight": 1.0}, render={"view_pool": 1})
    job.coverage = [torch.ones_like(covered) for covered in job.coverage]  # every texel in the palette loss
    param = job.params[0]
    with torch.no_grad():
        param.layers[0].copy_(1.3 - param.original)
    mesh_step.texture_terms(job)["palette"].backward()

    assert torch.all(param.layers[0].grad > 0)  # descending lowers the texels towards white
    assert torch.all(job.textures()[0] == 1.0)  # what the renders see: clamped, on the palette


@pytest.mark.parametrize("content_backbone", ["vgg16", "patch"])
def test_paper_setting_sums_layers_and_smooths_clip_features(
    box, style, tmp_path, random_weights_dir, monkeypatch, content_backbone
) -> None:
    """clip-rn50 style: smoothing 1 and NNFM summed over taps; the content loss combines its taps as its backbone
    says (sum for the paper's vgg16, mean for patch); all written resolved into config.toml."""
    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs.get("reduction"))
        return content_objective(*args, **kwargs)

    monkeypatch.setattr("restyle.jobs.mesh.step.content_objective", spy)
    options = merge(TINY, {"style": {"backbone": "clip-rn50", "content_backbone": content_backbone},
                           "pretrained": {"weights_dir": random_weights_dir}, "optim": {"iters": 1}})
    stylize_mesh(box, [style], tmp_path / "out", **options)

    written = load_toml(tmp_path / "out" / "config.toml")
    expected = "sum" if content_backbone == "vgg16" else "mean"
    assert seen == [expected]
    assert (written["style"]["smoothing"], written["style"]["style_reduction"]) == (1.0, "sum")
    assert written["style"]["content_reduction"] == expected
    assert written["weights"]["style"] == 1e4


def test_missing_mesh_and_bad_style_are_clear_and_write_nothing(box, style, tmp_path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError, match="nope.obj"):
        stylize_mesh(tmp_path / "nope.obj", [style], out, **TINY)
    assert not out.exists()
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    with pytest.raises(InputError, match="fake.png"):
        stylize_mesh(box, [fake], out, **TINY)
    assert not out.exists()


def test_bad_turntable_format_fails_before_any_work(box, style, tmp_path) -> None:
    with pytest.raises(ConfigError, match="must be one of none, gif, mp4"):
        stylize_mesh(box, [style], tmp_path / "out", **merge(TINY, {"outputs": {"turntable": "webm"}}))
    assert not (tmp_path / "out").exists()


def test_empty_text_prompt_is_refused(box, style, tmp_path) -> None:
    with pytest.raises(ConfigError, match="text prompt is empty"):
        stylize_mesh(box, [style], tmp_path / "out", text="  ", **TINY)
    assert not (tmp_path / "out").exists()


def test_resume_with_an_incompatible_config_is_an_input_error(box, style, tmp_path) -> None:
    stylize_mesh(box, [style], tmp_path / "out", **tiny(style=PATCH))
    with pytest.raises(InputError, match="checkpoint.pt: cannot resume"):
        stylize_mesh(resume=tmp_path / "out", render={"texture_size": 48})  # residual shape differs


def test_resume_of_a_folder_without_checkpoint_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no config.toml"):
        stylize_mesh(resume=tmp_path)


def test_before_after_sheet_has_two_rows(box, style, tmp_path) -> None:
    stylize_mesh(box, [style], tmp_path / "out", **tiny(style=PATCH))
    sheet = load_image(tmp_path / "out" / "before_after.png")
    assert sheet.shape[1] >= 2 * 48
