"""Checkpoint reading and strict matching shared by the backbones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from restyle.backbones.base import load_matching, read_state_dict, select_prefixed
from restyle.errors import InputError


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)


def tiny_state() -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in Tiny().state_dict().items()}


def test_reads_torch_save_pickles_and_unwraps_state_dict_and_module_prefix(tmp_path: Path) -> None:
    state = tiny_state()
    wrapped = {"epoch": 3, "state_dict": {f"module.{key}": value for key, value in state.items()}}
    torch.save(wrapped, tmp_path / "ddp.pt")
    found = read_state_dict(tmp_path / "ddp.pt")
    assert set(found) == set(state)
    torch.testing.assert_close(found["conv.weight"], state["conv.weight"])


def test_reads_safetensors(tmp_path: Path) -> None:
    state = tiny_state()
    save_file(state, str(tmp_path / "w.safetensors"))
    found = read_state_dict(tmp_path / "w.safetensors")
    torch.testing.assert_close(found["bn.running_var"], state["bn.running_var"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace/save: OpenAI's format needs them
def test_reads_torchscript_archives(tmp_path: Path) -> None:
    module = Tiny()
    scripted = torch.jit.trace(nn.Sequential(module.conv, module.bn).eval(), torch.rand(1, 3, 4, 4))
    torch.jit.save(scripted, str(tmp_path / "model.pt"))
    found = read_state_dict(tmp_path / "model.pt")
    torch.testing.assert_close(found["0.weight"], module.conv.weight)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "checkpoint file not found"),
        (b"", "checkpoint file is empty"),
        (b"this is not a checkpoint", "not a readable checkpoint"),
    ],
)
def test_unreadable_files_raise_input_error_naming_the_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "weights.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=f"weights.pth: {message}"):
        read_state_dict(path)


def test_truncated_file_raises_input_error(tmp_path: Path) -> None:
    torch.save(tiny_state(), tmp_path / "full.pth")
    data = (tmp_path / "full.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.pth: not a readable checkpoint"):
        read_state_dict(tmp_path / "cut.pth")


def test_non_dict_pickle_is_refused(tmp_path: Path) -> None:
    torch.save(torch.zeros(3), tmp_path / "tensor.pth")
    with pytest.raises(InputError, match=r"tensor\.pth: not a state dict checkpoint \(found Tensor\)"):
        read_state_dict(tmp_path / "tensor.pth")


def test_load_matching_tolerates_missing_batchnorm_counter_and_casts_half(tmp_path: Path) -> None:
    source = tiny_state()
    del source["bn.num_batches_tracked"]
    source = {key: value.half() for key, value in source.items()}
    target = Tiny()
    load_matching(target, source, path=tmp_path / "f.pt", what="tiny")
    assert target.conv.weight.dtype == torch.float32
    torch.testing.assert_close(target.conv.weight, source["conv.weight"].float())


def test_select_prefixed_keeps_whole_keys() -> None:
    found = {"visual.a": torch.zeros(1), "text.b": torch.zeros(1)}
    assert list(select_prefixed(found, "visual.")) == ["visual.a"]
