"""Multi-scale planning, tiling and box fusion (no model needed)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from anonymiser.detect import tile_spans
from anonymiser.detect.faces import _tiles, fuse, plan_passes


def test_passes_cover_large_and_small_faces() -> None:
    passes = plan_passes(4000, 3000, (640, 1280, 2560), 1024)
    scales = [p.scale for p in passes]
    assert min(scales) < 0.2  # close-ups
    assert passes[-1].scale == 1.0 and passes[-1].tile == 1024  # small faces at native res, tiled
    small = plan_passes(1024, 768, (640, 1280, 2560), 1024)
    assert small[-1].scale == 2.0  # small images are upscaled for tiny faces
    assert small[-2].scale == 1.0  # ... and run at native size too (faces the 2x pass misses)


def test_tiles_cover_every_pixel_with_overlap() -> None:
    covered = np.zeros((3000, 4000), int)
    for x, y, w, h in _tiles(4000, 3000, 1024, 170):
        assert w <= 1280 and h <= 1280  # at most 1.25 x the nominal tile: bounded memory
        covered[y : y + h, x : x + w] += 1
    assert covered.min() >= 1


def test_tiles_share_at_least_the_overlap_and_spread_evenly() -> None:
    for length in (1281, 2048, 2560, 3000, 4000, 6000, 8191):
        spans = tile_spans(length, 1280, 170)
        assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == length
        assert len({size for _, size in spans}) == 1
        for (a, size), (b, _) in itertools.pairwise(spans):
            assert a + size - b >= 170  # a face up to 170 px is whole in some tile
    assert tile_spans(1000, 1280, 170) == [(0, 1000)]
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


def test_small_images_are_also_run_mirrored_unless_turned_off() -> None:
    sizes = (640, 1280, 2560)
    assert all(p.flip for p in plan_passes(1024, 768, sizes, 1024))
    assert not any(p.flip for p in plan_passes(1024, 768, sizes, 1024, mirror=False))
    assert not any(p.flip for p in plan_passes(4000, 3000, sizes, 1024))  # big photos: cost


def test_mirrored_maps_are_flipped_back_and_the_x_offset_negated() -> None:
    from anonymiser.detect.faces import _average_mirrored, _decode

    heat = np.zeros((1, 1, 4, 8), np.float32)
    scale = np.full((1, 2, 4, 8), np.log(3.0), np.float32)
    offset = np.zeros((1, 2, 4, 8), np.float32)
    marks = np.zeros((1, 10, 4, 8), np.float32)
    heat[0, 0, 1, 2] = 0.8
    offset[0, :, 1, 2] = (0.25, 0.3)  # y, x
    # What the network gives for the mirror image: the peak at column 8-1-2, x offset negated.
    m_heat, m_offset = heat[..., ::-1].copy(), np.zeros_like(offset)
    m_offset[0, :, 1, 5] = (0.25, -0.3)
    out = _average_mirrored([heat, scale, offset, marks], [m_heat, scale, m_offset, marks])
    boxes, _ = _decode(out, 0.5)
    plain, _ = _decode([heat, scale, offset, marks], 0.5)
    assert len(boxes) == 1 and np.allclose(boxes, plain)


def test_points_of_a_turned_image_map_back() -> None:
    from anonymiser.detect.faces import _unrotate

    image = np.zeros((30, 50))
    image[5, 40] = 1  # x 40, y 5
    for turn in range(4):
        turned = np.rot90(image, turn)
        (y, x), (h, w) = np.argwhere(turned)[0], turned.shape
        xs, ys = _unrotate(np.array([x + 0.5]), np.array([y + 0.5]), turn, w, h)
        assert (float(xs[0]), float(ys[0])) == (40.5, 5.5), turn


class _HeatSession:
    """A stand-in for CenterFace: the input's first channel, at stride 4, is the face heat."""

    def run(self, names: object, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = next(iter(feed.values()))
        heat = x[:, :1, ::4, ::4] / 255.0
        h, w = heat.shape[2:]
        zeros = np.zeros((1, 2, h, w), np.float32)
        return [heat, zeros, zeros, np.zeros((1, 10, h, w), np.float32)]


def test_each_scale_is_resized_once_and_the_faces_do_not_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import anonymiser.detect.faces as faces

    monkeypatch.setattr(faces, "_load_session", lambda *a, **k: _HeatSession())
    rgb = np.zeros((1500, 2000, 3), np.uint8)
    rgb[300:340, 500:540] = 255  # bright squares: "faces" at every scale
    rgb[1000:1100, 1500:1600] = 255
    detector = faces.CenterFaceDetector()
    made: list[float] = []
    resized = faces._resized

    def counted(image: np.ndarray, scale: float) -> np.ndarray:
        made.append(scale)
        return resized(image, scale)

    monkeypatch.setattr(faces, "_resized", counted)
    shared = detector.detect(rgb, 0.3)
    assert len(made) == len(set(made))  # upright, turned and edge passes share their scales
    monkeypatch.setattr(faces._Scaled, "__call__", lambda self, scale: resized(self.rgb, scale))
    fresh = detector.detect(rgb, 0.3)
    assert shared and [d.box for d in shared] == [d.box for d in fresh]
