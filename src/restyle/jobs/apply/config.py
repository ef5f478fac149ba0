"""The options of ``restyle apply``: a saved U-Net run over more images, folders and videos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from restyle.configs import option
from restyle.run.files import OVERWRITE_FILE_HELP
from restyle.sections import MAX_SIDE

# suffixes read as still images; an output keeps the input's suffix when Pillow writes it well, else it is .png
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
KEPT_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
# suffixes read as videos (by imageio); a GIF stays a GIF, the others are written as H.264 .mp4, which every
# player reads and which imageio-ffmpeg always encodes (its WebM and MOV support depends on the build)
VIDEO_SUFFIXES = (".mp4", ".gif", ".webm", ".mov")


@dataclass(frozen=True)
class ApplyConfig:
    model: Path | None = option(None, help="The U-Net saved by restyle image --text ... --save-model MODEL.", flag=None)
    inputs: list[Path] = option(
        help="Images, videos and folders to stylise (a folder: every image and video directly in it, sorted).",
        factory=list,
        flag=None,
    )
    output: Path | None = option(
        None, flag=None, help="Output folder; each input gives <folder>/<input stem>.<suffix>."
    )
    size: int | None = option(
        None, min=1, max=MAX_SIDE,
        help="Long side in pixels each image or video frame is resized to first; not given: the input's own size.",
        flag="--size",
    )
    device: str = option("auto", help="auto, cpu, cuda or cuda:N.", flag="--device")
    overwrite: bool = option(False, help=OVERWRITE_FILE_HELP, flag="--overwrite")
