"""`restyle image` end to end: every method x backbone for a few steps on tiny images, reproducibility,
outputs and their sidecars, and bad inputs leaving nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restyle.api import stylize_image
from restyle.configs import load_toml
from restyle.errors import ConfigError, InputError, WeightsMissingError
from restyle.io.images import load_image, save_image


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A smooth content image and two textured style images, 48-64 px."""
    torch.manual_seed(1)
    y, x = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing="ij")
    content = torch.stack([x, y, 0.5 * (x + y)])
    stripes = (torch.sin(torch.linspace(0, 40, 64))[None, None].expand(1, 64, 64) > 0).float()
    style_a = torch.cat([stripes, 0.2 * stripes, 1 - stripes])
    style_b = torch.rand(3, 40, 56)
    paths = tmp_path / "content.png", tmp_path / "style_a.png", tmp_path / "style_b.png"
    for image, path in zip((content, style_a, style_b), paths, strict=True):
        save_image(image, path)
    return paths


def _run(photos, out: Path, weights_dir: Path | None = None, **options):
    content, style_a, style_b = photos
    base = {"size": 48, "optim": {"iters": 3, "lr": 0.05}}
    if weights_dir is not None:
        base["pretrained"] = {"weights_dir": weights_dir}
    return stylize_image(content, [style_a, style_b], out, **{**base, **options})


@pytest.mark.parametrize("method", ["nnfm", "gram"])
@pytest.mark.parametrize("backbone", ["patch", "vgg16", "clip-rn50"])
def test_every_method_and_backbone_runs(photos, tmp_path, random_weights_dir, method, backbone) -> None:
    out = tmp_path / "out.png"
    result = _run(photos, out, random_weights_dir, style={"method": method, "backbone": backbone})

    assert result.image.shape == (3, 36, 48)  # long side 48, aspect 48:64 kept
    assert load_image(out).shape == (3, 36, 48)
    entries = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    assert [e["step"] for e in entries] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(e["total"])) for e in entries)
    assert {"style", "content", "total"} <= set(entries[0])
    resolved = load_toml(result.config_path)
    assert resolved["style"]["backbone"] == backbone and resolved["style"]["method"] == method
    assert resolved["weights"]["style"] > 0 and resolved["style"]["style_taps"]  # defaults written resolved


def test_optimisation_lowers_the_style_loss(photos, tmp_path) -> None:
    result = _run(photos, tmp_path / "o.png", style={"backbone": "patch"}, optim={"iters": 25, "lr": 0.05})
    entries = [json.loads(line) for line in result.metrics_path.read_text().splitlines()]
    assert entries[-1]["style"] < 0.8 * entries[0]["style"]


def test_same_seed_same_result(photos, tmp_path) -> None:
    options = {"style": {"backbone": "patch"}, "palette": {"source": "auto", "colors": 3}}
    first = _run(photos, tmp_path / "a.png", **options)
    again = _run(photos, tmp_path / "b.png", **options)
    assert torch.equal(first.image, again.image)


def test_written_config_reproduces_the_run(photos, tmp_path) -> None:
    first = _run(photos, tmp_path / "a.png", style={"backbone": "patch"})
    replay = stylize_image(output=tmp_path / "b.png", config_file=first.config_path)
    assert torch.equal(first.image, replay.image)


def test_missing_content_is_an_input_error_and_writes_nothing(photos, tmp_path) -> None:
    _, style_a, _ = photos
    out = tmp_path / "never.png"
    with pytest.raises(InputError, match="nope.png"):
        stylize_image(tmp_path / "nope.png", [style_a], out, style={"backbone": "patch"})
    assert not list(tmp_path.glob("never*"))


