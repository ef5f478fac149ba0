"""``restyle image`` with depth: styles blended by depth land in their masks on a synthetic RGB-D scene, a zero mask
sends no style there, and bad depth options fail in one line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from restyle.io.images import load_image, save_image

H, W = 32, 48


@pytest.fixture
def scene(tmp_path: Path) -> dict[str, Path]:
    """A grey photo whose left half is near (1 m) and right half far (5 m), a red and a blue style."""
    generator = torch.Generator().manual_seed(0)
    content = (0.5 + 0.05 * torch.randn(3, H, W, generator=generator)).clamp(0, 1)
    red, blue = torch.zeros(3, 32, 32), torch.zeros(3, 32, 32)
    red[0], blue[2] = 0.9, 0.9
    paths = {name: tmp_path / f"{name}.png" for name in ("content", "red", "blue")}
    for name, image in (("content", content), ("red", red), ("blue", blue)):
        noisy = image if name == "content" else image + 0.1 * torch.rand(3, 32, 32, generator=generator)
        save_image(noisy.clamp(0, 1), paths[name])
    depth = np.ones((H, W))
    depth[:, W // 2 :] = 5.0
    np.save(tmp_path / "depth.npy", depth)
    paths["depth"] = tmp_path / "depth.npy"
    return paths


ARGS = ("-b", "patch", "--method", "nnfm", "--size", str(W), "--iters", "12", "-q")


def _redness(image: torch.Tensor) -> tuple[float, float]:
    """Red minus blue on the left and on the right third of ``[3,H,W]``."""
    difference = image[0] - image[2]
    return float(difference[:, : W // 3].mean()), float(difference[:, -W // 3 :].mean())


def test_near_and_far_styles_land_in_their_halves(run_cli, scene, tmp_path) -> None:
    out = tmp_path / "blended.png"
    code, _, err = run_cli("image", scene["content"], "--style-near", scene["red"], "--style-far", scene["blue"],
                           "--depth", scene["depth"], "-o", out, *ARGS)
    assert code == 0, err
    left, right = _redness(load_image(out))
    assert left > 0.15 and right < -0.15  # red near, blue far

    # the same two styles unmasked: no side is told apart
    plain = tmp_path / "plain.png"
    code, _, err = run_cli("image", scene["content"], "-s", scene["red"], "-s", scene["blue"], "-o", plain, *ARGS)
    assert code == 0, err
    left, right = _redness(load_image(plain))
    assert abs(left - right) < 0.15


def test_file_at_mask_is_the_same_as_style_near_and_far(run_cli, scene, tmp_path) -> None:
    outputs = tmp_path / "a.png", tmp_path / "b.png"
    run_cli("image", scene["content"], "-s", f"{scene['red']}@near", "-s", f"{scene['blue']}@far",
            "--depth", scene["depth"], "-o", outputs[0], *ARGS)
    run_cli("image", scene["content"], "--style-near", scene["red"], "--style-far", scene["blue"],
            "--depth", scene["depth"], "-o", outputs[1], *ARGS)
    assert torch.equal(load_image(outputs[0]), load_image(outputs[1]))
    config = (tmp_path / "a.config.toml").read_text()
    assert 'style_masks = [\n    "near",\n    "far",\n]' in config and "red.png@" not in config


def test_a_zero_mask_sends_no_style_there(run_cli, scene, tmp_path) -> None:
    """With no content and no TV loss, pixels whose style mask is 0 (and whose patches reach no unmasked pixel)
    get no gradient at all, so Adam leaves them exactly as they started."""
    mask = torch.ones(3, H, W)
    mask[:, :, : W // 2] = 0.0
    save_image(mask, tmp_path / "mask.png")
    out = tmp_path / "masked.png"
    code, _, err = run_cli("image", scene["content"], "-s", scene["red"], "--style-mask", f"image:{tmp_path}/mask.png",
                           "--content-weight", "0", "--tv-weight", "0", "-o", out, *ARGS)
    assert code == 0, err
    result, content = load_image(out), load_image(scene["content"])
    far_from_the_edge = slice(0, W // 2 - 12)  # the patch backbone's coarsest level reads 8 px patches at 1/4
    assert torch.equal(result[..., far_from_the_edge], content[..., far_from_the_edge])
    assert (result[..., W // 2 + 12 :] - content[..., W // 2 + 12 :]).abs().mean() > 0.05


def test_a_content_mask_is_written_and_changes_the_result(run_cli, scene, tmp_path) -> None:
    outputs = tmp_path / "a.png", tmp_path / "b.png"
    run_cli("image", scene["content"], "-s", scene["red"], "-o", outputs[0], *ARGS)
    code, _, err = run_cli("image", scene["content"], "-s", scene["red"], "--depth", scene["depth"],
                           "--content-mask", "linear:1:0.2", "-o", outputs[1], *ARGS)
    assert code == 0, err
    assert not torch.equal(load_image(outputs[0]), load_image(outputs[1]))
    assert 'content_mask = "linear:1:0.2"' in (tmp_path / "b.config.toml").read_text()


@pytest.mark.parametrize("extra, needle", [
    (("--style-near", "{red}"), "a depth mask needs the content's depth: give --depth FILE or --estimate-depth"),
    (("--depth", "{depth}", "--estimate-depth"), "give either --depth FILE or --estimate-depth, not both"),
    (("--depth", "{missing}"), "missing.npy: no such file"),
    (("--depth", "{red}", "--content-mask", "far"), "colour image, not a depth map"),
    (("--content-mask", "middle"), "unknown depth mask 'middle'"),
    (("--style-near", "{red}", "--style-far", "{blue}", "--depth", "{depth}", "--style-blend", "1,1"),
     "style_blend and per-style depth masks do not combine"),
    (("--depth", "{depth}", "--depth-range", "5", "1"), "--depth-range NEAR FAR needs NEAR < FAR; got 5 1"),
])
def test_bad_depth_options_fail_in_one_line_and_write_nothing(run_cli, scene, tmp_path, extra, needle) -> None:
    values = {**{k: str(v) for k, v in scene.items()}, "missing": str(tmp_path / "missing.npy")}
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", scene["content"], "-s", scene["red"], "-o", out, *ARGS,
                           *(arg.format(**values) for arg in extra))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert not list(tmp_path.glob("out*"))


def test_depth_options_are_refused_with_text(run_cli, scene, tmp_path) -> None:
    code, _, err = run_cli("image", scene["content"], "--text", "stained glass", "--depth", scene["depth"],
                           "-o", tmp_path / "out.png")
    assert code == 2 and "not available with --text" in err


@pytest.mark.parametrize("holes, far_in_hole, near_in_hole", [("far", 1.0, 0.0), ("mask", 0.0, 0.0)])
def test_holes_far_or_masked(scene, tmp_path, holes, far_in_hole, near_in_hole) -> None:
    """A render's background has no depth: ``far`` puts it with the far style, ``mask`` gives it no depth style."""
    from restyle.api import image_config
    from restyle.pipelines.image_depth import prepare_depth

    depth = np.linspace(1.0, 2.0, H * W).reshape(H, W)
    depth[:8, :8] = 0.0  # a hole
    np.save(tmp_path / "holes.npy", depth)
    config = image_config(scene["content"], [f"{scene['red']}@near", f"{scene['blue']}@far"], tmp_path / "o.png",
                          depth={"file": tmp_path / "holes.npy", "holes": holes})
    guide = prepare_depth(config, torch.rand(1, 3, H, W))
    near, far = guide.style_masks
    assert float(far[..., :6, :6].min()) == pytest.approx(far_in_hole, abs=1e-3)
    assert float(near[..., :6, :6].max()) == pytest.approx(near_in_hole, abs=1e-3)
    assert float(near[..., :4, 24:].min()) > 0.99  # the nearest valid pixels, away from the hole, are near
    assert guide.content_gamma is None and guide.estimator is None


