"""``restyle apply``: a U-Net saved by ``restyle image --text ... --save-model`` run again, one forward pass per
image or video frame, without CLIP or any optimisation. Shapes: each image or frame ``[1,3,H,W]`` sRGB 0..1, any
aspect ratio (the U-Net pads and crops itself).

Reliability as the other commands: every input is classified, every output named and checked against the inputs
and existing files, and the model loaded, before anything is written; videos are written atomically."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from restyle.errors import ConfigError, InputError, first_line
from restyle.io.atomic import atomic_path
from restyle.io.images import load_image, resize_long_side, save_image
from restyle.params.unet import UNet, load_unet
from restyle.pipelines.apply_config import IMAGE_SUFFIXES, KEPT_IMAGE_SUFFIXES, VIDEO_SUFFIXES, ApplyConfig
from restyle.pipelines.loop import PhaseCallback, StepCallback, StepInfo, report, resolve_device
from restyle.pipelines.run_files import locked_output, refuse_existing_file, refuse_overlap


@dataclass(frozen=True)
class ApplyJob:
    """One input and the file it becomes; ``frames`` is 1 for an image."""

    source: Path
    output: Path
    is_video: bool
    frames: int


@dataclass(frozen=True)
class ApplyResult:
    outputs: tuple[Path, ...]
    config: ApplyConfig


def run(config: ApplyConfig, on_step: StepCallback | None = None,
        on_phase: PhaseCallback | None = None) -> ApplyResult:
    jobs = plan_jobs(config)
    unet = load_model(config.model).to(resolve_device(config.device))
    total = sum(job.frames for job in jobs)
    done = 0
    with locked_output(config.output):
        for job in jobs:
            report(on_phase, f"stylising {job.source.name}" + (f" ({job.frames} frames)" if job.is_video else ""))
            for _ in _apply_video(unet, job, config.size) if job.is_video else _apply_image(unet, job, config.size):
                done += 1
                if on_step is not None:
                    on_step(StepInfo(done, max(total, done), 0.0, {}))
    return ApplyResult(tuple(job.output for job in jobs), config)


# ------------------------------------------------------------------------------------------- checks first


def plan_jobs(config: ApplyConfig) -> list[ApplyJob]:
    """Every input classified and every output named and cleared, before any work: a typo in the last of ten
    inputs must not be found after the first nine are written."""
    if config.model is None:
        raise ConfigError("no model given (restyle apply MODEL INPUT... -o DIR)")
    if not config.inputs:
        raise ConfigError("no input images, videos or folders given")
    if config.output is None:
        raise ConfigError("no output folder given (use -o DIR)")
    if not config.model.is_file():
        raise InputError(f"{config.model}: no such model file")
    sources = [source for path in config.inputs for source in _expand(path)]
    jobs = [_job(source, config.output) for source in sources]
    _refuse_duplicates(jobs)
    outputs = [job.output for job in jobs]
    refuse_overlap(outputs, [("model", config.model), *(("input", job.source) for job in jobs)])
    for path in outputs:
        refuse_existing_file(path, overwrite=config.overwrite)
    return jobs


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        media = sorted(p for p in path.iterdir() if p.is_file() and _is_media(p))
        if not media:
            raise InputError(f"{path}: folder holds no image or video ({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})")
        return media
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not _is_media(path):
        raise InputError(f"{path}: neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a video "
                         f"({', '.join(VIDEO_SUFFIXES)})")
    return [path]


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def _job(source: Path, folder: Path) -> ApplyJob:
    suffix = source.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        out_suffix = ".gif" if suffix == ".gif" else ".mp4"
        return ApplyJob(source, folder / f"{source.stem}{out_suffix}", True, _frame_count(source))
    out_suffix = suffix if suffix in KEPT_IMAGE_SUFFIXES else ".png"
    return ApplyJob(source, folder / f"{source.stem}{out_suffix}", False, 1)


def _refuse_duplicates(jobs: list[ApplyJob]) -> None:
    seen: dict[Path, Path] = {}
    for job in jobs:
        other = seen.setdefault(job.output.resolve(), job.source)
        if other != job.source:
            raise ConfigError(f"{job.output}: both {other} and {job.source} would be written there; rename one")


def _frame_count(path: Path) -> int:
    """The number of frames, read without decoding them; opening the file here also finds an unreadable video
    before any work."""
    with _video_reader(path) as reader:
        try:
            count = reader.count_frames()  # ffmpeg: counts packets, fast
        except AttributeError:
            count = len(reader)
    if not 0 < count < float("inf"):
        raise InputError(f"{path}: video holds no frames")
    return int(count)


@contextmanager
def _video_reader(path: Path) -> Iterator[object]:
    try:
        reader = imageio.get_reader(path)
    except Exception as exc:  # imageio raises many types for a file it cannot read; all mean the same here
        raise InputError(f"{path}: cannot be read as a video ({first_line(exc)})") from None
    try:
        yield reader
    finally:
        reader.close()


def load_model(path: Path) -> UNet:
    """The U-Net in a ``--save-model`` file; any other file is a one-line InputError."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return load_unet(checkpoint)
    except Exception as exc:  # unpickling, a missing key, a wrong shape: the file is not a saved U-Net
        raise InputError(f"{path}: not a U-Net saved by restyle image --text --save-model "
                         f"({first_line(exc)})") from None


