"""OCR (rapidocr) + roster matching on a crop of a synthetic name-badge photo."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from anonymiser.detect.text import (
    RapidOcrDetector,
    _merge,
    _split_label,
    _tiles,
    native_windows,
)
from anonymiser.identify.names import RosterNameMatcher
from anonymiser.results import Box, Detection, Kind
from anonymiser.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "name_text"


@dataclass(frozen=True)
class Pupil:
    pupil_id: str
    first_name: str
    last_name: str
    preferred_name: str


ROSTER = [
    Pupil("P0044", "Mabel", "Sánchez", "Mabel"),
    Pupil("P0079", "Minh", "Taylor-Brown", "Minh"),
    Pupil("P0001", "Jaskaran", "O'Brien", "Jaskaran"),
]


@pytest.fixture(scope="module")
def detector() -> RapidOcrDetector:
    return RapidOcrDetector()


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """A badge ("Mabel Sánchez"), a whiteboard ("MINH TAYLOR-BROWN") and other text."""
    rgb = np.asarray(Image.open(DATA / "nt_0011.jpg").convert("RGB"))
    return np.ascontiguousarray(rgb[20:140, 130:700])


def names_found(detector: RapidOcrDetector, rgb: np.ndarray) -> tuple[list[Detection], set[str]]:
    lines = detector.detect(rgb)
    matches = RosterNameMatcher(ROSTER).match(lines)
    named = [d for d, m in zip(lines, matches, strict=True) if m.is_name]
    return named, {m.pupil_id for m in matches if m.is_name and m.pupil_id}


def fill(rgb: np.ndarray, lines: list[Detection]) -> np.ndarray:
    out = rgb.copy()
    for d in lines:
        b = d.box.scaled(1.15).clipped(rgb.shape[1], rgb.shape[0])
        out[b.y : b.y2, b.x : b.x2] = (128, 128, 128)
    return out


@pytest.mark.slow
def test_ocr_finds_names_and_they_are_gone_after_filling(
    detector: RapidOcrDetector, crop: np.ndarray
) -> None:
    named, pupils = names_found(detector, crop)
    assert pupils == {"P0044", "P0079"}
    for d in named:
        assert d.kind is Kind.TEXT and d.source == "rapidocr" and len(d.polygon) == 4
        assert d.box.x >= 0 and d.box.x2 <= crop.shape[1] and d.box.y2 <= crop.shape[0]
    redacted = fill(crop, named)
    assert names_found(detector, redacted)[1] == set()
    # Text that is not a name is still there and legible.
    assert any("Science" in (d.text or "") for d in detector.detect(redacted))


@pytest.mark.slow
def test_upside_down_and_light_on_dark(detector: RapidOcrDetector, crop: np.ndarray) -> None:
    assert "P0044" in names_found(detector, np.ascontiguousarray(crop[::-1, ::-1]))[1]
    assert "P0044" in names_found(detector, 255 - crop)[1]


@pytest.mark.slow
def test_rotated_text(detector: RapidOcrDetector) -> None:
    canvas = np.full((400, 700, 3), 235, np.uint8)
    cv2.putText(
        canvas, "Jaskaran O'Brien", (120, 215), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 20, 20), 3
    )
    rot = cv2.getRotationMatrix2D((350, 200), 25, 1.0)
    rotated = cv2.warpAffine(canvas, rot, (700, 400), borderValue=(235, 235, 235))
    named, pupils = names_found(detector, rotated)
    assert pupils == {"P0001"}
    xs = [p[0] for p in named[0].polygon]
    assert max(xs) - min(xs) > 200  # the polygon follows the line, in original pixels


@pytest.mark.slow
def test_small_text_in_large_image_is_found_by_tiling(crop: np.ndarray) -> None:
    # A small full pass (800 px) cannot read the crop's text; native 1024-px tiles can.
    small = RapidOcrDetector(Settings(extra={"ocr_full_side": 800, "ocr_tile": 1024}))
    big = np.full((1200, 2000, 3), 200, np.uint8)
    big[900 : 900 + crop.shape[0], 1300 : 1300 + crop.shape[1]] = crop
    named, pupils = names_found(small, big)
    assert "P0044" in pupils
    assert all(d.box.x >= 1290 and d.box.y >= 890 for d in named)


def test_presence_windows_read_what_every_tile_reads(crop: np.ndarray) -> None:
    """The native passes only where the whole-image pass saw text: the same names, and fewer
    pixels than tiling the whole photo (text in two corners of a plain 2000x1200 photo)."""
    extra = {"ocr_full_side": 800, "ocr_tile": 1024}
    every_tile = RapidOcrDetector(Settings(extra={**extra, "ocr_presence": 0}))
    windows = RapidOcrDetector(Settings(extra=extra))
    big = np.full((1200, 2000, 3), 200, np.uint8)
    big[900 : 900 + crop.shape[0], 1300 : 1300 + crop.shape[1]] = crop
    big[30 : 30 + crop.shape[0], 40 : 40 + crop.shape[1]] = crop
    named_tiles, pupils_tiles = names_found(every_tile, big)
    named, pupils = names_found(windows, big)
    assert pupils == pupils_tiles and "P0044" in pupils
    assert len(named) == len(named_tiles)
    read = native_windows(windows._maps.last, 2000, 1200, 1024, windows.overlap)
    assert (
        0
        < sum(w * h for *_, w, h in read)
        < 0.6 * sum(w * h for *_, w, h in _tiles(2000, 1200, 1024, windows.overlap))
    )


def test_tiles_cover_the_image_with_overlap() -> None:
    tiles = _tiles(4000, 3000, 2048, 400)
    assert len(tiles) == 6
    covered = np.zeros((3000, 4000), bool)
    for x, y, w, h in tiles:
        assert w <= 2048 and h <= 2048
        covered[y : y + h, x : x + w] = True
    assert covered.all()
    xs = sorted({x for x, *_ in tiles})
    assert all(b - a <= 2048 - 400 for a, b in itertools.pairwise(xs))
    assert _tiles(800, 600, 2048, 400) == [(0, 0, 800, 600)]


def test_merge_drops_repeats_and_keeps_distinct_lines() -> None:
    def det(x: int, y: int, w: int, h: int, text: str) -> Detection:
        return Detection(Kind.TEXT, Box(x, y, w, h), 0.9, "rapidocr", text=text)

    whole = det(100, 100, 300, 40, "Amelia Hughes")
    part = det(100, 100, 150, 40, "Amelia Hu")  # the same line, cut by a tile edge
    other = det(100, 150, 300, 40, "Year 6")
    neighbour = det(120, 105, 200, 30, "Sports Day")  # overlaps but reads differently
    out = _merge([part, whole, other, neighbour], 1000, 1000)
    assert [d.text for d in out] == ["Amelia Hughes", "Sports Day", "Year 6"]


@pytest.mark.slow
def test_models_come_from_the_rapidocr_wheel(detector: RapidOcrDetector) -> None:
    cfg = detector._engine.cfg
    for part, name in (("Det", "PP-OCRv6_det_small"), ("Rec", "PP-OCRv6_rec_small")):
        path = Path(str(getattr(cfg, part).model_path))
        assert path.name == f"{name}.onnx" and path.parent.parent.name == "rapidocr"


def test_label_is_split_off_a_name_line() -> None:
    quad = np.array([[0, 0], [300, 0], [300, 30], [0, 30]], np.float64)
    words = [
        ("Name:", 0.9, [[5, 0], [60, 0], [60, 30], [5, 30]]),
        ("Amelia", 0.9, [[80, 0], [170, 0], [170, 30], [80, 30]]),
        ("Hughes", 0.9, [[180, 0], [290, 0], [290, 30], [180, 30]]),
    ]
    (label, lp), (rest, rp) = _split_label("Name: Amelia Hughes", quad, words, flipped=False)
    assert (label, rest) == ("Name:", "Amelia Hughes")
    assert lp[1][0] == rp[0][0] == pytest.approx(49)  # one character inside the label
    # Upside down: RapidOCR's word boxes are mirrored; the label is at the far end.
    (_, lp), (_, rp) = _split_label("Name: Amelia Hughes", quad, words, flipped=True)
    assert lp[0][0] == pytest.approx(251) and rp[1][0] == pytest.approx(251)
    assert _split_label("Amelia Hughes", quad, words[1:], flipped=False)[0][0] == "Amelia Hughes"
