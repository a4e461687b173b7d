"""Score BlazeFace boxes (from ``blazeface_dump.py``) alone, and unioned with CenterFace.

    python benchmarks/ensemble/evaluate.py /tmp/blazeface.json [--data ../shared/data]

Same protocol as ``benchmarks/accuracy.py`` (WIDER subsets at IoU 0.5, dlib at IoU 0.3, FP =
a detection overlapping no annotated box at IoU 0.3); identities set: images where fewer faces
were found than people the source lists (close-ups, partial faces, profiles).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from accuracy import DEFAULT_DATA, anonymiser_detector, iou_matrix, load_rgb, matched


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("blazeface", type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    blaze = json.loads(args.blazeface.read_text())
    centerface = anonymiser_detector()
    wider = args.data / "face_detection" / "wider_val_simpleaicv"
    attrs = json.loads((wider / "wider_attributes.json").read_text())
    rows: dict[str, dict[str, list[int]]] = {}
    seconds = {"blazeface": 0.0}
    for set_name, thr in (("wider_val_simpleaicv", 0.5), ("dlib_pascal_voc", 0.3)):
        folder = args.data / "face_detection" / set_name
        for name, boxes in json.loads((folder / "faces.json").read_text()).items():
            gt = np.array(boxes, float).reshape(-1, 4)
            key = f"face_detection/{set_name}/{name}"
            cf = np.array(centerface(load_rgb(folder / name)), float).reshape(-1, 5)[:, :4]
            bf = np.array(blaze[key]["boxes"], float).reshape(-1, 5)[:, :4]
            seconds["blazeface"] += blaze[key]["seconds"]
            subsets = (
                {s: np.array(attrs[name][f"{s}_idx_1based"], int) - 1 for s in ("easy", "hard")}
                if set_name.startswith("wider")
                else {"dlib": np.arange(len(gt))}
            )
            for tool, det in (
                ("centerface", cf),
                ("blazeface", bf),
                ("union", np.vstack([cf, bf])),
            ):
                for subset, idx in subsets.items():
                    if len(idx) == 0:
                        continue
                    r = rows.setdefault(tool, {}).setdefault(subset, [0, 0])
                    r[0] += int(matched(gt[idx], det, thr).sum())
                    r[1] += len(idx)
                fp = rows[tool].setdefault(f"fp_{set_name[:4]}", [0, 0])
                fp[0] += (
                    int((iou_matrix(det, gt).max(axis=1, initial=0) < 0.3).sum()) if len(det) else 0
                )
                fp[1] += 1
    ident = args.data / "identities" / "face_recognition"
    people = json.loads((ident / "identities.json").read_text())
    short = {"centerface": [], "blazeface": []}
    for name, who in people.items():
        cf_n = len(centerface(load_rgb(ident / name)))
        bf_n = len(blaze.get(f"identities/face_recognition/{name}", {"boxes": []})["boxes"])
        for tool, n in (("centerface", cf_n), ("blazeface", bf_n)):
            if n < len(who):
                short[tool].append(f"{name} ({n}/{len(who)})")
    print("| tool | WIDER easy | WIDER hard | dlib | FP/image WIDER | FP/image dlib |")
    print("|---|---|---|---|---|---|")
    for tool, r in rows.items():
        cells = [f"{r[k][0] / r[k][1]:.3f} ({r[k][0]}/{r[k][1]})" for k in ("easy", "hard", "dlib")]
        cells += [f"{r[k][0] / r[k][1]:.1f}" for k in ("fp_wide", "fp_dlib")]
        print(f"| {tool} | " + " | ".join(cells) + " |")
    n_bf = sum(1 for k in blaze if k.startswith("face_detection"))
    print(f"BlazeFace seconds/image (192x192 input): {seconds['blazeface'] / n_bf:.3f}")
    print(f"identities ({len(people)} images): fewer faces than listed people: {short}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
