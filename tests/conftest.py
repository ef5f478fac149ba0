"""Shared test fixtures. Tests never touch the network and are never timed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# No hub access in tests, ever: weight loading must go through local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"
VALIDATOR = REPO / ".tools" / "node_modules" / "gltf-validator"


@pytest.fixture(scope="session")
def assets() -> Path:
    return ASSETS


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


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
