"""Which native-resolution windows the text detector reads, from the whole-image pass's map."""

from __future__ import annotations

import numpy as np

from anonymiser.detect.text import WINDOW_MIN, _read_finer, _tiles, native_windows
from anonymiser.results import Box, Detection, Kind
from anonymiser.settings import OcrSettings

TILE, OVERLAP = OcrSettings().tile, OcrSettings().overlap


def _map(width: int, height: int, marks: list[tuple[int, int, int, int]]) -> np.ndarray:
    """A probability map at half the photo's size with text at ``marks`` (photo pixels)."""
    prob = np.zeros((height // 2, width // 2), np.float32)
    for x, y, w, h in marks:
        prob[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = 0.6
    return prob


def _inside(box: tuple[int, int, int, int], windows: list[tuple[int, int, int, int]]) -> bool:
    x, y, w, h = box
    return any(
        wx <= x and wy <= y and x + w <= wx + ww and y + h <= wy + wh for wx, wy, ww, wh in windows
    )


def test_each_text_place_is_read_whole_with_a_margin() -> None:
    badges = [(300, 200, 180, 30), (3000, 2500, 400, 60), (3500, 400, 90, 20)]
    windows = native_windows(_map(4000, 3000, badges), 4000, 3000)
    for x, y, w, h in badges:  # the place, grown by its height each way, is inside a window
        assert _inside((x - h, y - h, w + 2 * h, h + 2 * h), windows)
    for x, y, w, h in windows:
        assert x >= 0 and y >= 0 and x + w <= 4000 and y + h <= 3000
        assert min(w, h) >= WINDOW_MIN and w % 32 == 0 and h % 32 == 0
    tiles = _tiles(4000, 3000, TILE, OVERLAP)
    assert sum(w * h for *_, w, h in windows) < 0.1 * sum(w * h for *_, w, h in tiles)


def test_close_places_share_a_window_far_ones_do_not() -> None:
    near = [(1000, 1000, 200, 30), (1000, 1040, 200, 30)]  # two lines of one badge
    far = [(100, 100, 200, 30), (3600, 2800, 200, 30)]
    assert len(native_windows(_map(4000, 3000, near), 4000, 3000)) == 1
    assert len(native_windows(_map(4000, 3000, far), 4000, 3000)) == 2


def test_no_text_no_windows() -> None:
    assert native_windows(np.zeros((1500, 2000), np.float32), 4000, 3000) == []


def test_when_unsure_every_tile_is_read() -> None:
    tiles = _tiles(4000, 3000, TILE, OVERLAP)
    assert native_windows(None, 4000, 3000) == tiles  # no map
    one = _map(4000, 3000, [(300, 200, 180, 30)])
    assert native_windows(one, 4000, 3000, presence=0) == tiles  # presence off
    assert native_windows(one[:, :400], 4000, 3000) == tiles  # a map of another shape
    # Text everywhere: windows would cost more than the tiles.
    assert native_windows(np.full((1500, 2000), 0.9, np.float32), 4000, 3000) == tiles


def test_a_large_text_area_is_cut_into_tiles() -> None:
    poster = [(100, 100, 3500, 2600)]
    windows = native_windows(_map(4000, 3000, poster), 4000, 3000)
    assert all(w <= TILE and h <= TILE for *_, w, h in windows)


def _line(x: float, y: float, w: float, h: float, text: str = "Amelia Hughes") -> Detection:
    return Detection(Kind.TEXT, Box(x, y, w, h), 0.9, "rapidocr", text=text)


def test_native_readings_replace_a_coarse_line_only_where_they_cover_it() -> None:
    window = [(1000, 1000, 640, 320)]
    coarse = _line(1100, 1100, 300, 40, "Arnelia Hugles")  # read at a quarter of its size
    native = [_line(1098, 1099, 150, 42, "Amelia"), _line(1252, 1100, 150, 41, "Hughes")]
    assert _read_finer(coarse, native, window) == []  # replaced whole
    # Half of it read natively: the coarse reading stays (nothing is left unread).
    assert _read_finer(coarse, native[:1], window) is None
    # The native pass did not hold the whole line: it stays.
    assert _read_finer(_line(900, 1100, 300, 40), native, window) is None
    assert _read_finer(coarse, [], window) is None


def test_what_native_readings_leave_unread_of_a_coarse_line_stays() -> None:
    """Default deny: a coarse line mostly read natively keeps its unread part, with the coarse
    reading, so a surname the native pass missed is still judged (and blurred as a name)."""
    window = [(1000, 1000, 1200, 320)]
    coarse = _line(1100, 1100, 500, 40, "Amelia Hughes-Smith")
    native = [_line(1095, 1099, 420, 42, "Amelia Hughes")]  # the last 80 px not read natively
    rest = _read_finer(coarse, native, window)
    assert rest is not None and len(rest) == 1
    (part,) = rest
    assert part.text == "Amelia Hughes-Smith" and len(part.polygon) == 4
    assert (part.box.x, part.box.x + part.box.w) == (1515, 1600)  # to the coarse line's end
    assert (part.box.y, part.box.h) == (1100, 40)
    # A gap narrower than half a line height (between two words) is not a part of its own.
    gap = [_line(1095, 1099, 250, 42, "Amelia"), _line(1360, 1100, 245, 41, "Hughes-Smith")]
    assert _read_finer(coarse, gap, window) == []
    # A vertical line: the parts run down it.
    tall = _line(1100, 1000, 40, 300, "Amelia Hughes")
    down = _read_finer(tall, [_line(1099, 1000, 42, 240, "Amelia Hug")], [(1000, 900, 320, 640)])
    assert down is not None and [(d.box.y, d.box.y + d.box.h) for d in down] == [(1240, 1300)]
