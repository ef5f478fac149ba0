"""The 2D reference beside ``bench_quality.py``'s mesh cases: what photo stylisation reaches on the same views.

The held-out sphere views of the ORIGINAL asset (the evaluation's cameras and lights, rendered by
``_quality_mesh.held_out_renders``) are written as PNG photos and stylised one by one by ``restyle image`` (in
process, through ``restyle.api.stylize_image``): its defaults but ``--backbone vgg19`` (offline), ``--iters``
steps per view (100 for the figures), at the evaluation size. ``_quality_mesh`` then measures them like a mesh
result: style distances to the style image, content distance to the original renders, masked by coverage.

Eight views of 100 steps take minutes per asset and style, so each result is cached in
``results/quality_reference_cache.json`` under a digest of everything it depends on (the asset's folder, the
style image, the cameras' seed and shading, the evaluation's views and size, the image options and steps, and
``CACHE_VERSION``): reruns skip it, and changing any input measures anew. Bump ``CACHE_VERSION`` when ``restyle
image`` or the evaluator changes what a reference would measure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from _common import RESULTS
from restyle.api import stylize_image
from restyle.io.images import save_image

CACHE = RESULTS / "quality_reference_cache.json"
CACHE_VERSION = 1


def image_options(size: int, iters: int) -> dict:
    """``restyle image`` options of the reference: its defaults but these (``--backbone vgg19 --iters N --size S``)."""
    return {"style": {"backbone": "vgg19"}, "optim": {"iters": iters}, "size": size}


def folder_digest(folder: Path) -> str:
    """sha256 over every file in ``folder`` (names and bytes): an asset and every file it names."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(inputs: dict) -> str:
    """The cache key of a reference: a digest of its ``inputs`` (JSON-ready) and ``CACHE_VERSION``."""
    text = json.dumps({"version": CACHE_VERSION, **inputs}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(key: str, inputs: dict, compute: Callable[[], dict]) -> dict:
    """The cached record under ``key``, or ``compute()``'s, stored with its ``inputs`` (``"cached"`` says which)."""
    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    if key in cache:
        return {**cache[key], "cached": True}
    record = {**compute(), "inputs": inputs}
    cache = json.loads(CACHE.read_text()) if CACHE.is_file() else {}  # another run may have added one meanwhile
    cache[key] = record
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    partial = CACHE.with_suffix(".json.tmp")  # results/*.tmp is ignored by git
    partial.write_text(json.dumps(cache, indent=2, sort_keys=True) + "\n")
    partial.replace(CACHE)
    return {**record, "cached": False}


def stylise_views(views: torch.Tensor, style: Path, folder: Path, iters: int) -> tuple[torch.Tensor, dict]:
    """Each of ``views`` ``[V,3,S,S]`` stylised as a photo by ``restyle image`` in ``folder`` (``view_NN.png`` in,
    ``view_NN_stylized.png`` out): the stylised views ``[V,3,S,S]`` and a summary of the resolved image config."""
    folder.mkdir(parents=True, exist_ok=True)
    size = views.shape[-1]
    stylised, config = [], None
    start = time.perf_counter()
    for index, view in enumerate(views):
        photo = folder / f"view_{index:02d}.png"
        save_image(view, photo)
        result = stylize_image(photo, [style], folder / f"view_{index:02d}_stylized.png", overwrite=True,
                               **image_options(size, iters))
        stylised.append(result.image)
        config = result.config
    return torch.stack(stylised), {"wall_s": time.perf_counter() - start, "config": _summary(config)}


def _summary(config) -> dict:
    """What decides a reference: the resolved image config's loss, optimiser and sizes."""
    def section(value) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(value), default=str))

    return {"size": config.size, "style_size": config.style_size, "init": config.init,
            "style": {"method": config.style.method, "backbone": config.style.backbone,
                      "content_backbone": config.style.content_backbone},
            "weights": section(config.weights), "optim": section(config.optim)}
