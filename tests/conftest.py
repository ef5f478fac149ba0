"""Shared test fixtures. Tests never touch the network and are never timed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

from restyle.backbones.weights import WEIGHTS_DIR_ENV
from restyle.io.images import save_image

# No hub access in tests, ever: weight loading must go through local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
DEPTH_REPO_FOLDER = "Depth-Anything-V2-Small-hf"  # DIR/<repo name>/model.safetensors, as `hf download --local-dir`
TINY_DEPTH_INPUT = 56  # the tiny depth network's input side: 4 patches of 14
ASSETS = REPO / "assets"
VALIDATOR = REPO / ".tools" / "node_modules" / "gltf-validator"


@pytest.fixture(scope="session")
def assets() -> Path:
    return ASSETS


@pytest.fixture(scope="session")
def box(assets: Path) -> Path:
    """The bundled textured box (GLB): the smallest real asset, for runs of a few steps."""
    return assets / "meshes" / "box_textured" / "BoxTextured.glb"


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _timings_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Mesh runs record their seconds per step (restyle.run.timings): into a file of the test session's, never
    the user's cache (processes the tests start inherit it)."""
    from restyle.run.timings import TIMINGS_ENV

    os.environ[TIMINGS_ENV] = str(tmp_path_factory.mktemp("timings") / "timings.json")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def random_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder holding full-size, randomly initialised checkpoints in the published formats.

    ``vgg16-397923af.pth``: torchvision's state dict layout (``features.*``; a tiny stand-in for the
    unused 120M-parameter classifier). ``open_clip_pytorch_model.bin``: an open_clip CLIP RN50 state
    dict (``visual.*``, the full text tower, ``logit_scale``). Use with
    ``find_checkpoint(name, weights_dir=random_weights_dir)`` to exercise the real loading path.
    """
    from restyle.backbones.testing import write_random_checkpoints

    return write_random_checkpoints(tmp_path_factory.mktemp("weights"))


@pytest.fixture(scope="session")
def gltf_validator() -> Callable[[Path], dict]:
    """``validate(path) -> report``: the Khronos glTF validator's JSON report of a .glb/.gltf file.

    Skipped only where node itself is missing; with node present, a validator that `make test` failed to
    install is an error, not a silent skip.
    """
    if shutil.which("node") is None:
        pytest.skip("node is not installed, so the Khronos glTF validator cannot run")
    if not VALIDATOR.is_dir():
        pytest.fail(f"{VALIDATOR} missing: run `npm install --prefix .tools gltf-validator` (make test does)")
    script = REPO / "tests" / "io" / "validate_gltf.mjs"

    def validate(path: Path) -> dict:
        completed = subprocess.run(
            ["node", str(script), str(path), str(VALIDATOR)], capture_output=True, text=True, check=True, timeout=60
        )
        return json.loads(completed.stdout)

    return validate


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``run_cli(*args) -> (exit code, stdout, stderr)`` of ``restyle *args`` run in this process."""
    from restyle import cli

    def run(*args: object) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["restyle", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def offline_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every cache restyle looks in is an empty temporary folder, and the hub is offline."""
    hub = tmp_path / "hf-hub"
    hub.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(WEIGHTS_DIR_ENV, raising=False)
    return hub


def _tiny_depth_anything(**overrides: object) -> torch.nn.Module:
    """A DepthAnythingForDepthEstimation with a 4-layer, 32-wide DINOv2 and narrow neck, random weights.

    The head's last convolution is widened so the relative (ReLU) output is O(1) and varies over the image,
    which random initialisation alone leaves near 1e-7: comparisons below would then prove nothing.
    """
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        image_size=TINY_DEPTH_INPUT, patch_size=14, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
        mlp_ratio=2, out_indices=[1, 2, 3, 4], reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 16, 32],
        fusion_hidden_size=16, head_hidden_size=8, **overrides,
    )
    torch.manual_seed(5)
    model = DepthAnythingForDepthEstimation(config)
    with torch.no_grad():
        model.head.conv3.weight.normal_(0.0, 2.0)
        model.head.conv3.bias.fill_(1.0)
    return model


@pytest.fixture(scope="session")
def tiny_depth_anything() -> Callable[..., torch.nn.Module]:
    """``build(**config overrides)``: the tiny Depth Anything model behind ``tiny_depth_weights``."""
    return _tiny_depth_anything


@pytest.fixture(scope="session")
def tiny_depth_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights dir holding ``Depth-Anything-V2-Small-hf/`` (config.json, model.safetensors)."""
    root = tmp_path_factory.mktemp("weights")
    _tiny_depth_anything().save_pretrained(root / DEPTH_REPO_FOLDER, safe_serialization=True)
    return root


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    """A small random content photo (40 x 32) and style image (32 x 32) on disk."""
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    save_image(torch.rand(3, 32, 40), content)
    save_image(torch.rand(3, 32, 32), style)
    return content, style
