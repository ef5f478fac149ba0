"""``restyle apply``: a U-Net saved by ``restyle image --text ... --save-model`` run again, one forward pass per
image or video frame, without CLIP or any optimisation. Shapes: each image or frame ``[1,3,H,W]`` sRGB 0..1, any
aspect ratio (the U-Net pads and crops itself).

Reliability as the other commands: every input is classified (a named pipe or device refused unopened), every
output named and checked against the inputs, each other and existing files, every image decoded and every video
opened and its first frame decoded, and the model's spec bounded and its tensors loaded, before anything is
written; videos are written atomically."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from restyle.configs import range_of
from restyle.errors import ConfigError, InputError, first_line
from restyle.io.atomic import atomic_path
from restyle.io.images import load_image, resize_long_side, save_image
from restyle.io.regular_files import require_regular_file
from restyle.jobs.apply.config import IMAGE_SUFFIXES, KEPT_IMAGE_SUFFIXES, VIDEO_SUFFIXES, ApplyConfig
from restyle.params.unet import UNet, UNetSpec, build_unet, unet_spec
from restyle.run.files import locked_output, refuse_existing_file, refuse_overlap, refuse_shared_outputs
from restyle.run.loop import PhaseCallback, StepCallback, StepInfo, report, resolve_device
from restyle.run.preflight import check_writable
from restyle.sections import ClipTextConfig, OptimConfig


@dataclass(frozen=True)
class ApplyJob:
    """One input and the file it becomes; ``frames`` is 1 for an image, ``fps`` None for an image."""

    source: Path
    output: Path
    is_video: bool
    frames: int = 1
    fps: float | None = None


@dataclass(frozen=True)
class ApplyResult:
    outputs: tuple[Path, ...]
    config: ApplyConfig


def run(config: ApplyConfig, on_step: StepCallback | None = None,
        on_phase: PhaseCallback | None = None) -> ApplyResult:
    jobs = plan_jobs(config)
    unet = load_model(config.model).to(resolve_device(config.device))
    report(on_phase, f"reading {len(jobs)} input(s)")
    jobs = [_probed(job) for job in jobs]  # last: decoding a folder takes longest
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
    inputs must not be found after the first nine are written. Nothing is opened yet; :func:`_probed` then reads
    each input in full, as the last check before the first output."""
    model, output = _required_options(config)
    check_writable(output, folder=True)
    jobs = [_job(source, output) for path in config.inputs for source in _expand(path)]
    refuse_shared_outputs([(f"output of {job.source}", job.output) for job in jobs], remedy="rename one")
    outputs = [job.output for job in jobs]
    refuse_overlap(outputs, [("model", model), *(("input", job.source) for job in jobs)])
    for path in outputs:
        check_writable(path, folder=False)  # a folder in an output's place: refused even with --overwrite
        refuse_existing_file(path, overwrite=config.overwrite)
    return jobs


def _required_options(config: ApplyConfig) -> tuple[Path, Path]:
    if config.model is None:
        raise ConfigError("no model given (restyle apply MODEL INPUT... -o DIR)")
    if not config.inputs:
        raise ConfigError("no input images, videos or folders given")
    if config.output is None:
        raise ConfigError("no output folder given (use -o DIR)")
    return config.model, config.output


def _expand(path: Path) -> list[Path]:
    """The media files ``path`` names: itself, or those directly in a folder. Each is checked to be a regular
    file without opening it: a named pipe would block the reader for ever."""
    if not path.is_dir():
        require_regular_file(path, "file or folder")
        if not _is_media(path):
            raise InputError(f"{path}: neither an image ({', '.join(IMAGE_SUFFIXES)}) nor a video "
                             f"({', '.join(VIDEO_SUFFIXES)})")
        return [path]
    media = sorted(p for p in path.iterdir() if _is_media(p) and not p.is_dir())
    if not media:
        raise InputError(f"{path}: folder holds no image or video ({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})")
    for source in media:
        require_regular_file(source)
    return media


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def _job(source: Path, folder: Path) -> ApplyJob:
    """The output ``source`` becomes; its content is not read yet (see :func:`_probed`)."""
    suffix = source.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        out_suffix = ".gif" if suffix == ".gif" else ".mp4"
        return ApplyJob(source, folder / f"{source.stem}{out_suffix}", is_video=True)
    out_suffix = suffix if suffix in KEPT_IMAGE_SUFFIXES else ".png"
    return ApplyJob(source, folder / f"{source.stem}{out_suffix}", is_video=False)


def _probed(job: ApplyJob) -> ApplyJob:
    """``job`` once its input is known to read: an image decoded in full (a header can be intact above corrupt
    pixels), a video opened, every frame decoded and counted, its frame rate read and its first frame read as
    the run will read it."""
    if not job.is_video:
        load_image(job.source)
        return job
    with _video_reader(job.source) as reader:
        frames = _frame_count(reader, job.source)
        fps = _fps(reader.get_meta_data(), job.source)
        _decode_first_frame(reader, job.source)
    return replace(job, frames=frames, fps=fps)


def _decode_first_frame(reader: object, path: Path) -> None:
    try:
        frame = reader.get_data(0)
    except Exception as exc:  # as for opening: imageio raises many types, all meaning the frame cannot be read
        raise InputError(f"{path}: its first frame cannot be decoded ({first_line(exc)})") from None
    if frame.ndim not in (2, 3) or min(frame.shape[:2]) < 1:
        raise InputError(f"{path}: its first frame has no pixels (shape {list(frame.shape)})")


def _frame_count(reader: object, path: Path) -> int:
    """The number of frames, found by decoding every one, so that a damaged stream is found before the first
    output and not half way through writing: ffmpeg's ``count_frames`` decodes the stream inside ffmpeg (no
    frame reaches Python); the GIF reader has no such call, and its frames are decoded here."""
    try:
        count = reader.count_frames() if hasattr(reader, "count_frames") else sum(1 for _ in reader)
    except Exception as exc:  # ffmpeg's RuntimeError, Pillow's IndexError or OSError: all mean a damaged stream
        raise InputError(f"{path}: truncated or corrupt video, its frames cannot be decoded ({_last_line(exc)})") \
            from None
    if not 0 < count < float("inf"):
        raise InputError(f"{path}: video holds no frames")
    return int(count)


def _last_line(error: BaseException) -> str:
    """imageio-ffmpeg's errors hold ffmpeg's whole log; its last line says what went wrong."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return first_line(Exception(lines[-1]))


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
    """The U-Net in a ``--save-model`` file; any other file is a one-line InputError. The spec is bounded before
    anything is built, and the network then holds the file's own tensors (see ``build_unet``), so a small file
    cannot ask for gigabytes."""
    require_regular_file(path, "model file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        spec = unet_spec(checkpoint)
        _check_saveable(spec)
        return build_unet(spec, checkpoint["state_dict"])
    except Exception as exc:  # unpickling, a missing key, a wrong shape: the file is not a saved U-Net
        raise InputError(f"{path}: not a U-Net saved by restyle image --text --save-model "
                         f"({first_line(exc)})") from None


def _check_saveable(spec: UNetSpec) -> None:
    """ConfigError unless ``restyle image --text --save-model`` could have written ``spec``: the ranges of the
    options that set it."""
    range_of(ClipTextConfig, "base_channels").check(spec.base_channels, "base_channels")
    range_of(ClipTextConfig, "levels").check(spec.levels, "levels")
    range_of(OptimConfig, "seed").check(spec.seed, "seed")


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
        writer = _video_writer(temporary, job.fps or _fps(reader.get_meta_data(), job.source))
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
