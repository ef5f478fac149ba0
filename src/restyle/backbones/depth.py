"""Monocular depth network for the depth loss: Depth Anything V2 (small) through transformers, loaded offline.

The folder is the one the weights machinery finds for "depth-anything-small" (``model.safetensors`` with
``config.json`` beside it, as in the hub repo ``depth-anything/Depth-Anything-V2-Small-hf``). The network
predicts *relative inverse depth* (affine-invariant disparity: larger = nearer, unknown scale and shift), so
its output is compared as is by the depth loss, and :func:`normalised_depth` turns it into a 0 (near) .. 1 (far)
map for masks and previews.

Preprocessing is done here in torch, not by transformers' image processor, so that the depth of a rendered or
optimised image stays differentiable with respect to its pixels. It follows the authors' own inference code
(``DepthAnythingV2.image2tensor``/``infer_image`` in github.com/DepthAnything/Depth-Anything-V2), see
:meth:`DepthEstimator.network_size` and :meth:`DepthEstimator.forward`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from restyle.backbones.weights import load_backbone_weights, load_transformers_model
from restyle.conventions import check_images
from restyle.errors import ConfigError, InputError

# ImageNet statistics: the DINOv2 encoder's training normalisation, and what the checkpoints'
# preprocessor_config.json (image_mean/image_std) and the authors' NormalizeImage use.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT_SIZE = 518  # 37 patches of 14: the resolution Depth Anything V2 was trained and evaluated at


class DepthEstimator(nn.Module):
    """sRGB images ``[B, 3, H, W]`` (0..1) -> relative inverse depth ``[B, 1, H, W]`` at the input's size.

    Larger values are nearer. Differentiable with respect to the images; the network is frozen and always in
    eval mode. ``input_size`` is the short side fed to the network, rounded to a multiple of the patch size.
    """

    name = "depth-anything-small"

    def __init__(self, model: nn.Module, input_size: int = DEFAULT_INPUT_SIZE) -> None:
        super().__init__()
        self.model = model
        # The ViT cuts the input into patch_size tiles and drops any remainder (modeling_depth_anything.py:
        # patch_height = height // patch_size), so every side must be a multiple of it.
        self.patch_size = int(model.config.patch_size)
        self.input_size = max(self.patch_size, _round_to_multiple(input_size, self.patch_size))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_folder(cls, folder: Path, input_size: int = DEFAULT_INPUT_SIZE) -> DepthEstimator:
        """Load the depth model in ``folder`` (``AutoModelForDepthEstimation``) without the network.

        InputError (one line, naming the folder) for a missing config, corrupt weights, a model of another family
        (the preprocessing here is Depth Anything's), or a metric-depth checkpoint (whose output grows with
        distance, the opposite of what callers expect).
        """
        from transformers import AutoModelForDepthEstimation

        folder = Path(folder)
        model = load_transformers_model(AutoModelForDepthEstimation, folder, "depth model")
        if model.config.model_type != "depth_anything":
            raise InputError(f"{folder}: a {model.config.model_type} model; restyle's depth preprocessing is "
                             "Depth Anything's (model_type depth_anything)")
        kind = model.config.depth_estimation_type
        if kind != "relative":
            raise InputError(f"{folder}: a {kind} depth model; restyle needs a relative (inverse depth) one")
        return cls(model, input_size)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def train(self, mode: bool = True) -> DepthEstimator:
        # Frozen network: always in eval mode, whatever the caller asks.
        return super().train(False)

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(h, w)`` fed to the network for an ``H x W`` image.

        The short side becomes ``input_size`` and the long side keeps the aspect ratio, rounded to the nearest
        multiple of the patch size: the authors' ``Resize(keep_aspect_ratio=True, ensure_multiple_of=14,
        resize_method="lower_bound")``. (transformers' DPT image processor instead scales "as little as
        possible", which for small images fits the *long* side to 518; we follow the authors.) Since the long
        side scales to at least ``input_size``, which is a multiple already, rounding never takes it below.
        """
        scale = self.input_size / min(height, width)
        return (
            max(self.input_size, _round_to_multiple(height * scale, self.patch_size)),
            max(self.input_size, _round_to_multiple(width * scale, self.patch_size)),
        )

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` sRGB 0..1 -> the network's normalised ``pixel_values`` ``[B, 3, h, w]``."""
        check_images(images)
        images = images.to(self.dtype)
        size = self.network_size(*images.shape[-2:])
        if tuple(images.shape[-2:]) != size:
            # Bicubic as the authors (cv2.INTER_CUBIC) and the hub preprocessor (resample=3) do; antialiasing
            # when shrinking, which cv2's cubic lacks, keeps high-frequency texture from aliasing into depth.
            shrinking = size[0] < images.shape[-2]
            images = F.interpolate(images, size=size, mode="bicubic", align_corners=False, antialias=shrinking)
        return (images - self.mean.to(self.dtype)) / self.std.to(self.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` sRGB 0..1 -> ``[B, 1, H, W]`` relative inverse depth (model dtype, larger = nearer)."""
        check_images(images)
        height, width = images.shape[-2:]
        predicted = self.model(pixel_values=self.preprocess(images)).predicted_depth  # [B, h, w]
        # Back to the input's pixel grid, bilinearly as the authors' infer_image does; align_corners=False
        # (the authors use True) so that pixel centres map back onto the same centres as the bicubic resize.
        return F.interpolate(predicted.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False)


def normalised_depth(inverse_depth: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W]`` network output -> ``0`` (near) .. ``1`` (far) per image: ``1 - min-max(inverse_depth)``.

    Monocular output is disparity up to an unknown scale and shift, so its reciprocal is not depth; only the
    order and relative spacing are meaningful, and a per-image min-max keeps exactly those. A constant map
    (no depth information) gives zeros.
    """
    if inverse_depth.ndim != 4 or inverse_depth.shape[1] != 1 or not inverse_depth.is_floating_point():
        raise ValueError(
            f"inverse_depth must be a float tensor [B, 1, H, W], got {tuple(inverse_depth.shape)} {inverse_depth.dtype}"
        )
    low = inverse_depth.amin(dim=(1, 2, 3), keepdim=True)
    spread = inverse_depth.amax(dim=(1, 2, 3), keepdim=True) - low
    flat = spread <= torch.finfo(inverse_depth.dtype).tiny
    # clamp_min keeps the unused branch finite so its gradient cannot poison the result with NaN
    scaled = 1.0 - (inverse_depth - low) / spread.clamp_min(torch.finfo(inverse_depth.dtype).tiny)
    return torch.where(flat, torch.zeros_like(scaled), scaled)


def load_depth_anything_small(
    weights_dir: Path | None = None, download: bool = False, input_size: int = DEFAULT_INPUT_SIZE
) -> DepthEstimator:
    """Depth Anything V2 small from the weights machinery; WeightsMissingError naming its download command."""
    checkpoint = load_backbone_weights("depth-anything-small", weights_dir, download=download)
    return DepthEstimator.from_folder(checkpoint.parent, input_size)


DEPTH_ESTIMATORS: dict[str, Callable[..., DepthEstimator]] = {
    "depth-anything-small": load_depth_anything_small,
}


def load_depth_estimator(
    name: str, weights_dir: Path | None, download: bool, input_size: int = DEFAULT_INPUT_SIZE
) -> DepthEstimator:
    """The depth network registered as ``name``; ConfigError listing the valid names for an unknown one."""
    if name not in DEPTH_ESTIMATORS:
        raise ConfigError(f"unknown depth network {name!r}; valid: {', '.join(sorted(DEPTH_ESTIMATORS))}")
    return DEPTH_ESTIMATORS[name](weights_dir=weights_dir, download=download, input_size=input_size)


def _round_to_multiple(value: float, multiple: int) -> int:
    return int(round(value / multiple)) * multiple
