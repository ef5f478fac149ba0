"""UV island masks: conservative (every texel a bilinear lookup inside a triangle reads is in), tight enough to
leave the rest of the atlas alone, and wrap-aware."""

from __future__ import annotations

import numpy as np
import pytest

from restyle.io.uv_islands import island_masks, slot_island_mask


def _bilinear_taps(uv: np.ndarray, shape: tuple[int, int], wrap: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns ``[k, 4]`` of the texels a level-0 bilinear lookup at each ``uv [k, 2]`` reads."""
    height, width = shape
    x, y = uv[:, 0] * width - 0.5, (1.0 - uv[:, 1]) * height - 0.5
    columns = np.floor(x).astype(np.int64)[:, None] + np.array([0, 1, 0, 1])
    rows = np.floor(y).astype(np.int64)[:, None] + np.array([0, 0, 1, 1])
    if wrap == "repeat":
        return rows % height, columns % width
    return np.clip(rows, 0, height - 1), np.clip(columns, 0, width - 1)


def _points_inside(triangle: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` uniform points of a ``[3, 2]`` triangle, its corners and edges included."""
    weights = rng.dirichlet(np.ones(3), size=count)
    weights[:3] = np.eye(3)
    weights[3:6] = [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]]
    return weights @ triangle


@pytest.mark.parametrize("wrap", ["repeat", "clamp"])
@pytest.mark.parametrize("scale", [0.005, 0.05, 0.6])
def test_every_texel_a_lookup_inside_a_triangle_reads_is_in_the_mask(wrap: str, scale: float) -> None:
    rng = np.random.default_rng(7)
    shape = (23, 37)  # not square, not a power of two
    for _ in range(20):
        # small slivers to large triangles, some reaching outside 0..1
        triangle = rng.uniform(-0.3, 1.3, size=(1, 2)) + rng.normal(0.0, scale, size=(3, 2))
        mask = slot_island_mask(triangle[None], shape, wrap)
        rows, columns = _bilinear_taps(_points_inside(triangle, 4000, rng), shape, wrap)
        assert mask[rows, columns].all()


def test_a_triangle_smaller_than_a_texel_is_in_the_mask() -> None:
    # between texel centres: no centre lies inside it
    tiny = np.array([[[0.501, 0.501], [0.503, 0.501], [0.501, 0.503]]])
    mask = slot_island_mask(tiny, (16, 16), "clamp")
    row, column = 16 - 1 - int(0.502 * 16), int(0.502 * 16)  # the texel holding it
    assert mask[row, column]
    assert mask.sum() <= 16  # its taps and one texel around them: a 4x4 block at most


def test_mask_leaves_texels_far_from_every_triangle_out() -> None:
    # the lower-left quarter of the texture
    triangles = np.array([[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5]], [[0.0, 0.0], [0.5, 0.5], [0.0, 0.5]]])
    mask = slot_island_mask(triangles, (32, 32), "clamp")
    assert mask[16:, :16].all()
    assert not mask[:14].any() and not mask[:, 18:].any()


def test_repeat_wraps_uvs_outside_the_unit_square() -> None:
    triangle = np.array([[0.1, 0.2], [0.3, 0.2], [0.1, 0.4]])
    inside = slot_island_mask(triangle[None], (32, 32), "repeat")
    for shift in ([1.0, 0.0], [-2.0, 3.0], [5.0, -1.0]):
        np.testing.assert_array_equal(slot_island_mask((triangle + shift)[None], (32, 32), "repeat"), inside)
    # a triangle across u = 1 marks both the right edge and the left edge of the texture
    across = slot_island_mask(np.array([[[0.9, 0.4], [1.1, 0.4], [1.0, 0.6]]]), (32, 32), "repeat")
    assert across[:, 0].any() and across[:, -1].any() and not across[:, 12:20].any()


def test_clamp_maps_uvs_outside_the_unit_square_onto_the_border() -> None:
    outside = np.array([[[1.2, 0.4], [1.5, 0.4], [1.2, 0.6]]])
    mask = slot_island_mask(outside, (32, 32), "clamp")
    assert mask[:, -1].any()
    assert not mask[:, :-2].any()  # the border column (and its one-texel dilation) only
    far = np.array([[[-1e6, 0.45], [1e6, 0.45], [0.0, 0.46]]])  # clamped, a huge triangle is a thin band
    assert not slot_island_mask(far, (32, 32), "clamp")[:10].any()


def test_repeat_triangle_covering_a_whole_tile_marks_everything() -> None:
    huge = np.array([[[-50.0, -50.0], [150.0, -50.0], [-50.0, 150.0]]])
    assert slot_island_mask(huge, (64, 64), "repeat").all()


def test_island_masks_per_slot_with_their_own_shapes_and_wraps() -> None:
    uv = np.array([[0.1, 0.1], [0.4, 0.1], [0.1, 0.4], [1.6, 0.6], [1.9, 0.6], [1.6, 0.9]])
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    masks = island_masks(uv, faces, np.array([0, 1]), [(8, 12), (16, 16), (4, 4)], ["clamp", "repeat", "clamp"])
    assert [m.shape for m in masks] == [(8, 12), (16, 16), (4, 4)]
    assert masks[0].any() and masks[1].any()
    assert masks[1][:8, 8:].any() and not masks[1][10:, :6].any()  # upper right quarter, wrapped from u 1.6..1.9
    assert not masks[2].any()  # a slot no face uses
    with pytest.raises(ValueError, match="wrap modes"):
        island_masks(uv, faces, np.array([0, 1]), [(8, 8)], ["clamp", "clamp"])