def test_missing_weights_name_the_remedies(photos, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RESTYLE_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(WeightsMissingError, match="--backbone patch"):
        _run(photos, tmp_path / "o.png", style={"backbone": "vgg16"})
    assert not (tmp_path / "o.png").exists()


def test_output_may_not_overwrite_an_input(photos) -> None:
    content, style_a, _ = photos
    with pytest.raises(ConfigError, match="overwrite an input"):
        stylize_image(content, [style_a], style_a, style={"backbone": "patch"})


def test_unknown_backbone_lists_valid_ones(photos, tmp_path) -> None:
    with pytest.raises(ConfigError, match="clip-rn50, patch, vgg16"):
        _run(photos, tmp_path / "o.png", style={"backbone": "resnet9000"})


# ------------------------------------------------------------------------- options of pastiche / neural-style

PATCH = {"backbone": "patch"}


def _one_style(photos, out: Path, style_path: Path, **options):
    content = photos[0]
    return stylize_image(content, [style_path], out, **{"size": 48, "optim": {"iters": 3, "lr": 0.05}, **options})


@pytest.mark.parametrize("method", ["nnfm", "gram"])
def test_style_blend_one_zero_is_the_first_style_alone(photos, tmp_path, method) -> None:
    options = {"style": {**PATCH, "method": method}, "optim": {"iters": 2, "lr": 0.05}}
    blended = _run(photos, tmp_path / "blend.png", style_blend=[1, 0], **options)
    alone = _one_style(photos, tmp_path / "alone.png", photos[1], **options)
    mixed = _run(photos, tmp_path / "mixed.png", style_blend=[0.3, 0.7], **options)

    assert torch.equal(blended.image, alone.image)
    assert not torch.equal(mixed.image, blended.image)
    assert load_toml(blended.config_path)["style_blend"] == [1.0, 0.0]


def test_gram_blend_target_is_the_weighted_mean_and_nnfm_blend_sums_one_loss_per_style() -> None:
    from restyle.backbones.patches import PatchBackbone
    from restyle.losses.gram import gram_matrix
    from restyle.objectives.style import GramObjective, NNFMObjective

    net, taps = PatchBackbone(), ("s1",)
    first, second = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 36, 44)
    gram = GramObjective.from_blend(net, [first, second], [3, 1], taps)
    grams = [gram_matrix(net(image, taps).maps[0])[0] for image in (first, second)]
    assert torch.allclose(gram.targets[0], 0.75 * grams[0] + 0.25 * grams[1], atol=1e-6)

    nnfm = NNFMObjective.from_blend(net, [first, second, first], [1, 0, 3], taps)
    assert nnfm.weights == (0.25, 0.75)  # normalised, the zero-weight style left out
    features = net(torch.rand(1, 3, 40, 40), taps)
    alone = NNFMObjective.from_styles(net, [first], taps)(features)
    assert torch.allclose(nnfm(features), alone, atol=1e-6)  # the same image at 1/4 + 3/4


def test_style_blend_count_and_values_are_checked_before_any_output(photos, tmp_path) -> None:
    out = tmp_path / "o.png"
    with pytest.raises(ConfigError, match="style_blend has 3 weight"):
        _run(photos, out, style=PATCH, style_blend=[1, 1, 1])
    with pytest.raises(ConfigError, match="style_blend' must be >= 0"):
        _run(photos, out, style=PATCH, style_blend=[1, -1])
    with pytest.raises(ConfigError, match="positive sum"):
        _run(photos, out, style=PATCH, style_blend=[0, 0])
    assert not list(tmp_path.glob("o*"))


def test_layer_weights_one_zero_equal_a_run_with_only_the_first_layer(photos, tmp_path) -> None:
    weighted = _run(photos, tmp_path / "w.png", style={**PATCH, "style_taps": ["s1", "s2"], "style_tap_weights": [1, 0],
                                                       "content_taps": ["s2", "s3"], "content_tap_weights": [1, 0]})
    first_only = _run(photos, tmp_path / "f.png", style={**PATCH, "style_taps": ["s1"], "content_taps": ["s2"]})
    equal = _run(photos, tmp_path / "e.png", style={**PATCH, "style_taps": ["s1", "s2"], "style_tap_weights": [2, 2],
                                                    "content_taps": ["s2", "s3"]})
    unweighted = _run(photos, tmp_path / "u.png", style={**PATCH, "style_taps": ["s1", "s2"],
                                                         "content_taps": ["s2", "s3"]})

    assert torch.equal(weighted.image, first_only.image)
    assert torch.allclose(equal.image, unweighted.image, atol=1e-5)  # a weighted mean: only ratios matter
    assert not torch.allclose(weighted.image, unweighted.image, atol=1e-3)


def test_layer_weights_must_match_the_layers(photos, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"style_tap_weights has 3 weight\(s\) for 2 style layers"):
        _run(photos, tmp_path / "o.png", style={**PATCH, "style_taps": ["s0", "s1"], "style_tap_weights": [1, 1, 1]})
    with pytest.raises(ConfigError, match="content_tap_weights has 1 weight"):  # default taps: s2, s3
        _run(photos, tmp_path / "o.png", style={**PATCH, "content_tap_weights": [1]})
    assert not (tmp_path / "o.png").exists()


def test_weighted_mean_of_layer_losses() -> None:
    from restyle.objectives.style import weighted_mean

    losses = [torch.tensor(1.0), torch.tensor(4.0)]
    assert weighted_mean(losses) == 2.5
    assert weighted_mean(losses, (1.0, 0.0)) == 1.0
    assert weighted_mean(losses, (1.0, 3.0)) == 3.25


