"""What a CPU budget per 12 MP photo buys in recall: the finest detection pass capped.

    python benchmarks/resolution_budget.py [--data ../shared/data] [--caps 1280,2048,2730,4096]

A what-if, not a shipped setting: the detector's finest pass (native resolution for camera
photos) is replaced by one at long side ``cap`` (coarser passes and the edge-face passes as
usual), and the 12 MP mosaics of ``accuracy.py`` (dev faces pasted at native size and 2x into
4096x3072 frames) are run through it, one thread. Reported per cap: CPU seconds per frame and
faces found. It shows what the issue's ">= 0.33x the decode+encode floor" target (about
0.35 CPU s of detection per 12 MP photo here) would cost. Writes results/resolution_budget.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy

import anonymiser.detect.faces as faces
from anonymiser.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "resolution_budget.json"
PLAN = faces.plan_passes  # the shipped plan, before any cap is patched in


def capped_plan(cap: int) -> Callable[..., list]:
    """``faces.plan_passes`` with the finest pass at long side ``cap`` (never upscaled)."""

    def capped(width: int, height: int, sizes: Sequence[int], tile: int, mirror: bool = True):
        long_side = max(width, height)
        fine = min(1.0, cap / long_side)
        passes = [p for p in PLAN(width, height, sizes, tile, mirror) if p.scale * 2 <= fine]
        passes.append(faces._Pass(fine, tile if long_side * fine > tile * 1.25 else 0))
        return passes

    return capped


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=accuracy.DEFAULT_DATA)
    ap.add_argument("--caps", default="1280,2048,2730,4096")
    args = ap.parse_args()
    if not (args.data / "face_detection").is_dir():
        print(f"{args.data}: no face_detection data", file=sys.stderr)
        return 0
    s = Settings()
    detector = faces.CenterFaceDetector(s.detect_sizes, s.tile_size, threads=1)
    rows = {}
    try:
        for cap in (int(c) for c in args.caps.split(",")):
            faces.plan_passes = capped_plan(cap)  # type: ignore[assignment]
            cpu: list[float] = []

            def detect(rgb: np.ndarray, cpu: list[float] = cpu) -> list[list[float]]:
                start = time.process_time()
                found = detector.detect(rgb, s.face_threshold)
                cpu.append(time.process_time() - start)
                return [[*d.box.as_list(), d.score] for d in found]

            r = accuracy.eval_mosaics(detect, args.data)
            rows[cap] = {k: v for k, v in r.items() if k.endswith("_counts")}
            rows[cap]["cpu_s_per_frame"] = sum(cpu) / len(cpu)
    finally:
        faces.plan_passes = PLAN
    print("| finest pass, long side | CPU s / 12 MP frame | WIDER hard, native size | "
          "WIDER hard, 2x | dlib, native |")  # fmt: skip
    print("|---|---|---|---|---|")
    for cap, r in rows.items():
        n, d2, dl = (r[f"mosaic_{k}_counts"] for k in ("native_wider_hard", "2x_wider_hard",
                                                        "native_dlib"))  # fmt: skip
        print(f"| {cap} | {r['cpu_s_per_frame']:.2f} | {n[0]}/{n[1]} | {d2[0]}/{d2[1]} | "
              f"{dl[0]}/{dl[1]} |")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
