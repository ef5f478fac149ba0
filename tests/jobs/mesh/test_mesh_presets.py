"""What a mesh run resolves to when it is told little: the preset by device (no ``--preset``: preview on a CPU,
paper on a CUDA GPU, each said in one line; ``--preset none``: the bare defaults), the style backbone ``auto`` by
the weights found here, both shown by ``--print-config``; and the presets the web app offers."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from mesh_job_fixtures import TINY, merge

from restyle import api
from restyle.configs import dump_toml, load_toml, resolve
from restyle.errors import WeightsMissingError
from restyle.jobs.mesh.config import MESH_PRESETS, MeshConfig
from restyle.sections import OptimConfig
from restyle.web.actions import MESH_PRESETS as WEB_PRESETS

CPU_LINE = "no --preset: preview (CPU; about 5 minutes) - --preset paper for the paper's settings"
GPU_LINE = "no --preset: paper (CUDA GPU; the paper's settings) - --preset preview for a quick look"
PREVIEW = MESH_PRESETS["preview"]
VGG19_LINE = ("backbone auto: vgg19 (shipped; the paper's clip-rn50 and vgg16 weights were not found - "
              "`restyle weights download clip-rn50 && restyle weights download vgg16` to use them)")


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch):
    """``cuda(True)``: the machine says it has a CUDA device (only ``device = auto`` asks; nothing runs on it)."""
    return lambda present: monkeypatch.setattr(torch.cuda, "is_available", lambda: present)


def _preset(name: str) -> MeshConfig:
    return resolve(MeshConfig(), presets=MESH_PRESETS, preset=name, config_file=None, flags={})


def test_no_preset_on_a_cpu_is_preview_and_says_so(cuda) -> None:
    cuda(False)
    lines: list[str] = []
    config = api.mesh_config(on_phase=lines.append)
    assert config == _preset("preview") and config.optim.iters == PREVIEW["optim"]["iters"]
    assert lines == [CPU_LINE]


def test_no_preset_on_a_cuda_machine_is_paper_unless_the_run_is_told_cpu(cuda) -> None:
    cuda(True)
    lines: list[str] = []
    assert api.mesh_config(on_phase=lines.append) == _preset("paper")
    told_cpu = api.mesh_config(device="cpu", on_phase=lines.append)  # the run's device decides
    assert told_cpu == dataclasses.replace(_preset("preview"), device="cpu")
    assert lines == [GPU_LINE, CPU_LINE]


def test_preset_none_is_the_bare_defaults_and_a_named_preset_says_nothing(cuda) -> None:
    cuda(False)
    lines: list[str] = []
    assert api.mesh_config(preset="none", on_phase=lines.append) == MeshConfig()
    assert api.mesh_config(preset="draft", on_phase=lines.append) == _preset("draft")
    assert lines == []


def test_a_config_file_still_applies_on_top_of_the_devices_preset(cuda, tmp_path) -> None:
    cuda(False)
    file = tmp_path / "mine.toml"
    file.write_text("[optim]\niters = 7\n")
    config = api.mesh_config(config_file=file)
    assert config.optim.iters == 7 and config.optim.lr == PREVIEW["optim"]["lr"]
    assert config.render.texture_size == PREVIEW["render"]["texture_size"]


def test_a_resumed_run_takes_its_config_toml_without_a_devices_preset(cuda, tmp_path) -> None:
    cuda(False)
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.toml").write_text(dump_toml(MeshConfig(optim=OptimConfig(iters=11))))
    (folder / "checkpoint.pt").write_bytes(b"")
    lines: list[str] = []
    config = api.mesh_config(resume=folder, on_phase=lines.append)
    assert config.optim.iters == 11 and config.render.texture_size == 1024 and lines == []


def test_backbone_auto_resolves_at_config_time_and_says_so(cuda, offline_caches, random_weights_dir) -> None:
    cuda(False)
    lines: list[str] = []
    absent = api.resolved_config(api.mesh_config(preset="none"), lines.append)
    assert (absent.style.backbone, absent.style.content_backbone) == ("vgg19", "vgg19")
    here = api.resolved_config(api.mesh_config(preset="none", pretrained={"weights_dir": random_weights_dir}),
                               lines.append)
    assert (here.style.backbone, here.style.content_backbone) == ("clip-rn50", "vgg16")
    assert lines == [VGG19_LINE, "backbone auto: clip-rn50 (the paper's)"]


def test_shared_content_pass_is_off_when_auto_picks_two_networks(random_weights_dir, offline_caches) -> None:
    """A preset's shared pass needs one network: auto's clip-rn50 + vgg16 quietly take two passes, auto's vgg19
    keeps the one (test_mesh_texture: a named pair follows the same rule)."""
    shared = {"texture": {"shared_content_pass": True}, "preset": "none"}
    two = api.resolved_config(api.mesh_config(**shared, pretrained={"weights_dir": random_weights_dir}))
    one = api.resolved_config(api.mesh_config(**shared))
    assert (two.style.backbone, two.texture.shared_content_pass) == ("clip-rn50", False)
    assert (one.style.backbone, one.texture.shared_content_pass) == ("vgg19", True)


def test_an_explicit_clip_rn50_without_its_weights_is_the_clear_error(box, style, tmp_path, offline_caches) -> None:
    with pytest.raises(WeightsMissingError, match="no pretrained weights for backbone 'clip-rn50'.*weights download"):
        api.stylize_mesh(box, [style], tmp_path / "out", **merge(TINY, {"style": {"backbone": "clip-rn50"}}))


def test_a_run_without_preset_or_weights_runs_vgg19_and_says_both(box, style, tmp_path, offline_caches, cuda) -> None:
    cuda(False)
    lines: list[str] = []
    result = api.stylize_mesh(box, [style], tmp_path / "out", on_phase=lines.append,
                              **merge(TINY, {"optim": {"iters": 1}}))
    assert lines[:2] == [CPU_LINE, VGG19_LINE]  # before the job's own lines, after its checks
    written = load_toml(tmp_path / "out" / "config.toml")
    assert written["style"]["backbone"] == result.config.style.backbone == "vgg19"
    assert written["optim"]["lr"] == PREVIEW["optim"]["lr"]


def test_print_config_shows_the_resolved_preset_and_backbone(run_cli, cuda, offline_caches, random_weights_dir) -> None:
    cuda(False)
    code, out, err = run_cli("mesh", "--print-config")
    assert code == 0
    assert 'backbone = "vgg19"' in out and f"iters = {PREVIEW['optim']['iters']}" in out
    assert f"texture_size = {PREVIEW['render']['texture_size']}" in out
    assert err.splitlines() == [f"restyle mesh: {CPU_LINE}…", f"restyle mesh: {VGG19_LINE}…"]
    code, out, err = run_cli("mesh", "--print-config", "--preset", "none", "--weights-dir", random_weights_dir)
    assert code == 0 and 'backbone = "clip-rn50"' in out and "iters = 15000" in out
    assert err.splitlines() == ["restyle mesh: backbone auto: clip-rn50 (the paper's)…"]
    code, out, err = run_cli("mesh", "--print-config", "--quiet")
    assert code == 0 and 'backbone = "vgg19"' in out and err == ""


def test_an_unknown_preset_lists_none_too(cuda) -> None:
    cuda(False)
    with pytest.raises(Exception, match="unknown preset 'fast'; valid: draft, none, paper, preview, quality"):
        api.mesh_config(preset="fast")


def test_the_quality_preset_sits_between_preview_and_paper_and_the_web_offers_every_preset() -> None:
    quality, preview = _preset("quality"), _preset("preview")
    assert quality.optim.iters > preview.optim.iters and quality.render.texture_size == 1024
    assert (quality.render.render_size, quality.render.views_per_step) == (224, 4)
    assert WEB_PRESETS == tuple(MESH_PRESETS) == ("paper", "quality", "preview", "draft")


def test_the_cpu_presets_carry_the_measured_texture_options_and_grow_in_size() -> None:
    """draft < preview < quality in render and texture size; all three start recoloured to the style, see it at
    twice the render size, share one backbone pass and draw from a pool of views (bench_quality.py's findings)."""
    draft, preview, quality = (_preset(name) for name in ("draft", "preview", "quality"))
    for config in (draft, preview, quality):
        assert (config.texture.recolour, config.texture.style_scale, config.texture.shared_content_pass) == (
            "style", 2.0, True)
        assert config.render.view_pool > 0
    assert draft.render.render_size < preview.render.render_size < quality.render.render_size
    assert draft.render.texture_size < preview.render.texture_size < quality.render.texture_size
    assert draft.optim.iters < preview.optim.iters < quality.optim.iters


def test_a_text_only_run_on_a_recolouring_preset_starts_from_the_loaded_texture(cuda) -> None:
    """No style image, no style colours: the CPU presets' recolouring is dropped rather than refused."""
    cuda(False)
    config = api.resolved_config(api.mesh_config(text="a mosaic of blue tiles", preset="draft"))
    assert config.texture.recolour == "none" and config.palette.source == "none"