def test_lbfgs_lowers_the_loss_and_differs_from_adam(photos, tmp_path) -> None:
    options = {"style": PATCH, "optim": {"iters": 8}}
    lbfgs = _run(photos, tmp_path / "l.png", **{**options, "optim": {"iters": 8, "optimizer": "lbfgs"}})
    adam = _run(photos, tmp_path / "a.png", **options)

    totals = [json.loads(line)["total"] for line in lbfgs.metrics_path.read_text().splitlines()]
    assert len(totals) == 8 and totals[-1] < 0.8 * totals[0]
    assert not torch.allclose(lbfgs.image, adam.image, atol=1e-3)
    resolved = load_toml(lbfgs.config_path)["optim"]
    assert (resolved["optimizer"], resolved["lr"]) == ("lbfgs", 1.0)  # its own default step size


def test_one_lbfgs_step_is_one_loss_evaluation_at_any_loss_scale() -> None:
    from restyle.jobs.image.steps import PixelOptimizer
    from restyle.params.pixels import PixelImage

    target = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 1.5 - 0.25  # partly outside
    image = PixelImage(torch.full((1, 3, 8, 8), 0.5))
    optimizer = PixelOptimizer("lbfgs", image, lr=1.0)
    evaluations = []

    def loss_terms(current: torch.Tensor) -> dict[str, torch.Tensor]:
        evaluations.append(1)
        return {"l2": 1e14 * (current - target).pow(2).sum()}  # VGG Gram losses reach 1e14: no overflow

    totals = [float(optimizer.step(loss_terms).total.detach()) for _ in range(10)]
    assert len(evaluations) == 10
    best = 1e14 * float((target.clamp(0, 1) - target).pow(2).sum())
    assert totals[-1] == pytest.approx(best, rel=1e-4)
    assert torch.allclose(image().detach(), target.clamp(0, 1), atol=1e-4)  # the best image in 0..1, and kept


def test_noise_init_is_seeded_and_replaces_the_content(photos, tmp_path) -> None:
    options = {"style": PATCH, "init": "noise", "optim": {"iters": 2}}
    first = _run(photos, tmp_path / "a.png", **options)
    again = _run(photos, tmp_path / "b.png", **options)
    other_seed = _run(photos, tmp_path / "c.png", **{**options, "optim": {"iters": 2, "seed": 1}})
    from_content = _run(photos, tmp_path / "d.png", style=PATCH, optim={"iters": 2})

    assert torch.equal(first.image, again.image)
    assert not torch.equal(first.image, other_seed.image)
    assert (first.image - from_content.image).abs().mean() > 0.05


def test_init_file_is_resized_to_the_contents_exact_size(photos, tmp_path) -> None:
    init = tmp_path / "init.png"
    save_image(torch.rand(3, 20, 50), init)  # another aspect ratio than the content's 48x64
    result = _run(photos, tmp_path / "o.png", style=PATCH, init=str(init), optim={"iters": 0})

    assert result.image.shape == (3, 36, 48)
    expected = torch.nn.functional.interpolate(load_image(init)[None], size=(36, 48), mode="bilinear",
                                               align_corners=False, antialias=True)[0]
    assert torch.allclose(result.image, expected, atol=1e-5)


def test_missing_init_file_is_an_input_error_before_any_output(photos, tmp_path) -> None:
    with pytest.raises(InputError, match="nope.png: no such init image file"):
        _run(photos, tmp_path / "o.png", style=PATCH, init=str(tmp_path / "nope.png"))
    assert not list(tmp_path.glob("o*"))


def test_size_pixels_keeps_the_aspect_ratio_and_style_sizes_apply(photos, tmp_path, monkeypatch) -> None:
    from restyle.jobs.image import run as image_pipeline

    seen = []
    load = image_pipeline.load_run_images

    def spy(*args, **kwargs):
        images = load(*args, **kwargs)
        seen.append([tuple(style.shape[-2:]) for style in images.styles])
        return images

    monkeypatch.setattr(image_pipeline, "load_run_images", spy)
    result = _run(photos, tmp_path / "o.png", style=PATCH, size=None, size_pixels=3000, style_size=56,
                  optim={"iters": 1})
    assert result.image.shape == (3, 47, 63)  # 47 * 63 = 2961 ~ 3000 pixels, 3:4 kept
    assert seen[-1] == [(56, 56), (40, 56)]  # style long side 56 (style_a is 64x64, style_b 40x56)
    assert "size" not in load_toml(result.config_path)  # resolved as a pixel count, replayable

    _run(photos, tmp_path / "p.png", style=PATCH, style_size_pixels=2500, optim={"iters": 1})
    assert seen[-1] == [(50, 50), (42, 59)]  # 2500 and 2478 pixels, aspect kept
    _run(photos, tmp_path / "q.png", style=PATCH, size=None, size_pixels=3000, optim={"iters": 1})
    assert seen[-1] == [(55, 55), (46, 65)]  # no style sizing: the content's rule, 3000 pixels


