"""Tiny synthetic mesh assets written to disk, for the I/O tests and for anyone who needs a mesh file.

Every builder takes a folder and returns the path of the asset's main file. Geometry is small and exact
(values representable in float32) so that round trips can be compared with ``array_equal``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

# a 4x4 texture whose four quadrants have distinct colours: top-left red, top-right green,
# bottom-left blue, bottom-right white (row 0 = top of the file)
QUAD_TEXTURE = np.zeros((4, 4, 3), dtype=np.uint8)
QUAD_TEXTURE[:2, :2] = (255, 0, 0)
QUAD_TEXTURE[:2, 2:] = (0, 255, 0)
QUAD_TEXTURE[2:, :2] = (0, 0, 255)
QUAD_TEXTURE[2:, 2:] = (255, 255, 255)

QUAD_VERTICES = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
QUAD_UV = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
QUAD_FACES = np.array([[0, 1, 2], [0, 2, 3]], dtype=np.int64)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    """``pixels``: ``[H, W, 3|4]`` uint8."""
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


def textured_quad(folder: Path) -> Path:
    """One quad (2 triangles) in the z=0 plane, UVs on the corners, one material with a 4x4 texture."""
    folder.mkdir(parents=True, exist_ok=True)
    write_png(folder / "quad.png", QUAD_TEXTURE)
    (folder / "quad.mtl").write_text("newmtl quad\nKa 0.1 0.1 0.1\nKd 1 1 1\nNs 10\nmap_Kd quad.png\n")
    lines = ["mtllib quad.mtl"]
    lines += [f"v {x:g} {y:g} {z:g}" for x, y, z in QUAD_VERTICES]
    lines += [f"vt {u:g} {v:g}" for u, v in QUAD_UV]
    lines += ["usemtl quad"] + [
        f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in QUAD_FACES
    ]
    path = folder / "quad.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cube() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """24 vertices (4 per side, so every side has its own UV square), 12 faces; side s is faces 2s, 2s+1."""
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    vertices = box.vertices[box.faces].reshape(-1, 3)  # unshared corners: 36 vertices
    faces = np.arange(len(vertices)).reshape(-1, 3)
    uv = np.tile(np.array([[0, 0], [1, 0], [1, 1]], dtype=np.float32) * 0.5 + 0.25, (len(faces), 1))
    return vertices.astype(np.float32), faces.astype(np.int64), uv


def two_material_cube_obj(folder: Path, *, degenerate_face: bool = True) -> Path:
    """A cube whose first 6 faces use a textured material and last 6 a constant one (Kd only).

    Real-world trouble on purpose: the texture is named with a space and referenced with a Windows
    path (``.\\cube texture.png``), there is a bump map, and (optionally) a zero-area face.
    """
    folder.mkdir(parents=True, exist_ok=True)
    write_png(folder / "cube texture.png", np.full((8, 8, 3), (200, 100, 50), dtype=np.uint8))
    write_png(folder / "bumps.png", np.full((8, 8, 3), 128, dtype=np.uint8))
    (folder / "cube.mtl").write_text(
        "newmtl painted\nKd 0.5 0.5 0.5\nNs 42\nmap_Kd .\\cube texture.png\nmap_Bump -bm 0.5 bumps.png\n\n"
        "newmtl plain\nKd 0.2 0.4 0.6\nKs 0.5 0.5 0.5\nillum 2\n\n"
        "newmtl unused\nKd 1 0 0\n"
    )
    vertices, faces, uv = _cube()
    lines = ["mtllib cube.mtl"]
    lines += [f"v {x:g} {y:g} {z:g}" for x, y, z in vertices]
    lines += [f"vt {u:g} {v:g}" for u, v in uv]
    if degenerate_face:
        lines.append("v 0 0 0")  # the last vertex; a face through it and two others on one line has no area
        lines.append("vt 0.5 0.5")
    for name, face_range in (("painted", range(6)), ("plain", range(6, 12))):
        lines.append(f"usemtl {name}")
        lines += ["f " + " ".join(f"{i + 1}/{i + 1}" for i in faces[f]) for f in face_range]
        if degenerate_face and name == "plain":
            n = len(vertices) + 1
            lines.append(f"f 1/1 {n}/{n} {n}/{n}")
    path = folder / "cube.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def two_material_cube_glb(folder: Path, *, translation: tuple[float, float, float] = (0.0, 0.0, 5.0)) -> Path:
    """The cube as a GLB with two PBR materials (textured with alpha; constant) under a translated node.

    Material 0 has metallic 0.25, roughness 0.75, alphaMode BLEND, doubleSided and an RGBA texture;
    material 1 has baseColorFactor (0.5, 0.25, 1.0, 1.0) and no texture.
    """
    folder.mkdir(parents=True, exist_ok=True)
    vertices, faces, uv = _cube()
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., :3] = (30, 60, 90)
    rgba[..., 3] = np.linspace(0, 255, 8, dtype=np.uint8)[None, :]
    textured = trimesh.visual.material.PBRMaterial(
        name="textured",
        baseColorTexture=Image.fromarray(rgba, "RGBA"),
        metallicFactor=0.25,
        roughnessFactor=0.75,
        alphaMode="BLEND",
        doubleSided=True,
    )
    plain = trimesh.visual.material.PBRMaterial(name="plain", baseColorFactor=[0.5, 0.25, 1.0, 1.0])
    scene = trimesh.Scene()
    transform = trimesh.transformations.translation_matrix(translation)
    for name, material, face_slice in (("textured", textured, slice(0, 6)), ("plain", plain, slice(6, 12))):
        used, local = np.unique(faces[face_slice], return_inverse=True)
        geometry = trimesh.Trimesh(
            vertices=vertices[used],
            faces=local.reshape(-1, 3),
            visual=trimesh.visual.TextureVisuals(uv=uv[used], material=material),
            process=False,
        )
        scene.add_geometry(geometry, node_name=name, geom_name=name, transform=transform)
    path = folder / "cube.glb"
    path.write_bytes(scene.export(file_type="glb"))
    return path


def uv_less_obj(folder: Path) -> Path:
    """A closed tetrahedron with positions only (no UVs, no material)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tetra.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    return path


