"""Renderer cost: Embree visibility per view, and differentiable texturing + shading against VGG16.

(a) Embree G-buffer for one 512x512 view of spot subdivided to ~94k faces (target <= 80 ms on 2 cores).
(b) Texture sampling + shading forward+backward for 4 views at 512x512 from a 1024x1024 texture, next to
    one VGG16 forward+backward to relu3_3 on the same 4 views, in the same run (target: render <= 10% of VGG).

Run: ``.venv/bin/python benchmarks/bench_render.py`` -> ``benchmarks/results/render.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import time_it, write_result  # noqa: E402
from restyle.render.geometry import MeshGeometry  # noqa: E402
from restyle.render.raster import rasterize  # noqa: E402
from restyle.render.raster_embree import embree_scene  # noqa: E402
from restyle.render.shading import render  # noqa: E402
from restyle.render.views import GBufferCache, ViewSampler  # noqa: E402

SPOT = Path(__file__).resolve().parents[1] / "assets" / "meshes" / "spot"
SIZE = 512
BATCH = 4


def load_subdivided_spot(times: int = 2) -> tuple[MeshGeometry, torch.Tensor]:
    mesh = trimesh.load(SPOT / "spot.obj", force="mesh", process=False)
    vertices, faces, uv = mesh.vertices, mesh.faces, mesh.visual.uv
    for _ in range(times):  # each pass splits every face in four
        vertices, faces, attributes = trimesh.remesh.subdivide(vertices, faces, vertex_attributes={"uv": uv})
        uv = attributes["uv"]
    image = np.asarray(Image.open(SPOT / "spot_texture.png").convert("RGB").resize((1024, 1024)))
    texture = torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 255
    return MeshGeometry.from_arrays(vertices, faces, uv), texture


def vgg_stage():
    """VGG16 to relu3_3 (tap "15"); falls back to an identical local conv stack if the backbone is missing."""
    try:
        from restyle.backbones.vgg16 import VGG16Backbone

        model = VGG16Backbone().eval()
        return (lambda images: model(images, ("15",)).maps[0]), "restyle.backbones.vgg16.VGG16Backbone"
    except ImportError:
        layers: list[torch.nn.Module] = []
        channels = 3
        for entry in (64, 64, "M", 128, 128, "M", 256, 256, 256):
            if entry == "M":
                layers.append(torch.nn.MaxPool2d(2))
            else:
                layers += [torch.nn.Conv2d(channels, int(entry), 3, padding=1), torch.nn.ReLU()]
                channels = int(entry)
        stack = torch.nn.Sequential(*layers).requires_grad_(False)
        return stack, "local stand-in conv stack (VGG16 features[:16])"


def main() -> None:
    geometry, texture = load_subdivided_spot()
    sampler = ViewSampler(geometry, seed=0)

    # (a) visibility: scene built once (as in training), then one view per call
    cameras, _ = sampler.sample(1, width=SIZE, height=SIZE)
    embree_scene(geometry)
    raster = time_it(lambda: rasterize(geometry, cameras, backend="embree"), repeats=11, warmup=2)
    # the ray traversal alone (no torch post-processing), to separate Embree from tensor overheads
    directions = cameras.pixel_directions().reshape(1, -1, 3).numpy()
    eyes = cameras.eye.double().numpy()
    traversal = time_it(lambda: embree_scene(geometry).intersect(eyes, directions), repeats=11, warmup=2)

    # (b) differentiable part on 4 cached views, then VGG on the same images
    cache = GBufferCache(geometry, sampler, pool_size=BATCH, width=SIZE, height=SIZE, backend="embree")
    views, lights, gbuffer = cache.sample(BATCH)
    texture = texture.requires_grad_(True)

    def render_step() -> torch.Tensor:
        images = render(geometry, gbuffer, views, [texture], ["repeat"], lights).images
        images.square().mean().backward()
        return images

    images = render_step().detach()
    vgg, vgg_name = vgg_stage()

    def vgg_step() -> None:
        inputs = images.clone().requires_grad_(True)
        vgg(inputs).square().mean().backward()

    shading = time_it(render_step, repeats=5, warmup=1)
    network = time_it(vgg_step, repeats=3, warmup=1)
    write_result(
        "render",
        {
            "mesh": {"faces": int(geometry.faces.shape[0]), "vertices": int(geometry.vertices.shape[0])},
            "embree_gbuffer_512": {**raster, "target_s": 0.080},
            "embree_traversal_only_512": traversal,
            "render_fwd_bwd_4x512_tex1024": shading,
            "vgg16_relu3_3_fwd_bwd_4x512": {**network, "model": vgg_name},
            "render_over_vgg": shading["median_s"] / network["median_s"],
            "coverage": float(gbuffer.mask.mean()),
        },
    )


if __name__ == "__main__":
    main()