def test_size_and_size_pixels_together_are_a_config_error(photos, tmp_path) -> None:
    with pytest.raises(ConfigError, match="either size .* or size_pixels"):
        _run(photos, tmp_path / "o.png", style=PATCH, size=48, size_pixels=3000)
    with pytest.raises(ConfigError, match="either style_size .* or style_size_pixels"):
        _run(photos, tmp_path / "o.png", style=PATCH, style_size=40, style_size_pixels=3000)
    assert not list(tmp_path.glob("o*"))


def test_save_every_writes_the_intermediate_images(photos, tmp_path) -> None:
    out = tmp_path / "out.png"
    result = _run(photos, out, style=PATCH, save_every=2, optim={"iters": 4})

    assert result.intermediates == (tmp_path / "out.00002.png", tmp_path / "out.00004.png")
    assert sorted(tmp_path.glob("out.0*.png")) == list(result.intermediates)
    assert torch.allclose(load_image(result.intermediates[-1]), load_image(out))


def test_intermediate_names_may_not_overwrite_an_input(photos, tmp_path) -> None:
    content, style_a, _ = photos
    renamed = tmp_path / "o.00002.png"
    renamed.write_bytes(content.read_bytes())
    with pytest.raises(ConfigError, match="o.00002.png: output would overwrite an input"):
        stylize_image(renamed, [style_a], tmp_path / "o.png", style=PATCH, save_every=2, optim={"iters": 2})


def test_preserve_color_luminance_keeps_the_contents_chroma(photos, tmp_path) -> None:
    from kornia.color import rgb_to_yuv

    from restyle.io.images import resize_long_side

    options = {"style": {**PATCH, "method": "gram"}, "optim": {"iters": 4, "lr": 0.1}}
    kept = _run(photos, tmp_path / "k.png", preserve_color="luminance", **options)
    free = _run(photos, tmp_path / "f.png", **options)
    content = resize_long_side(load_image(photos[0]), 48)

    def chroma_change(image: torch.Tensor) -> float:
        return float((rgb_to_yuv(image)[1:] - rgb_to_yuv(content)[1:]).abs().mean())

    assert chroma_change(kept.image) < 1e-3
    assert chroma_change(free.image) > 10 * chroma_change(kept.image)
    assert (rgb_to_yuv(kept.image)[0] - rgb_to_yuv(content)[0]).abs().mean() > 0.01  # the luminance did change


@pytest.mark.parametrize("mode", ["match", "luminance"])
def test_preserve_color_prepares_the_style_images(photos, mode) -> None:
    from restyle.jobs.image.inputs import Sizing, load_run_images

    content, style_a, style_b = photos
    images = load_run_images(content, [style_a, style_b], content_size=Sizing(48), style_size=Sizing(48),
                             preserve_color=mode, init="content", seed=0, device=torch.device("cpu"))
    content_mean = images.content.mean(dim=(0, 2, 3))
    for style in images.styles:
        if mode == "match":  # the content's colours, up to clipping to 0..1
            assert torch.allclose(style.mean(dim=(0, 2, 3)), content_mean, atol=0.03)
        else:  # grey, the luminance of a style, and the optimisation works on grey images too
            assert torch.equal(style[:, 0], style[:, 1]) and torch.equal(style[:, 1], style[:, 2])
    if mode == "luminance":
        assert torch.equal(images.target[:, 0], images.target[:, 2]) and torch.equal(images.start, images.target)


def test_unknown_preserve_color_and_optimizer_list_the_valid_ones(photos, tmp_path) -> None:
    with pytest.raises(ConfigError, match="none, luminance, match"):
        _run(photos, tmp_path / "o.png", style=PATCH, preserve_color="sepia")
    with pytest.raises(ConfigError, match="adam, lbfgs"):
        _run(photos, tmp_path / "o.png", style=PATCH, optim={"optimizer": "sgd"})


def test_mesh_pipeline_refuses_the_image_only_options(assets, photos, tmp_path) -> None:
    from restyle.api import stylize_mesh

    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    with pytest.raises(ConfigError, match="only available for restyle image"):
        stylize_mesh(box, [photos[1]], tmp_path / "mesh", style=PATCH, optim={"optimizer": "lbfgs"})
    with pytest.raises(ConfigError, match="only available for restyle image"):
        stylize_mesh(box, [photos[1]], tmp_path / "mesh", style={**PATCH, "style_tap_weights": [1, 1, 1, 1]})
    assert not (tmp_path / "mesh").exists()