def obj_without_mtllib(folder: Path) -> Path:
    """The quad with UVs but no material library (trimesh then invents a 2x2 placeholder texture)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x:g} {y:g} {z:g}" for x, y, z in QUAD_VERTICES] + [f"vt {u:g} {v:g}" for u, v in QUAD_UV]
    lines += [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in QUAD_FACES]
    path = folder / "bare.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def vertex_colored_ply(folder: Path) -> Path:
    """The quad as a PLY with per-vertex colours: red, green, blue, white at its four corners."""
    folder.mkdir(parents=True, exist_ok=True)
    colours = np.array([[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [255, 255, 255, 255]], np.uint8)
    mesh = trimesh.Trimesh(QUAD_VERTICES, QUAD_FACES, vertex_colors=colours, process=False)
    path = folder / "colored.ply"
    path.write_bytes(mesh.export(file_type="ply"))
    return path


def draco_triangle_glb(folder: Path) -> tuple[Path, np.ndarray]:
    """A GLB whose only primitive is Draco-compressed (KHR_draco_mesh_compression); returns it and its
    ``[3, 3]`` vertex positions."""
    import DracoPy

    folder.mkdir(parents=True, exist_ok=True)
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    blob = DracoPy.encode(positions, np.array([[0, 1, 2]], dtype=np.uint32), preserve_order=True)
    blob += b"\0" * (-len(blob) % 4)
    document = {
        "asset": {"version": "2.0"},
        "extensionsUsed": ["KHR_draco_mesh_compression"],
        "extensionsRequired": ["KHR_draco_mesh_compression"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [
            {
                "primitives": [
                    {
                        "attributes": {"POSITION": 0},
                        "indices": 1,
                        "extensions": {
                            "KHR_draco_mesh_compression": {"bufferView": 0, "attributes": {"POSITION": 0}}
                        },
                    }
                ]
            }
        ],
        "accessors": [
            {"componentType": 5126, "count": 3, "type": "VEC3", "min": [0, 0, 0], "max": [1, 1, 0]},
            {"componentType": 5125, "count": 3, "type": "SCALAR"},
        ],
        "bufferViews": [{"buffer": 0, "byteLength": len(blob)}],
        "buffers": [{"byteLength": len(blob)}],
    }
    path = folder / "draco.glb"
    path.write_bytes(glb_bytes(document, blob))
    return path, positions


def glb_bytes(document: dict, binary: bytes) -> bytes:
    """A GLB container from a glTF JSON document and its binary buffer."""
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    body = (
        struct.pack("<I4s", len(text), b"JSON") + text + struct.pack("<I4s", len(binary), b"BIN\0") + binary
    )
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def read_glb_json(path: Path) -> dict:
    """The JSON chunk of a GLB file."""
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    return json.loads(data[20 : 20 + length])
