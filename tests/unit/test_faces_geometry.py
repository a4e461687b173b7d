"""Multi-scale planning, tiling and box fusion (no model needed)."""

from __future__ import annotations

import itertools

import numpy as np

from anonymiser.detect.faces import _spans, _tiles, fuse, plan_passes


def test_passes_cover_large_and_small_faces() -> None:
    passes = plan_passes(4000, 3000, (640, 1280, 2560), 1024)
    scales = [p.scale for p in passes]
    assert min(scales) < 0.2  # close-ups
    assert passes[-1].scale == 1.0 and passes[-1].tile == 1024  # small faces at native res, tiled
    small = plan_passes(1024, 768, (640, 1280, 2560), 1024)
    assert small[-1].scale == 2.0  # small images are upscaled for tiny faces


def test_tiles_cover_every_pixel_with_overlap() -> None:
    covered = np.zeros((3000, 4000), int)
    for x, y, w, h in _tiles(4000, 3000, 1024, 170):
        assert w <= 1280 and h <= 1280  # at most 1.25 x the nominal tile: bounded memory
        covered[y : y + h, x : x + w] += 1
    assert covered.min() >= 1


def test_tiles_share_at_least_the_overlap_and_spread_evenly() -> None:
    for length in (1281, 2048, 2560, 3000, 4000, 6000, 8191):
        spans = _spans(length, 1024, 170)
        assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == length
        assert len({size for _, size in spans}) == 1
        for (a, size), (b, _) in itertools.pairwise(spans):
            assert a + size - b >= 170  # a face up to 170 px is whole in some tile
    assert _spans(1000, 1024, 170) == [(0, 1000)]
    # Fewer network pixels than fixed 1024 px tiles stepped by 854 (20 tiles for 12 MP).
    assert sum(w * h for *_, w, h in _tiles(4000, 3000, 1024, 170)) < 0.75 * 20 * 1024 * 1024


def test_fuse_merges_duplicates_and_tile_fragments() -> None:
    boxes = np.array(
        [
            [10, 10, 50, 50, 0.9],
            [12, 11, 51, 49, 0.6],  # same face from another scale
            [10, 10, 30, 50, 0.5],  # half of it, cut at a tile edge
            [200, 200, 230, 230, 0.4],  # another face
        ],
        np.float32,
    )
    marks = np.zeros((4, 10), np.float32)
    out, _ = fuse(boxes, marks)
    assert len(out) == 2
    assert out[0][4] == np.float32(0.9)
