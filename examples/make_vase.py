"""Make assets/meshes/vase/vase.glb: a glazed ceramic amphora built from numbers alone (CC0 1.0).

The bundled asset of 20k+ triangles, made here so that the project may redistribute it. Geometry: a profile
curve (underside, foot, body, shoulder, neck, rolled lip, then a shallow inside down to a floor, so that the
vessel looks closed) turned about +Y, and two strap handles swept along a curve whose ends sink into the wall.
UVs: cylindrical on the body (u = angle, v = arc length along the profile), its seam behind a handle; each handle
is its own island (along x around) below the body's strip. The base colour (1024² JPEG, smaller than a PNG of
the same picture) is painted in UV space: cobalt, ochre and rust bands on a cream glaze, upward leaves, dots, a
leaf scroll, a meander, tongues, chevrons, glaze mottling and iron specks. Every pattern repeats a whole number
of times around and the noise lattice wraps, so the seam is clean.

The GLB is written here rather than by trimesh, which re-encodes a JPEG at its default quality and stores 32-bit
indices. The same bytes every run: one seeded generator, no timestamps. tests/test_assets.py validates the file.

Run: .venv/bin/python examples/make_vase.py [-o assets/meshes/vase/vase.glb]
"""

from __future__ import annotations

import argparse
import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "assets/meshes/vase/vase.glb"
SEED = 21
AROUND, RINGS = 160, 104  # body: segments around the axis, rings along the profile
HANDLE_ALONG, HANDLE_AROUND = 64, 24
SIZE = 1024  # texture side in pixels
BODY_ROWS = (4, 880)  # texture rows of the body's strip: the floor inside at the top, the underside at the bottom
HANDLE_BOXES = ((8, 892, 504, 1016), (520, 892, 1016, 1016))  # pixel boxes (x0, y0, x1, y1) of the handles

# (radius, height) in metres: from the underside's centre round the outside, over the lip, down to the floor inside
PROFILE = np.array([
    (0.000, 0.007), (0.042, 0.006), (0.052, 0.000), (0.064, 0.001), (0.068, 0.014), (0.057, 0.031),
    (0.080, 0.060), (0.121, 0.120), (0.140, 0.190), (0.133, 0.250), (0.104, 0.298), (0.062, 0.330),
    (0.046, 0.346), (0.043, 0.375), (0.049, 0.398), (0.064, 0.413), (0.070, 0.421), (0.061, 0.426),
    (0.045, 0.416), (0.033, 0.392), (0.030, 0.348), (0.018, 0.338), (0.000, 0.336),
])
FOOT, LIP = 2, 16  # PROFILE indices: where the foot ring meets the ground, and the top of the lip
HANDLE = np.array([(0.100, 0.284), (0.130, 0.302), (0.148, 0.334), (0.150, 0.372), (0.133, 0.398),
                   (0.095, 0.404), (0.038, 0.394)])  # (radius, height) of a handle's centreline
HANDLE_HALF = (0.0065, 0.016)  # a strap: half thickness (in the profile plane), half width (around the axis)
PER_SEGMENT = 200  # dense curve points between two control points

CREAM, COBALT, DEEP = (0.92, 0.88, 0.79), (0.12, 0.23, 0.52), (0.07, 0.13, 0.34)
OCHRE, RUST, CLAY = (0.80, 0.55, 0.19), (0.60, 0.24, 0.15), (0.69, 0.47, 0.34)
INSIDE, SPECK = (0.08, 0.22, 0.26), (0.30, 0.18, 0.10)


# ------------------------------------------------------------------------------------------------- geometry


def catmull_rom(points: np.ndarray, per_segment: int) -> np.ndarray:
    """A centripetal Catmull-Rom curve through ``points`` [K,2] (no loops, no cusps): [(K-1)*per_segment+1, 2]."""
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    pieces = []
    for p0, p1, p2, p3 in zip(padded, padded[1:], padded[2:], padded[3:], strict=False):
        t1 = np.linalg.norm(p1 - p0) ** 0.5
        t2 = t1 + np.linalg.norm(p2 - p1) ** 0.5
        t3 = t2 + np.linalg.norm(p3 - p2) ** 0.5
        t = np.linspace(t1, t2, per_segment, endpoint=False)[:, None]
        a1, a2 = ((t1 - t) * p0 + t * p1) / t1, ((t2 - t) * p1 + (t - t1) * p2) / (t2 - t1)
        a3 = ((t3 - t) * p2 + (t - t2) * p3) / (t3 - t2)
        b1, b2 = ((t2 - t) * a1 + t * a2) / t2, ((t3 - t) * a2 + (t - t1) * a3) / (t3 - t1)
        pieces.append(((t2 - t) * b1 + (t - t1) * b2) / (t2 - t1))
    return np.vstack([*pieces, points[-1:]])


