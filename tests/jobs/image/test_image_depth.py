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


def _change(out: Path, content: Path) -> tuple[float, float]:
    """Mean |output − photo| on the near (left) and the far (right) third."""
    change = (load_image(out) - load_image(content)).abs().mean(0)
    return float(change[:, : W // 3].mean()), float(change[:, -W // 3 :].mean())


def test_a_far_style_keeps_the_near_part_close_to_the_photo(run_cli, scene, tmp_path) -> None:
    """On the default run (Gram on VGG19, whose deep layers see the whole 48 px image) the far style alone bleeds
    into the near half nearly as much as it changes the far one; keep_unmasked (the default) blends the optimised
    pixels in by the masks' coverage, so the near half stays the photo."""
    changes = {}
    for name, flags in (("kept", ()), ("plain", ("--no-keep-unmasked",))):
        out = tmp_path / f"{name}.png"
        code, _, err = run_cli("image", scene["content"], "--style-far", scene["red"], "--depth", scene["depth"],
                               "--size", str(W), "--iters", "8", "-o", out, "-q", *flags)
        assert code == 0, err
        changes[name] = _change(out, scene["content"])
    (kept_near, kept_far), (plain_near, plain_far) = changes["kept"], changes["plain"]
    assert kept_far > 0.05 and kept_near < kept_far / 10
    assert plain_near > plain_far / 3  # the bleed the default removes: without it, this test's first part fails
    assert "keep_unmasked = false" in (tmp_path / "plain.config.toml").read_text()


def test_the_coverage_is_the_style_masks_summed() -> None:
    from restyle.objectives.masked_styles import style_coverage

    far = torch.linspace(0, 1, 5).reshape(1, 1, 1, 5)
    assert torch.equal(style_coverage((far,)), far)
    assert style_coverage((1 - far, far)) is None  # near + far: every pixel fully covered, nothing to keep
    assert style_coverage((None, far)) is None  # an unmasked style covers every pixel
    assert torch.equal(style_coverage((far, far)), (2 * far).clamp(max=1))


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


EMPTY_MASKS = {  # the spellings of a style mask that selects nothing, and what the refusal says of each
    "sigmoid far beyond the depths": (("-s", "{red}", "--style-mask", "sigmoid:5:100", "--depth", "{depth}"),
                                      "style mask 'sigmoid:5:100' selects 0% of the photo (under 0.1%)"),
    "linear zero": (("-s", "{red}@linear:0:0", "--depth", "{depth}"),
                    "style mask 'linear:0:0' selects 0% of the photo"),
    "black mask image": (("-s", "{red}", "--style-mask", "image:{black}"), "black.png' selects 0% of the photo"),
    "depth range beyond every depth": (("--style-far", "{red}", "--depth", "{depth}", "--depth-range", "10", "20"),
                                       "style mask 'far' selects 0.0045% of the photo (under 0.1%): the photo's "
                                       "depth, normalised, spans 0.00..0.00; check the mask and --depth-range"),
}


@pytest.fixture
def black(tmp_path: Path) -> Path:
    path = tmp_path / "black.png"
    save_image(torch.zeros(3, H, W), path)
    return path


def _filled(args: tuple[str, ...], scene: dict[str, Path], black: Path) -> list[str]:
    values = {**{k: str(v) for k, v in scene.items()}, "black": str(black)}
    return [arg.format(**values) for arg in args]


@pytest.mark.parametrize("case", list(EMPTY_MASKS))
def test_a_style_mask_that_selects_nothing_is_refused_before_any_work(run_cli, scene, black, tmp_path, monkeypatch,
                                                                    case) -> None:
    """Refused in one line naming the mask and the share it selects, before a network is built: without the check
    such a run goes to the end and returns the photo unchanged (a mask of exact zeros) or, as the losses normalise
    by the mask, styles the whole photo (a mask faint everywhere)."""
    def no_networks(*args: object, **kwargs: object) -> None:
        raise AssertionError("the networks were built before the empty mask was refused")

    monkeypatch.setattr("restyle.jobs.image.run.build_networks", no_networks)
    args, needle = EMPTY_MASKS[case]
    out = tmp_path / "out.png"
    code, _, err = run_cli("image", scene["content"], *_filled(args, scene, black), "-o", out, *ARGS)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and needle in err and "--allow-empty-mask" in err, err
    assert not list(tmp_path.glob("out*"))


def test_allow_empty_mask_runs_with_a_one_line_warning(run_cli, scene, black, tmp_path) -> None:
    out = tmp_path / "out.png"
    args, _ = EMPTY_MASKS["depth range beyond every depth"]
    code, _, err = run_cli("image", scene["content"], *_filled(args, scene, black), "--allow-empty-mask",
                           "-o", out, *ARGS[:-3], "--iters", "1", "-q")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("restyle image: warning: style mask 'far' selects"), err
    assert "running anyway" in warnings[0] and out.exists()
    assert "allow_empty_mask = true" in (tmp_path / "out.config.toml").read_text()


def test_depth_options_are_refused_with_text(run_cli, scene, tmp_path) -> None:
    code, _, err = run_cli("image", scene["content"], "--text", "stained glass", "--depth", scene["depth"],
                           "-o", tmp_path / "out.png")
    assert code == 2 and "not available with --text" in err


@pytest.mark.parametrize("holes, far_in_hole, near_in_hole", [("far", 1.0, 0.0), ("mask", 0.0, 0.0)])
def test_holes_far_or_masked(scene, tmp_path, holes, far_in_hole, near_in_hole) -> None:
    """A render's background has no depth: ``far`` puts it with the far style, ``mask`` gives it no depth style."""
    from restyle.api import image_config
    from restyle.jobs.image.depth import prepare_depth

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
    from restyle.jobs.image.depth import prepare_depth

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
