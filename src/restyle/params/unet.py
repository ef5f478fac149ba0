"""A small U-Net as an image parameterisation (CLIPstyler's StyleNet idea): content ``[1,3,H,W]`` -> image.

The network is what is optimised: its output for the content image is the stylised image, and once trained it
can be applied again (``restyle apply``, ``restyle.jobs.apply``). Shapes: input and output ``[B,3,H,W]`` sRGB 0..1, any
aspect ratio; H and W are padded up to a multiple of ``2**levels`` and the output is cropped back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetSpec:
    """Everything needed to rebuild a U-Net before loading its state dict (saved beside it as JSON)."""

    base_channels: int = 16
    levels: int = 3
    seed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    # Replicate padding works down to 1x1 maps (reflect needs more). Instance norm: the network sees one image
    # at a time, and its statistics do not depend on the image size.
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, padding_mode="replicate"),
        nn.InstanceNorm2d(out_channels, affine=True),
        nn.LeakyReLU(0.2),
    )


class UNet(nn.Module):
    """``levels`` stride-2 downsamplings (channels doubling from ``base_channels``), as many upsamplings with skip
    connections, and a sigmoid head, so the output is always a valid image."""

    def __init__(self, spec: UNetSpec = UNetSpec()) -> None:
        super().__init__()
        if spec.base_channels < 1 or spec.levels < 1:
            raise ValueError(f"base_channels and levels must be >= 1, got {spec}")
        self.spec = spec
        # The initial weights depend on the seed only, not on whatever drew from the global RNG before.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            self._build(spec.base_channels, spec.levels)

    def _build(self, base: int, levels: int) -> None:
        widths = [base * 2**level for level in range(levels + 1)]
        self.stem = _block(3, widths[0])
        self.down = nn.ModuleList(
            nn.Sequential(_block(widths[i], widths[i + 1], stride=2), _block(widths[i + 1], widths[i + 1]))
            for i in range(levels)
        )
        self.up = nn.ModuleList(
            nn.Sequential(_block(widths[i + 1] + widths[i], widths[i]), _block(widths[i], widths[i]))
            for i in reversed(range(levels))
        )
        self.head = nn.Conv2d(widths[0], 3, 1)

    @property
    def multiple(self) -> int:
        return 2**self.spec.levels

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        """``[B,3,H,W]`` -> ``[B,3,H,W]`` in 0..1."""
        if content.ndim != 4 or content.shape[1] != 3:
            raise ValueError(f"expected images [B, 3, H, W], got shape {list(content.shape)}")
        height, width = content.shape[-2:]
        x = self.stem(_pad_to_multiple(content, self.multiple))
        skips = []
        for down in self.down:
            skips.append(x)
            x = down(x)
        for up, skip in zip(self.up, reversed(skips), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        return torch.sigmoid(self.head(x))[..., :height, :width]


def _pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right up to a multiple of ``multiple``; replicate, because reflect needs pad < size."""
    height, width = images.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return images
    return F.pad(images, (0, pad_w, 0, pad_h), mode="replicate")


def unet_checkpoint(unet: UNet) -> dict[str, object]:
    """What ``--save-model`` writes: the state dict and the spec, loadable with ``torch.load(weights_only=True)``."""
    return {"state_dict": {k: v.detach().cpu() for k, v in unet.state_dict().items()},
            "config": json.dumps({"kind": "unet", **unet.spec.as_dict()})}


def unet_spec(checkpoint: object) -> UNetSpec:
    """The spec a :func:`unet_checkpoint` dict states; ValueError unless it is one, with every field an int."""
    if not isinstance(checkpoint, dict) or not {"config", "state_dict"} <= checkpoint.keys():
        raise ValueError("not a dict with 'config' and 'state_dict' entries")
    values = json.loads(str(checkpoint["config"]))
    if not isinstance(values, dict) or values.pop("kind", None) != "unet":
        raise ValueError("its config does not describe a U-Net")
    names = {field.name for field in fields(UNetSpec)}
    if values.keys() != names:
        raise ValueError(f"its config has {sorted(values)}, a U-Net's has {sorted(names)}")
    for name, value in values.items():
        if type(value) is not int:  # bool is an int subclass; a saved spec never holds one
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    return UNetSpec(**values)


def build_unet(spec: UNetSpec, state_dict: object) -> UNet:
    """The U-Net of ``spec`` holding the tensors of ``state_dict``, in eval mode. It is built on the meta device
    (shapes only) and the saved tensors assigned into it: a spec asking for more than the checkpoint holds is a
    ValueError, never an allocation of the size it asks for."""
    with torch.device("meta"):
        unet = UNet(spec)
    try:
        unet.load_state_dict(state_dict, assign=True)  # type: ignore[arg-type]  # checked by torch
    except (RuntimeError, TypeError, AttributeError) as exc:
        detail = " ".join(str(exc).split())  # torch's message spans lines; the report is one
        raise ValueError(f"its tensors do not fit {spec}: {detail}") from None
    return unet.float().eval()  # float32 whatever the file holds: the input images are float32


def load_unet(checkpoint: dict[str, object]) -> UNet:
    """The U-Net of a :func:`unet_checkpoint` dict."""
    return build_unet(unet_spec(checkpoint), checkpoint["state_dict"])
