"""Box fit of the shipped face detector: which box a face gets, re-scored from the cache.

    PYTHONPATH=. python benchmarks/ensemble/box_fit.py [VARIANT ...]

Needs the detection cache (``benchmarks/accuracy.py --fast --tools anonymiser`` builds it).
Variants, each against the shipped rule (``shipped``) on every dev face set:

* pair box (``ensemble.fuse_detectors``): ``pair-higher`` a kept pair takes libfacedetection's
  box when it scores higher; ``pair-higher02`` when higher by 0.2; ``pair-lowcf`` when CenterFace
  scores < 0.6 and libfacedetection higher; ``pair-both`` both boxes (IoU < 0.7, second >= 0.5);
* pass fusion (``faces.fuse``): the kept box replaced by the score-weighted mean (``wbf``) or
  the median (``med``) of the passes' boxes overlapping it at IoU >= a and scoring >= b x its
  score: ``wbf6`` (0.6, 0.8), ``wbf5`` (0.5, 0.7), ``wbf7`` (0.7, 0.5), ``med6`` (0.6, 0).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import accuracy as A

import anonymiser.detect.ensemble as E
import anonymiser.detect.faces as F
from anonymiser.results import Detection

MODE = {"m": "shipped"}
PASS_RULES = {"wbf6": (0.6, 0.8), "wbf5": (0.5, 0.7), "wbf7": (0.7, 0.5), "med6": (0.6, 0.0)}
_fuse_detectors, _fuse = E.fuse_detectors, F.fuse


def pair_box(primary, second, threshold, width, height, rule=None, source="libfacedetection",
             recheck=None):  # fmt: skip
    rule = rule or E.Fusion()
    out = _fuse_detectors(primary, second, threshold, width, height, rule, source, recheck)
    mode = MODE["m"]
    sec = second.reshape(-1, 5)
    sec = sec[sec[:, 4] >= rule.second_low]
    if not mode.startswith("pair-") or not len(sec) or not out:
        return out
    iou = E.box_iou(E._xyxy(out), sec)
    res = []
    for k, d in enumerate(out):
        j = int(np.argmax(iou[k]))
        if d.source == source or iou[k, j] < rule.pair_iou:
            res.append(d)
            continue
        s, p, box = float(sec[j, 4]), d.score, E._box(sec[j], width, height)
        if mode == "pair-both":
            res.append(d)
            if s >= 0.5 and iou[k, j] < 0.7:
                res.append(Detection(d.kind, box, s, source))
            continue
        take = {"pair-higher": s > p, "pair-higher02": s > p + 0.2,
                "pair-lowcf": p < 0.6 and s > p}[mode]  # fmt: skip
        res.append(Detection(d.kind, box, p, d.source, d.landmarks) if take else d)
    return res


def pass_box(boxes: np.ndarray, marks: np.ndarray, iou: float = 0.4):
    kept, kept_marks = _fuse(boxes, marks, iou)
    if MODE["m"] not in PASS_RULES or not len(boxes):
        return kept, kept_marks
    min_iou, share = PASS_RULES[MODE["m"]]
    out = kept.copy()
    for k, b in enumerate(kept):
        ov = E.box_iou(b[None, :4], boxes[:, :4])[0]
        sel = (ov >= min_iou) & (boxes[:, 4] >= share * b[4])
        if sel.sum() > 1:
            w = boxes[sel, 4:5]
            mean = (boxes[sel, :4] * w).sum(0) / w.sum()
            out[k, :4] = np.median(boxes[sel, :4], axis=0) if MODE["m"].startswith("med") else mean
    return out, kept_marks


def main() -> int:
    E.fuse_detectors, F.fuse = pair_box, pass_box
    det = A.anonymiser_detector(cache=True)
    tools = []
    for m in ["shipped", *sys.argv[1:]]:

        def run(rgb: np.ndarray, m: str = m) -> list:
            MODE["m"] = m
            return det(rgb)

        tools.append(A.Tool(m, run, A.anonymiser_redact))
    res = A.eval_sets(tools, A.DEFAULT_DATA)
    print(A.sets_table(res, ("easy", "medium", "hard", "all", "hard_size_16-64", "covered")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
