"""Grid over the ensemble's fusion rule, from the detection cache (no coverage: recall and FP).

PYTHONPATH=. python benchmarks/ensemble/grid.py > benchmarks/out/grid.txt
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import accuracy as A
from detcache import CachedCenterFace, CachedSlimeFace, image_key

from anonymiser.detect.ensemble import Fusion, fuse_detectors


class Memo:
    def __init__(self) -> None:
        self.cf, self.sf = CachedCenterFace(), CachedSlimeFace()
        self.memo: dict = {}

    def get(self, rgb: np.ndarray):
        k = image_key(rgb)
        if k not in self.memo:
            self.memo[k] = (self.cf.detect(rgb, 0.1), self.sf.raw(rgb))
        return self.memo[k]


def main() -> int:
    memo = Memo()
    grid = []
    for low, pair, alone, vote, piou in itertools.product(
        (0.1, 0.15), (0.45, 0.55, 0.65, 0.75), (0.7, 0.8, 0.9, 1.01), (False, True), (0.3, 0.4)
    ):
        rule = Fusion(
            primary_low=low, pair_score=pair, second_alone=alone, vote=vote, pair_iou=piou
        )

        def det(rgb, rule=rule):
            p, s = memo.get(rgb)
            h, w = rgb.shape[:2]
            return [[*d.box.as_list(), d.score] for d in fuse_detectors(p, s, 0.3, w, h, rule)]

        grid.append(
            A.Tool(f"{low}/{pair}/{alone}/{'v' if vote else '-'}/{piou}", det, A.anonymiser_redact)
        )
    res = A.eval_sets(grid, A.DEFAULT_DATA, coverage=False)
    for name, r in res.items():
        b, s, d = r["wider_val_b"], r["wider_val_simpleaicv"], r["dlib_pascal_voc"]
        print(name, " ".join(f"{b[k]['recall']:.3f}" for k in ("easy", "medium", "hard", "hard_size_16-64")),
              f"fp {b['fp_per_photo']:.2f} | simple {s['hard']['found']}/{s['hard']['total']} fp {s['fp_per_photo']:.2f}"
              f" | dlib {d['all']['found']}/{d['all']['total']} fp {d['fp_per_photo']:.2f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