# ------------------------------------------------------------------------------------------------ the work


def _device(unet: UNet) -> torch.device:
    return next(unet.parameters()).device


@torch.no_grad()
def stylise(unet: UNet, image: torch.Tensor, size: int | None) -> torch.Tensor:
    """``[3,H,W]`` -> the network's ``[3,H',W']`` on the CPU, resized first to long side ``size`` if given."""
    if size is not None:
        image = resize_long_side(image, size)
    return unet(image.unsqueeze(0).to(_device(unet)))[0].cpu()


def _apply_image(unet: UNet, job: ApplyJob, size: int | None) -> Iterator[None]:
    save_image(stylise(unet, load_image(job.source), size), job.output)
    yield


def _apply_video(unet: UNet, job: ApplyJob, size: int | None) -> Iterator[None]:
    with _video_reader(job.source) as reader, atomic_path(job.output) as temporary:
        fps = _fps(reader.get_meta_data(), job.source)
        writer = _video_writer(temporary, fps)
        try:
            for frame in reader:
                writer.append_data(_to_uint8(stylise(unet, _to_float(frame), size)))
                yield
        finally:
            writer.close()


def _fps(meta: dict, path: Path) -> float:
    """ffmpeg reports ``fps``; a GIF reports ``duration``, the milliseconds of each frame."""
    if meta.get("fps"):
        return float(meta["fps"])
    if meta.get("duration"):
        return 1000.0 / float(meta["duration"])
    raise InputError(f"{path}: the video states no frame rate")


def _video_writer(path: Path, fps: float) -> object:
    if path.suffix.lower() == ".gif":
        # duration is per frame in milliseconds; loop=0 repeats forever
        return imageio.get_writer(path, format="GIF", duration=1000.0 / fps, loop=0)
    # H.264 needs even sizes; macro_block_size=2 pads at most one pixel instead of rescaling to 16
    return imageio.get_writer(path, format="FFMPEG", fps=fps, codec="libx264", macro_block_size=2)


def _to_float(frame: np.ndarray) -> torch.Tensor:
    """An ``[H,W]``, ``[H,W,3]`` or ``[H,W,4]`` uint8 frame as ``[3,H,W]`` floats in 0..1 (alpha dropped)."""
    pixels = torch.from_numpy(np.ascontiguousarray(frame))
    if pixels.ndim == 2:
        pixels = pixels.unsqueeze(-1).expand(-1, -1, 3)
    return pixels[..., :3].permute(2, 0, 1).float() / 255.0


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
