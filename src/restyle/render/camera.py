"""Batched pinhole cameras (OpenGL view space: x right, y up, the camera looks down -z).

Pixel ``(row i, column j)`` samples its centre: ``x_ndc = (j + 0.5) / W * 2 - 1`` and
``y_ndc = 1 - (i + 0.5) / H * 2``, so row 0 is the top of the image, like every image in restyle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

_EPS = 1e-9


@dataclass
class Cameras:
    """``B`` perspective cameras sharing one image size.

    Attributes:
        eye: ``[B, 3]`` camera positions in world space.
        world_to_view: ``[B, 4, 4]`` rigid transforms; rotation rows 0..2 are the camera's right, up
            and backward axes in world space.
        fov_y: ``[B]`` vertical field of view in radians.
        width: image width W in pixels.
        height: image height H in pixels.
    """

    eye: Tensor
    world_to_view: Tensor
    fov_y: Tensor
    width: int
    height: int

    @classmethod
    def look_at(
        cls,
        eye: Tensor | Sequence[float],
        target: Tensor | Sequence[float],
        up: Tensor | Sequence[float] = (0.0, 1.0, 0.0),
        *,
        fov_y: float | Tensor = math.radians(40.0),
        width: int = 512,
        height: int = 512,
        roll: float | Tensor = 0.0,
    ) -> Cameras:
        """Cameras at ``eye`` (``[B, 3]`` or ``[3]``) looking at ``target``; ``fov_y`` in radians. ``roll``
        (radians, one value or ``[B]``) turns each camera about its view axis, counter-clockwise as seen
        through it, so the world's up no longer points up in the image."""
        eye_t = torch.as_tensor(eye, dtype=torch.float32).reshape(-1, 3)
        target_t = torch.as_tensor(target, dtype=torch.float32, device=eye_t.device).reshape(-1, 3)
        up_t = torch.as_tensor(up, dtype=torch.float32, device=eye_t.device).reshape(-1, 3)
        eye_t, target_t, up_t = torch.broadcast_tensors(eye_t, target_t, up_t)
        backward = _normalize(eye_t - target_t)
        right = torch.cross(up_t, backward, dim=1)
        # looking straight along `up` leaves `right` undefined: fall back to another world axis
        alternative = torch.cross(torch.tensor([[0.0, 0.0, 1.0]], device=eye_t.device).expand_as(up_t), backward, dim=1)
        degenerate = right.norm(dim=1, keepdim=True) < 1e-6
        right = _normalize(torch.where(degenerate, alternative, right))
        true_up = torch.cross(backward, right, dim=1)
        angle = torch.as_tensor(roll, dtype=torch.float32, device=eye_t.device).reshape(-1, 1)
        cos, sin = torch.cos(angle), torch.sin(angle)
        right, true_up = cos * right + sin * true_up, cos * true_up - sin * right
        rotation = torch.stack((right, true_up, backward), dim=1)  # [B, 3, 3] world -> view
        world_to_view = torch.eye(4, device=eye_t.device).repeat(eye_t.shape[0], 1, 1)
        world_to_view[:, :3, :3] = rotation
        world_to_view[:, :3, 3] = -(rotation @ eye_t[:, :, None])[:, :, 0]
        fov = torch.as_tensor(fov_y, dtype=torch.float32, device=eye_t.device).reshape(-1).expand(eye_t.shape[0])
        return cls(eye_t, world_to_view, fov.clone(), int(width), int(height))

    @property
    def batch_size(self) -> int:
        return self.eye.shape[0]

    @property
    def device(self) -> torch.device:
        return self.eye.device

    @property
    def rotation(self) -> Tensor:
        """``[B, 3, 3]`` world-to-view rotation (rows: right, up, backward)."""
        return self.world_to_view[:, :3, :3]

    @property
    def tan_half_fov(self) -> tuple[Tensor, Tensor]:
        """``([B], [B])`` tangents of the horizontal and vertical half angles."""
        tan_y = torch.tan(self.fov_y / 2)
        return tan_y * (self.width / self.height), tan_y

    def to(self, device: torch.device | str) -> Cameras:
        return Cameras(
            self.eye.to(device), self.world_to_view.to(device), self.fov_y.to(device), self.width, self.height
        )

    def select(self, index: Tensor | Sequence[int]) -> Cameras:
        """The cameras at ``index`` (a subset or reordering of the batch)."""
        index = torch.as_tensor(index, dtype=torch.int64, device=self.device)
        return Cameras(self.eye[index], self.world_to_view[index], self.fov_y[index], self.width, self.height)

    def resized(self, width: int, height: int) -> Cameras:
        """Same cameras rendering a different number of pixels (e.g. for supersampling)."""
        return Cameras(self.eye, self.world_to_view, self.fov_y, int(width), int(height))

    def moved(self, offset: Tensor) -> Cameras:
        """The same cameras (orientation and field of view) moved by world-space ``offset [B, 3]``."""
        eye = self.eye + offset.to(self.eye)
        world_to_view = self.world_to_view.clone()
        world_to_view[:, :3, 3] = -(self.rotation @ eye[:, :, None])[:, :, 0]
        return Cameras(eye, world_to_view, self.fov_y, self.width, self.height)

    def view_points(self, points: Tensor) -> Tensor:
        """World points ``[V, 3]`` or ``[B, V, 3]`` to view space ``[B, V, 3]``."""
        points = points.expand(self.batch_size, -1, -1) if points.ndim == 2 else points
        return points @ self.rotation.transpose(1, 2) + self.world_to_view[:, None, :3, 3]

    def pixel_directions(self) -> Tensor:
        """``[B, H, W, 3]`` world-space ray directions through pixel centres, scaled so that their view-space
        z component is -1 (so the ray parameter t equals view-space depth)."""
        tan_x, tan_y = self.tan_half_fov
        cols = (torch.arange(self.width, device=self.device, dtype=torch.float32) + 0.5) / self.width * 2 - 1
        rows = 1 - (torch.arange(self.height, device=self.device, dtype=torch.float32) + 0.5) / self.height * 2
        x = cols[None, None, :] * tan_x[:, None, None]
        y = rows[None, :, None] * tan_y[:, None, None]
        x, y = torch.broadcast_tensors(x, y)
        view_dirs = torch.stack((x, y, -torch.ones_like(x)), dim=-1)  # [B, H, W, 3]
        return torch.einsum("bhwi,bij->bhwj", view_dirs, self.rotation)

    def pixel_footprint(self) -> tuple[Tensor, Tensor]:
        """World-space change of :meth:`pixel_directions` per pixel step: ``([B, 3] along a row (x),
        [B, 3] down a column (y))``."""
        tan_x, tan_y = self.tan_half_fov
        right, up = self.rotation[:, 0], self.rotation[:, 1]
        return right * (2 * tan_x / self.width)[:, None], -up * (2 * tan_y / self.height)[:, None]

    def projection(self, near: Tensor, far: Tensor) -> Tensor:
        """``[B, 4, 4]`` OpenGL projection matrices (NDC y up) for per-camera ``near``, ``far`` ``[B]``."""
        tan_x, tan_y = self.tan_half_fov
        proj = torch.zeros(self.batch_size, 4, 4, device=self.device)
        proj[:, 0, 0] = 1 / tan_x
        proj[:, 1, 1] = 1 / tan_y
        proj[:, 2, 2] = -(far + near) / (far - near)
        proj[:, 2, 3] = -2 * far * near / (far - near)
        proj[:, 3, 2] = -1
        return proj

    def project_to_pixels(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """World points ``[V, 3]`` to ``([B, V, 2] continuous pixel coordinates (x right, y down, pixel
        centres at k + 0.5), [B, V] view depth)``; points behind the camera get meaningless coordinates."""
        view = self.view_points(points)
        depth = -view[..., 2]
        tan_x, tan_y = self.tan_half_fov
        safe = torch.where(depth.abs() > _EPS, depth, torch.full_like(depth, _EPS))
        x_ndc = view[..., 0] / (safe * tan_x[:, None])
        y_ndc = view[..., 1] / (safe * tan_y[:, None])
        pixels = torch.stack(((x_ndc + 1) / 2 * self.width, (1 - y_ndc) / 2 * self.height), dim=-1)
        return pixels, depth


def _normalize(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(_EPS)