def test_an_rgbd_scene_rendered_by_restyle_feeds_restyle_image(run_cli, assets, scene, tmp_path) -> None:
    """restyle render --rgbd writes a colour view and its 16-bit depth (scale inside); restyle image reads the pair
    without a --depth-scale and puts the render's background (no depth) with the far style."""
    from restyle.api import image_config
    from restyle.pipelines.image_depth import prepare_depth

    code, stdout, err = run_cli("render", assets / "meshes" / "spot" / "spot.obj", "-o", tmp_path / "sheet.png",
                                "--views", "1", "--size", "48", "--rgbd", tmp_path / "scene")
    assert code == 0 and "RGB-D views in" in stdout, err
    view, depth = tmp_path / "scene" / "view_00.png", tmp_path / "scene" / "view_00_depth.png"
    out = tmp_path / "styled.png"
    code, _, err = run_cli("image", view, "--style-near", scene["red"], "--style-far", scene["blue"],
                           "--depth", depth, "--depth-holes", "far", "-o", out, *ARGS[:-3], "--iters", "2", "-q")
    assert code == 0, err
    config = image_config(view, [f"{scene['red']}@near", f"{scene['blue']}@far"], out,
                          depth={"file": depth, "holes": "far"})
    near, far = prepare_depth(config, load_image(view)[None]).style_masks
    corner = (slice(None), slice(None), slice(0, 3), slice(0, 3))  # background in every orbit view
    assert float(far[corner].min()) > 0.999 and float(near[corner].max()) < 1e-3
    assert float(near.max()) > 0.9  # the nearest part of the cow gets the near style


def test_estimated_depth_and_the_depth_loss_run_end_to_end(run_cli, scene, tiny_depth_weights, offline_caches,
                                                          tmp_path) -> None:
    """A tiny random Depth Anything in the published layout: its estimate masks the style, and its output on the
    image is held to its output on the content (the depth term is in the metrics)."""
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", scene["content"], "-s", scene["red"], "--estimate-depth", "--style-mask", "far",
                           "--depth-loss", "10", "--depth-model-size", "56", "--weights-dir", tiny_depth_weights,
                           "-o", out, *ARGS)
    assert code == 0, err
    lines = (tmp_path / "out.metrics.jsonl").read_text().splitlines()
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert first["depth"] == 0.0 and last["depth"] > 0  # zero at the content, then the image moves
    assert "estimate = true" in (tmp_path / "out.config.toml").read_text()


def test_missing_depth_network_is_one_line_with_the_remedies(run_cli, scene, offline_caches, tmp_path) -> None:
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", scene["content"], "-s", scene["red"], "--estimate-depth", "--style-mask", "far",
                           "-o", out, *ARGS)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "depth-anything-small" in err and "restyle weights download depth-anything-small" in err
    assert "--depth FILE" in err and not out.exists()
