"""Shared test fixtures. Tests never touch the network and are never timed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# No hub access in tests, ever: weight loading must go through local files.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"


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
    dict (``visual.*`` plus a text key that loaders must ignore). Use with
    ``find_checkpoint(name, weights_dir=random_weights_dir)`` to exercise the real loading path.
    """
    from restyle.backbones.clip_rn50 import ClipRN50Backbone
    from restyle.backbones.vgg16 import VGG16Backbone

    folder = tmp_path_factory.mktemp("weights")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(20220809)
    vgg_state = dict(VGG16Backbone().state_dict())
    vgg_state["classifier.6.weight"] = torch.zeros(10, 8)
    vgg_state["classifier.6.bias"] = torch.zeros(10)
    torch.save(vgg_state, folder / "vgg16-397923af.pth")
    clip_state = dict(ClipRN50Backbone().state_dict())
    clip_state["logit_scale"] = torch.tensor(4.6052)
    torch.save(clip_state, folder / "open_clip_pytorch_model.bin")
    torch.random.set_rng_state(generator_state)
    return folder