@dataclass(frozen=True)
class Curve:
    """A dense 2D curve: points [N,2] (radius, height), arc length s [N], unit tangents [N,2]."""

    points: np.ndarray
    s: np.ndarray
    tangents: np.ndarray

    @classmethod
    def through(cls, controls: np.ndarray) -> Curve:
        points = catmull_rom(controls, PER_SEGMENT)
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        tangents = np.gradient(points, s, axis=0)
        return cls(points, s, tangents / np.linalg.norm(tangents, axis=1, keepdims=True))

    def at(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points and unit tangents at arc lengths ``s``."""
        points = np.stack([np.interp(s, self.s, self.points[:, k]) for k in (0, 1)], axis=-1)
        tangents = np.stack([np.interp(s, self.s, self.tangents[:, k]) for k in (0, 1)], axis=-1)
        return points, tangents / np.linalg.norm(tangents, axis=-1, keepdims=True)

    def s_of_control(self, index: int) -> float:
        """The arc length at the curve's ``index``-th control point."""
        return float(self.s[index * PER_SEGMENT])


def ring_arc_lengths(curve: Curve, count: int) -> np.ndarray:
    """``count`` arc lengths along ``curve``, denser where it bends (the lip's roll, the foot) than on the body."""
    angle = np.unwrap(np.arctan2(curve.tangents[:, 1], curve.tangents[:, 0]))
    bending = np.abs(np.gradient(angle, curve.s))  # curvature, 1/m
    measure = np.concatenate([[0.0], np.cumsum(np.diff(curve.s) * (1.0 + 0.02 * bending[1:]))])
    return np.interp(np.linspace(0.0, measure[-1], count), measure, curve.s)


def grid_faces(rows: int, columns: int) -> np.ndarray:
    """Two triangles per cell of a (rows x columns) vertex grid, counter-clockwise seen from the normals' side."""
    a = np.arange(rows - 1)[:, None] * columns + np.arange(columns - 1)[None, :]
    b, d = a + 1, a + columns
    return np.concatenate([np.stack([a, b, d], -1), np.stack([b, d + 1, d], -1)]).reshape(-1, 3)


def lathe(profile: Curve) -> dict[str, np.ndarray]:
    """The body: the profile turned about +Y, u = angle (0 at +X, where a handle hides the seam), v = arc length."""
    s = ring_arc_lengths(profile, RINGS)
    (radius, height), (tr, ty) = (a.T for a in profile.at(s))
    phi = 2 * np.pi * np.arange(AROUND + 1) / AROUND
    cos, sin = np.cos(phi)[None, :], np.sin(phi)[None, :]
    shape = (RINGS, AROUND + 1)
    positions = np.stack([radius[:, None] * cos, np.broadcast_to(height[:, None], shape), -radius[:, None] * sin], -1)
    normals = np.stack([ty[:, None] * cos, np.broadcast_to(-tr[:, None], shape), -ty[:, None] * sin], -1)
    top, bottom = (row / SIZE for row in BODY_ROWS)
    v = bottom + (top - bottom) * s / profile.s[-1]
    uv = np.stack(np.broadcast_arrays(np.arange(AROUND + 1)[None, :] / AROUND, v[:, None]), -1)
    return {"positions": positions.reshape(-1, 3), "normals": normals.reshape(-1, 3), "uv": uv.reshape(-1, 2),
            "faces": grid_faces(RINGS, AROUND + 1)}


def handle(phi: float, box: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    """A strap handle at angle ``phi``: an ellipse swept along HANDLE; its island is ``box`` (along x around)."""
    curve = Curve.through(HANDLE)
    (rho, height), (tr, ty) = (a.T for a in curve.at(np.linspace(0, curve.s[-1], HANDLE_ALONG)))
    radial, across = np.array([np.cos(phi), 0, -np.sin(phi)]), np.array([-np.sin(phi), 0, -np.cos(phi)])
    centre = rho[:, None] * radial + height[:, None] * [0, 1, 0]
    side = ty[:, None] * radial - tr[:, None] * [0, 1, 0]  # the in-plane normal, away from the vase
    psi = 2 * np.pi * np.arange(HANDLE_AROUND + 1) / HANDLE_AROUND + np.pi / 2  # the seam on an edge
    c, s = np.cos(psi)[None, :, None], np.sin(psi)[None, :, None]
    (thick, wide) = HANDLE_HALF
    positions = centre[:, None] + thick * c * side[:, None] + wide * s * across
    normals = c * side[:, None] / thick + s * across / wide
    x0, y0, x1, y1 = (value / SIZE for value in box)
    uv = np.stack(np.meshgrid(np.linspace(y0, y1, HANDLE_AROUND + 1), np.linspace(x0, x1, HANDLE_ALONG))[::-1], -1)
    return {"positions": positions.reshape(-1, 3), "normals": normals.reshape(-1, 3), "uv": uv.reshape(-1, 2),
            "faces": grid_faces(HANDLE_ALONG, HANDLE_AROUND + 1)}


def vase_mesh(profile: Curve) -> dict[str, np.ndarray]:
    """Body and both handles in one primitive; faces that collapse at the axis are dropped, normals unit."""
    parts = [lathe(profile), handle(0.0, HANDLE_BOXES[0]), handle(np.pi, HANDLE_BOXES[1])]
    offsets = np.cumsum([0] + [len(part["positions"]) for part in parts[:-1]])
    mesh = {key: np.concatenate([part[key] for part in parts]) for key in ("positions", "normals", "uv")}
    faces = np.concatenate([part["faces"] + offset for part, offset in zip(parts, offsets, strict=True)])
    corners = mesh["positions"][faces]
    area = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    mesh["faces"] = faces[area > 1e-12]
    mesh["normals"] /= np.linalg.norm(mesh["normals"], axis=1, keepdims=True)
    mesh["positions"][:, 1] -= mesh["positions"][:, 1].min()  # stand on y = 0 (the spline dips under the foot)
    return mesh


# ------------------------------------------------------------------------------------------------- texture


def lattice_noise(rng: np.random.Generator, u: np.ndarray, t: np.ndarray, cells: tuple[int, int]) -> np.ndarray:
    """Smooth value noise in 0..1 at (``u`` periodic in 0..1, ``t`` in 0..1): its lattice wraps around in u."""
    grid = rng.random((cells[1] + 2, cells[0]))
    x, y = u * cells[0], np.clip(t, 0.0, 1.0) * cells[1]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (f * f * (3 - 2 * f) for f in (x - x0, y - y0))
    x0, x1 = x0 % cells[0], (x0 + 1) % cells[0]
    top = grid[y0, x0] * (1 - fx) + grid[y0, x1] * fx
    return top * (1 - fy) + (grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x1] * fx) * fy


def fbm(rng: np.random.Generator, u: np.ndarray, t: np.ndarray, cells: tuple[int, int], octaves: int) -> np.ndarray:
    total = sum(0.5**k * lattice_noise(rng, u, t, (cells[0] * 2**k, cells[1] * 2**k)) for k in range(octaves))
    return total / (2 - 0.5 ** (octaves - 1))


def coverage(distance: np.ndarray, pixel: float) -> np.ndarray:
    """Antialiased paint from a signed distance (negative inside), ``pixel`` the size of a texel in its units."""
    return np.clip(0.5 - distance / pixel, 0.0, 1.0)


def segments_distance(x: np.ndarray, y: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    """Distance to a polyline in a cell that repeats along x (its neighbours' strokes count too)."""
    best = np.full(x.shape, np.inf)
    for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
        for shift in (-1.0, 0.0, 1.0):
            px, py, dx, dy = x - ax - shift, y - ay, bx - ax, by - ay
            h = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)
            best = np.minimum(best, np.hypot(px - h * dx, py - h * dy))
    return best


@dataclass
class Band:
    """Cells of a ring of ornament: x in 0..1 across a repeat, y in 0..aspect up the band (same units)."""

    x: np.ndarray
    y: np.ndarray
    aspect: float  # band height / repeat width on the surface
    pixel: float  # a texel, in these units
    index: np.ndarray  # which repeat


class Painter:
    """The base colour [SIZE, SIZE, 3]; the body strip's texels know their arc length along the profile."""

    def __init__(self, profile: Curve, rng: np.random.Generator) -> None:
        self.profile, self.rng = profile, rng
        rows = (np.arange(SIZE) + 0.5 - BODY_ROWS[1]) / (BODY_ROWS[0] - BODY_ROWS[1])
        self.s = np.clip(rows, 0.0, 1.0) * profile.s[-1]  # per row; beyond the strip: its edge (padding)
        self.u = (np.arange(SIZE) + 0.5) / SIZE
        self.image = np.empty((SIZE, SIZE, 3))
        self.image[:] = CREAM
        outer = slice(FOOT * PER_SEGMENT, LIP * PER_SEGMENT + 1)  # the outside rises all the way from foot to lip
        self.height_to_s = (profile.points[outer, 1], profile.s[outer])

    def rows(self, low: float, high: float) -> slice:
        inside = np.nonzero((self.s >= low) & (self.s <= high))[0]
        return slice(inside.min(), inside.max() + 1)

    def s_at(self, height: float) -> float:
        return float(np.interp(height, *self.height_to_s))

    def fill(self, low: float, high: float, colour: tuple) -> None:
        """A plain ring between two heights of the outside."""
        self.paint(self.rows(self.s_at(low), self.s_at(high)), 1.0, colour)

    def paint(self, rows: slice, amount: np.ndarray | float, colour: tuple) -> None:
        amount = np.asarray(amount)[..., None] if np.ndim(amount) else amount
        self.image[rows] = self.image[rows] * (1 - amount) + np.asarray(colour) * amount

    def band(self, low: float, high: float, repeats: int, wobble: float = 0.015) -> tuple[slice, Band]:
        """The cells of ``repeats`` repeats between two heights; a hand's wobble shifts the strokes a little."""
        s0, s1 = self.s_at(low), self.s_at(high)
        rows = self.rows(s0, s1)
        radius = np.interp((s0 + s1) / 2, self.profile.s, self.profile.points[:, 0])
        width = 2 * np.pi * radius / repeats
        u, s = np.meshgrid(self.u, self.s[rows])
        jitter = fbm(self.rng, u, s / self.profile.s[-1], (repeats * 2, 40), 2) - 0.5
        x, y = u * repeats + wobble * jitter, (s - s0) / width + wobble * jitter
        pixel = max(repeats / SIZE, self.profile.s[-1] / (BODY_ROWS[1] - BODY_ROWS[0]) / width)
        return rows, Band(x % 1.0, y, (s1 - s0) / width, pixel, np.floor(x).astype(int) % repeats)


def paint_outside(p: Painter) -> None:
    """The ornament rings, foot to lip (heights in metres)."""
    p.fill(0.0, 0.031, COBALT)
    p.fill(0.026, 0.030, OCHRE)
    rows, b = p.band(0.038, 0.112, 24)  # upward leaves, alternately cobalt and deep blue, each with a midrib
    h = b.y / b.aspect
    leaf = np.abs(b.x - 0.5) - 0.36 * np.clip(np.sin(np.pi * h), 0, 1) ** 0.7 * np.clip(1 - h, 0, 1) ** 0.35
    p.paint(rows, coverage(leaf, b.pixel), COBALT)
    p.paint(rows, coverage(leaf, b.pixel) * (b.index % 2) * 0.6, DEEP)
    p.paint(rows, coverage(np.abs(b.x - 0.5) - 0.025, b.pixel) * (h < 0.75) * coverage(leaf + 0.04, b.pixel), CREAM)
    for low, high in ((0.112, 0.117), (0.131, 0.136), (0.232, 0.237)):
        p.fill(low, high, COBALT)
    rows, b = p.band(0.117, 0.131, 48)
    p.paint(rows, coverage(np.hypot(b.x - 0.5, b.y - b.aspect / 2) - 0.22, b.pixel), OCHRE)
    paint_scroll(p, *p.band(0.140, 0.229, 8, wobble=0.006))
    p.fill(0.240, 0.245, RUST)
    rows, b = p.band(0.249, 0.289, 16, wobble=0.01)  # a meander: the baseline, then a key spiralling in
    key = [(0.1, 0.1), (0.1, 0.9), (0.9, 0.9), (0.9, 0.3), (0.3, 0.3), (0.3, 0.7), (0.7, 0.7), (0.7, 0.5)]
    stroke = np.minimum(segments_distance(b.x, b.y / b.aspect, key), np.abs(b.y / b.aspect - 0.1))
    p.paint(rows, coverage(stroke - 0.055, b.pixel), COBALT)
    p.fill(0.291, 0.297, COBALT)
    rows, b = p.band(0.297, 0.334, 28, wobble=0.02)  # tongues hanging from the neck, cobalt and rust in turn
    tongue = segments_distance(b.x, b.y, [(0.5, 0.32), (0.5, b.aspect + 1)]) - 0.34
    p.paint(rows, coverage(tongue, b.pixel), np.where((b.index % 2)[..., None] == 1, RUST, COBALT))
    p.fill(0.334, 0.352, COBALT)
    rows, b = p.band(0.356, 0.390, 14)  # two rows of chevrons on the neck
    zigzag = [(0.0, 0.25), (0.5, 0.75), (1.0, 0.25)]
    chevrons = segments_distance(b.x, b.y / b.aspect * 2 % 1.0, zigzag) - 0.09
    p.paint(rows, coverage(chevrons, b.pixel * 2), COBALT)
    p.fill(0.392, 0.430, COBALT)
    p.fill(0.404, 0.409, OCHRE)


def paint_scroll(p: Painter, rows: slice, b: Band) -> None:
    """The body's main ring: a wavy stem with a pointed leaf at each crest and trough, ochre berries between."""
    mid, amplitude = b.aspect / 2, 0.16 * b.aspect
    slope = 2 * np.pi * amplitude * np.cos(2 * np.pi * b.x)
    stem = np.abs(b.y - mid - amplitude * np.sin(2 * np.pi * b.x)) / np.sqrt(1 + slope**2)
    p.paint(rows, coverage(stem - 0.012, b.pixel), DEEP)
    for centre, angle in (((0.30, mid + amplitude + 0.12), 0.9), ((0.80, mid - amplitude - 0.12), 0.9 + np.pi)):
        dx, dy = b.x - centre[0], b.y - centre[1]
        dx = (dx + 0.5) % 1.0 - 0.5
        along, across = dx * np.cos(angle) + dy * np.sin(angle), -dx * np.sin(angle) + dy * np.cos(angle)
        lens = np.maximum(np.hypot(along, across - 0.15), np.hypot(along, across + 0.15)) - 0.25  # two circles
        p.paint(rows, coverage(lens, b.pixel), COBALT)
        p.paint(rows, coverage(np.abs(across) - 0.008, b.pixel) * coverage(lens + 0.02, b.pixel), CREAM)
    for centre in ((0.02, mid + 0.12), (0.52, mid - 0.12), (0.08, mid + 0.2), (0.58, mid - 0.2)):
        dot = np.hypot((b.x - centre[0] + 0.5) % 1.0 - 0.5, b.y - centre[1]) - 0.035
        p.paint(rows, coverage(dot, b.pixel), OCHRE)


def paint_vase(profile: Curve, rng: np.random.Generator) -> np.ndarray:
    """The base colour, sRGB uint8 [SIZE, SIZE, 3]."""
    p = Painter(profile, rng)
    s_foot, s_lip = profile.s_of_control(FOOT), profile.s_of_control(LIP)
    underside = p.rows(0.0, s_foot)
    rings = 1 - 0.06 * (0.5 + 0.5 * np.sin(p.s[underside] / 0.0025))[:, None]  # the marks of the wheel
    p.image[underside] = np.asarray(CLAY) * rings[..., None]
    paint_outside(p)
    inside = p.rows(s_lip + 0.004, profile.s[-1])  # a bare cream rim between the cobalt lip and the inside
    depth = (p.s[inside] - s_lip) / (profile.s[-1] - s_lip)
    p.image[inside] = np.asarray(INSIDE) * (1 - 0.5 * depth)[:, None, None]
    for box in HANDLE_BOXES:
        paint_handle(p, box)
    u, t = np.meshgrid(p.u, (np.arange(SIZE) + 0.5) / SIZE)  # rows, not arc length: the handles' rows too
    glaze = 0.94 + 0.12 * fbm(rng, u, t, (24, 24), 4)
    specks = coverage(0.935 - lattice_noise(rng, u, t, (420, 420)), 0.02) * 0.7
    p.image *= glaze[..., None]
    p.paint(slice(None), specks, SPECK)
    return (np.clip(p.image, 0, 1) * 255 + 0.5).astype(np.uint8)


def paint_handle(p: Painter, box: tuple[int, int, int, int]) -> None:
    """Cobalt, a cream line down the middle of each broad face, ochre where it meets the vase."""
    x0, y0, x1, y1 = box
    along = np.clip((np.arange(SIZE) + 0.5 - x0) / (x1 - x0), 0, 1)[None, :]
    around = np.clip((np.arange(y0 - 8, min(y1 + 8, SIZE)) + 0.5 - y0) / (y1 - y0), 0, 1)[:, None]
    psi = 2 * np.pi * around + np.pi / 2
    columns = slice(max(x0 - 8, 0), min(x1 + 8, SIZE))
    image = np.empty((len(around), SIZE, 3))
    image[:] = COBALT
    face = coverage(0.985 - np.abs(np.cos(psi)), 0.01)  # the centre of a broad face: |cos| near 1
    image = image * (1 - face[..., None]) + np.asarray(CREAM) * face[..., None]
    ends = coverage(np.minimum(along, 1 - along) - 0.1, 0.01)
    image = image * (1 - ends[..., None]) + np.asarray(OCHRE) * ends[..., None]
    p.image[y0 - 8 : y0 - 8 + len(around), columns] = image[:, columns]


# ------------------------------------------------------------------------------------------------- GLB


def glb_bytes(mesh: dict[str, np.ndarray], jpeg: bytes) -> bytes:
    """A binary glTF 2.0: one node, one primitive, one material with the JPEG as its base colour."""
    binary, views, accessors = bytearray(), [], []

    def view(data: bytes, target: int | None = None) -> int:
        binary.extend(b"\0" * (-len(binary) % 4))
        views.append({"buffer": 0, "byteOffset": len(binary), "byteLength": len(data)} | (
            {"target": target} if target else {}))
        binary.extend(data)
        return len(views) - 1

    def accessor(array: np.ndarray, kind: str, component: int, target: int, bounds: bool = False) -> int:
        entry = {"bufferView": view(array.tobytes(), target), "componentType": component, "count": len(array),
                 "type": kind}
        if bounds:
            entry |= {"min": array.min(axis=0).tolist(), "max": array.max(axis=0).tolist()}
        accessors.append(entry)
        return len(accessors) - 1

    attributes = {"POSITION": accessor(mesh["positions"].astype("<f4"), "VEC3", 5126, 34962, bounds=True),
                  "NORMAL": accessor(mesh["normals"].astype("<f4"), "VEC3", 5126, 34962),
                  "TEXCOORD_0": accessor(mesh["uv"].astype("<f4"), "VEC2", 5126, 34962)}
    indices = accessor(mesh["faces"].reshape(-1).astype("<u2"), "SCALAR", 5123, 34963)
    image = view(jpeg)
    document = {
        "asset": {"version": "2.0", "generator": "restyle examples/make_vase.py",
                  "copyright": "CC0 1.0: made for restyle by its authors"},
        "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"name": "vase", "mesh": 0}],
        "meshes": [{"name": "vase", "primitives": [{"attributes": attributes, "indices": indices, "material": 0}]}],
        "materials": [{"name": "glaze", "pbrMetallicRoughness": {
            "baseColorTexture": {"index": 0}, "metallicFactor": 0.0, "roughnessFactor": 0.35}}],
        "textures": [{"sampler": 0, "source": 0}],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497}],
        "images": [{"name": "vase_glaze", "bufferView": image, "mimeType": "image/jpeg"}],
        "accessors": accessors, "bufferViews": views, "buffers": [{"byteLength": len(binary)}],
    }
    text = json.dumps(document, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 4)
    binary.extend(b"\0" * (-len(binary) % 4))
    chunks = struct.pack("<I4s", len(text), b"JSON") + text + struct.pack("<I4s", len(binary), b"BIN\0") + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def jpeg_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # 4:4:4 keeps the cobalt strokes' edges sharp in colour as well as in brightness
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=90, subsampling=0, optimize=True)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help="the GLB (default: the bundled one)")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    profile = Curve.through(PROFILE)
    mesh = vase_mesh(profile)
    data = glb_bytes(mesh, jpeg_bytes(paint_vase(profile, rng)))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    print(f"wrote {args.output}: {len(mesh['faces'])} triangles, {len(mesh['positions'])} vertices, "
          f"{len(data) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
