"""Material base colours as texture slots: an MTL block, a trimesh material or a glTF material to a
:class:`~restyle.io.mesh_types.TextureSlot` (see :mod:`restyle.io.meshes` for the colour semantics)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image

from restyle.conventions import linear_to_srgb, srgb_to_linear
from restyle.errors import InputError
from restyle.io.gltf import (
    GltfDocument,
    gltf_base_color_factor,
    gltf_has_base_color_texture,
    gltf_material_name,
    gltf_wrap,
)
from restyle.io.mesh_types import TextureSlot
from restyle.io.mtl import MtlMaterial, diffuse_linear_rgba, open_texture
from restyle.io.uv_raster import Wrap

CONSTANT_TEXTURE_SIZE = 8  # a texture-less material gets a small texture of its colour


def material_slot(
    path: Path,
    material: trimesh.visual.material.Material | None,
    mtl: MtlMaterial | None,
    document: GltfDocument | None,
    gltf_material: int | None,
) -> tuple[TextureSlot, bool]:
    """The slot of an ordinary material and whether it had a base-colour texture."""
    if mtl is not None:  # OBJ: our own .mtl reading resolves paths that trimesh silently drops
        texture = open_texture(path, mtl)
        return _slot_from(
            texture, diffuse_linear_rgba(mtl), multiply=False, wrap=mtl.wrap
        ), texture is not None
    pbr = isinstance(material, trimesh.visual.material.PBRMaterial)
    texture = _material_texture(material)
    _check_base_color_decoded(path, material, document, gltf_material)
    factor = gltf_base_color_factor(document, gltf_material)
    if factor is None:
        factor = _trimesh_base_color(material)
    return _slot_from(
        texture, factor, multiply=pbr, wrap=gltf_wrap(document, gltf_material)
    ), texture is not None


def _check_base_color_decoded(
    path: Path,
    material: trimesh.visual.material.Material | None,
    document: GltfDocument | None,
    gltf_material: int | None,
) -> None:
    """trimesh skips a texture image it cannot decode (corrupt, or a format Pillow lacks) without a word: the
    material would be stylised from plain white and exported pointing at that."""
    if document is None or gltf_material is None or getattr(material, "baseColorTexture", None) is not None:
        return
    if gltf_has_base_color_texture(document, gltf_material):
        raise InputError(f"{path}: the base-colour texture of material '{gltf_material_name(document, gltf_material)}'"
                         " could not be decoded; convert it to PNG or JPEG")


def _slot_from(texture: Image.Image | None, factor: np.ndarray, *, multiply: bool, wrap: Wrap) -> TextureSlot:
    """``factor``: ``[4]`` linear RGBA base-colour factor; it multiplies the texture only for PBR."""
    if texture is None:
        colour = _srgb(factor[:3])
        image = np.broadcast_to(colour, (CONSTANT_TEXTURE_SIZE, CONSTANT_TEXTURE_SIZE, 3)).astype(np.float32)
        return TextureSlot(name="", image=image, alpha=None, wrap=wrap)
    rgb, alpha = image_to_float(texture)
    if multiply and not np.allclose(factor[:3], 1.0):
        linear = srgb_to_linear(torch.from_numpy(rgb)) * torch.from_numpy(factor[:3].astype(np.float32))
        rgb = linear_to_srgb(linear).numpy()
    return TextureSlot(name="", image=rgb.astype(np.float32), alpha=alpha, wrap=wrap)


def image_to_float(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image to ``([Ht, Wt, 3] float32 0..1, [Ht, Wt] float32 alpha or None)``."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(grey[..., None], 3, axis=2), None
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    array = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    if has_alpha:
        return np.ascontiguousarray(array[..., :3]), np.ascontiguousarray(array[..., 3])
    return array, None


def _material_texture(material: trimesh.visual.material.Material | None) -> Image.Image | None:
    if material is None:
        return None
    texture = getattr(material, "baseColorTexture", None)
    if texture is None:
        texture = getattr(material, "image", None)
    # an OBJ without mtllib gets a 2x2 placeholder image from trimesh: that is no texture at all
    if texture is None or texture.size == (2, 2) and getattr(material, "name", "") == "material_0":
        return None
    return texture


def _trimesh_base_color(material: trimesh.visual.material.Material | None) -> np.ndarray:
    """``[4]`` linear RGBA from trimesh's (uint8-quantised) factor or diffuse colour; white if none."""
    colour = getattr(material, "baseColorFactor", None)
    if colour is None:
        colour = getattr(material, "diffuse", None)
    if colour is None:
        return np.ones(4)
    colour = np.asarray(colour)
    return colour / 255.0 if colour.dtype.kind in "ui" else colour.astype(np.float64)


def _srgb(linear_rgb: np.ndarray) -> np.ndarray:
    return linear_to_srgb(torch.as_tensor(np.asarray(linear_rgb, dtype=np.float32))).numpy()
