"""Redaction changes only the planned areas, and changes them beyond recognition."""

from __future__ import annotations

import numpy as np
import pytest

from anonymiser.redact import redact, redaction_area
from anonymiser.results import Action, Box, Kind, Reason, Region


def _face(box: Box, action: Action = Action.BLURRED) -> Region:
    return Region(Kind.FACE, box, 0.9, action, Reason.NOT_IDENTIFIED)


def _noise(h: int = 200, w: int = 300) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("method", ["blur", "pixelate", "fill"])
def test_only_planned_area_changes(method: str) -> None:
    rgb = _noise()
    region = _face(Box(100, 60, 40, 50))
    out = redact(rgb, [region], method)
    area = redaction_area(region, 300, 200)
    outside = np.ones((200, 300), bool)
    outside[area.y : area.y2, area.x : area.x2] = False
    assert np.array_equal(out[outside], rgb[outside])
    assert rgb is not out  # input untouched
    inner = out[60:110, 100:140].astype(int)
    # Beyond recognition: the face box's fine detail is gone.
    assert np.abs(inner - rgb[60:110, 100:140]).mean() > 40
    assert inner.std() < 30


def test_kept_regions_are_untouched() -> None:
    rgb = _noise()
    out = redact(rgb, [_face(Box(10, 10, 50, 50), Action.KEPT)])
    assert np.array_equal(out, rgb)


def test_face_ellipse_covers_hair_and_chin() -> None:
    rgb = _noise()
    region = _face(Box(120, 80, 40, 40))
    out = redact(rgb, [region], "fill")
    # 20% above the box (hair) and below (chin) are covered too.
    assert np.array_equal(out[72, 140], out[100, 140])
    assert np.array_equal(out[128, 140], out[100, 140])


def test_text_polygon_is_filled() -> None:
    rgb = _noise()
    poly = ((50.0, 50.0), (150.0, 60.0), (148.0, 80.0), (48.0, 70.0))
    region = Region(
        Kind.TEXT, Box(48, 50, 102, 30), 0.9, Action.BLURRED, Reason.PUPIL_NAME, polygon=poly
    )
    out = redact(rgb, [region])
    patch = out[58:72, 60:140]
    assert len(np.unique(patch.reshape(-1, 3), axis=0)) == 1  # one colour: no letter survives
    area = redaction_area(region, 300, 200)
    assert np.array_equal(out[area.y2 + 1 :], rgb[area.y2 + 1 :])


def test_region_at_image_edge() -> None:
    rgb = _noise(50, 50)
    out = redact(rgb, [_face(Box(-10, -10, 30, 30)), _face(Box(40, 40, 30, 30))])
    assert out.shape == rgb.shape
