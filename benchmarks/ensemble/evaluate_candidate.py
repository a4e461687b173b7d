"""Score a candidate detector's dumped boxes alone and unioned with the shipped detector's.

    PYTHONPATH=. python benchmarks/ensemble/evaluate_candidate.py ANON.json CAND.json
        [--name tfrf] [--scales s1 s1+s2] [--alone 0.5,0.7,0.9] [--union 0.5,0.7,0.8,0.9,0.95]
        [--dedupe 0.3] [--mode add|replace|enclose] [--json OUT.json] [--no-coverage]

ANON.json / CAND.json come from ``candidate_dump.py`` (``anonymiser`` / a candidate). Scoring is
``accuracy.eval_sets`` (WIDER subsets at IoU 0.5, dlib at 0.3, FP = a box overlapping no
annotated face at IoU 0.3, coverage = faces >= 16 px whose ellipse the shipped redaction
changed). Tools: the shipped detector; the candidate alone at each threshold of ``--alone``
(passes of one scale set merged by NMS at IoU 0.4); ``+cand>=t``: the shipped boxes plus every
candidate box >= t that overlaps no shipped box at IoU >= ``--dedupe`` (default 0.3: a face both
found keeps the shipped box; 0.5: a candidate box is added also where the shipped box is too
far off to match the face, both boxes blurred). ``--mode replace``: a candidate box >= t that
overlaps a shipped box at IoU >= 0.3 replaces it (``enclose``: widens it to enclose both), other
candidate boxes >= t are added. Prints the table, the faces gained and lost per set against the shipped
detector, and the candidate's CPU seconds per photo for each scale set.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import accuracy as A
from candidate_dump import SETS, _nms
from detcache import image_key


def _xywh(b: np.ndarray) -> np.ndarray:
    return np.column_stack([b[:, :2], b[:, 2:4] - b[:, :2], b[:, 4]]).reshape(-1, 5)


def merged(entry: dict, passes: list[str]) -> np.ndarray:
    """The passes' boxes (x1 y1 x2 y2 s) merged by NMS at IoU 0.4."""
    b = np.vstack([np.array(entry[p]["boxes"], float).reshape(-1, 5) for p in passes])
    return _nms(b) if len(passes) > 1 else b


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("anonymiser", type=Path)
    ap.add_argument("candidate", type=Path)
    ap.add_argument("--name", default="cand")
    ap.add_argument("--scales", nargs="+", default=["s1", "s1+s2"])
    ap.add_argument("--alone", default="0.5,0.7,0.9")
    ap.add_argument("--union", default="0.5,0.7,0.8,0.9,0.95")
    ap.add_argument("--dedupe", type=float, default=0.3)
    ap.add_argument("--mode", choices=("add", "replace", "enclose"), default="add")
    ap.add_argument("--sets", default=SETS)
    ap.add_argument("--data", type=Path, default=A.DEFAULT_DATA)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-coverage", action="store_true")
    args = ap.parse_args()
    anon = json.loads(args.anonymiser.read_text())
    cand = json.loads(args.candidate.read_text())
    sets = [args.data / "face_detection" / s for s in args.sets.split(",")]
    keys: dict[str, str] = {}  # pixel hash -> "<set>/<photo>"
    for folder in sets:
        for name in json.loads((folder / "faces.json").read_text()):
            keys[image_key(A.load_rgb(folder / name))] = f"{folder.name}/{name}"

    def shipped(rgb: np.ndarray) -> np.ndarray:
        return np.array(anon[keys[image_key(rgb)]]["final"]["boxes"], float).reshape(-1, 5)

    def candidate(rgb: np.ndarray, passes: list[str]) -> np.ndarray:
        return merged(cand[keys[image_key(rgb)]], passes)

    tools = [A.Tool("anonymiser", lambda rgb: _xywh(shipped(rgb)).tolist(), A.anonymiser_redact)]
    for sc in args.scales:
        passes = sc.split("+")
        for t in (float(x) for x in args.alone.split(",") if x):
            tools.append(A.Tool(
                f"{args.name}:{sc}>={t:g}",
                lambda rgb, p=passes, t=t: _xywh(
                    (c := candidate(rgb, p))[c[:, 4] >= t]).tolist(),
                A.anonymiser_redact,
            ))  # fmt: skip
        for t in (float(x) for x in args.union.split(",") if x):

            def union(rgb, p=passes, t=t):
                s, c = shipped(rgb).copy(), candidate(rgb, p)
                c = c[c[:, 4] >= t]
                if not (len(s) and len(c)):
                    return _xywh(np.vstack([s, c])).tolist()
                iou = A.iou_matrix(_xywh(c)[:, :4], _xywh(s)[:, :4])
                if args.mode == "add":
                    return _xywh(np.vstack([s, c[iou.max(axis=1) < args.dedupe]])).tolist()
                # replace / enclose: a candidate box overlapping a shipped one at IoU >= 0.3
                # takes its place (best-scoring candidate first) or widens it to both boxes
                new = iou.max(axis=1) < 0.3
                for i in np.argsort(-c[:, 4]):
                    j = int(iou[i].argmax())
                    if iou[i, j] < 0.3:
                        continue
                    if args.mode == "replace":
                        s[j, :4] = c[i, :4]
                    else:
                        s[j, :4] = [
                            *np.minimum(s[j, :2], c[i, :2]),
                            *np.maximum(s[j, 2:4], c[i, 2:4]),
                        ]
                    iou[:, j] = -1  # each shipped box refined once
                return _xywh(np.vstack([s, c[new]])).tolist()

            tools.append(A.Tool(f"+{args.name}:{sc}>={t:g}", union, A.anonymiser_redact))
    res = A.eval_sets(tools, args.data, sets, coverage=not args.no_coverage)
    print(A.sets_table(res, ("easy", "medium", "hard", "all", "hard_size_16-64", "covered")))
    print()
    base = res["anonymiser"]
    for name, r in res.items():
        if not name.startswith("+"):
            continue
        parts = []
        for set_name, x in r.items():
            gained = sorted(set(base[set_name]["missed"]) - set(x["missed"]))
            lost = sorted(set(x["missed"]) - set(base[set_name]["missed"]))
            fp = (x["fp_per_photo"] - base[set_name]["fp_per_photo"]) * x["photos"]
            parts.append(f"{set_name}: +{len(gained)} / -{len(lost)} faces, {fp:+.0f} FP")
        print(f"{name}: " + "; ".join(parts))
    print()
    for sc in args.scales:
        cpu = [sum(cand[k][p]["cpu"] for p in sc.split("+")) for k in keys.values()]
        wb = [sum(cand[k][p]["cpu"] for p in sc.split("+")) for k in keys.values()
              if k.startswith("wider_val_b/")]  # fmt: skip
        print(
            f"{args.name} {sc}: CPU s per photo {np.mean(cpu):.2f} (wider_val_b {np.mean(wb):.2f})"
        )
    a_cpu = [anon[k]["final"]["cpu"] for k in keys.values()]
    print(f"shipped detector: CPU s per photo {np.mean(a_cpu):.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
