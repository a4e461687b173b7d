"""Face-detection accuracy on ../shared/data, anonymiser and deface side by side in one run.

    python benchmarks/accuracy.py [--data ../shared/data] [--gate] [--json out.json]

WIDER (wider_val_simpleaicv): recall at IoU >= 0.5 for the official easy / medium / hard subsets
(boxes outside the subset are ignored: neither hit nor miss), recall by face size, false positives
per image (a detection overlapping no annotated box, in any subset, at IoU >= 0.3).
dlib_pascal_voc: recall at IoU >= 0.3 (dlib boxes are tight inner-face boxes).
``--gate`` exits 1 if anonymiser falls below the documented floors (CI regression gate).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SIZE_BUCKETS = ((0, 16, "<16"), (16, 32, "16-32"), (32, 64, "32-64"), (64, 10**9, ">=64"))
# Regression floors (below the measured values in benchmarks/README.md, with a small margin).
FLOORS = {"wider_hard": 0.88, "wider_easy": 0.97, "wider_medium": 0.95, "dlib": 0.97, "wider_fp_per_image": 1.5}

Detector = Callable[[np.ndarray], list[list[float]]]  # -> [[x, y, w, h, score], ...]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-9)


def matched(gt: np.ndarray, det: np.ndarray, thr: float) -> np.ndarray:
    """Greedy one-to-one matching, best IoU first: which ground-truth boxes were found."""
    hit = np.zeros(len(gt), bool)
    m = iou_matrix(gt, det)
    while m.size and m.max() >= thr:
        g, d = np.unravel_index(np.argmax(m), m.shape)
        hit[g] = True
        m[g, :] = -1
        m[:, d] = -1
    return hit


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def eval_wider(detect: Detector, folder: Path) -> dict:
    faces = json.loads((folder / "faces.json").read_text())
    attrs = json.loads((folder / "wider_attributes.json").read_text())
    hits = {"easy": [0, 0], "medium": [0, 0], "hard": [0, 0]}
    buckets = {label: [0, 0] for *_, label in SIZE_BUCKETS}
    fps, seconds = 0, 0.0
    for name, boxes in faces.items():
        gt = np.array(boxes, float).reshape(-1, 4)
        rgb = load_rgb(folder / name)
        t = time.perf_counter()
        det = np.array(detect(rgb), float).reshape(-1, 5)[:, :4]
        seconds += time.perf_counter() - t
        for subset in hits:
            idx = np.array(attrs[name][f"{subset}_idx_1based"], int) - 1
            if len(idx) == 0:
                continue
            found = matched(gt[idx], det, 0.5)
            hits[subset][0] += int(found.sum())
            hits[subset][1] += len(idx)
            if subset == "hard":
                for (lo, hi, label) in SIZE_BUCKETS:
                    short = np.minimum(gt[idx, 2], gt[idx, 3])
                    sel = (short >= lo) & (short < hi)
                    buckets[label][0] += int(found[sel].sum())
                    buckets[label][1] += int(sel.sum())
        fps += int((iou_matrix(det, gt).max(axis=1, initial=0) < 0.3).sum()) if len(det) else 0
    n = len(faces)
    out = {f"wider_{k}": v[0] / v[1] for k, v in hits.items()}
    out.update({f"wider_{k}_counts": v for k, v in hits.items()})
    out["wider_hard_by_size"] = {k: (v[0] / v[1] if v[1] else None, v[1]) for k, v in buckets.items()}
    out["wider_fp_per_image"] = fps / n
    out["wider_seconds_per_image"] = seconds / n
    return out


def eval_dlib(detect: Detector, folder: Path) -> dict:
    faces = json.loads((folder / "faces.json").read_text())
    found = total = fps = 0
    for name, boxes in faces.items():
        gt = np.array(boxes, float).reshape(-1, 4)
        det = np.array(detect(load_rgb(folder / name)), float).reshape(-1, 5)[:, :4]
        found += int(matched(gt, det, 0.3).sum())
        total += len(gt)
        fps += int((iou_matrix(det, gt).max(axis=1, initial=0) < 0.3).sum()) if len(det) else 0
    return {"dlib": found / total, "dlib_counts": [found, total], "dlib_fp_per_image": fps / len(faces)}


def anonymiser_detector() -> Detector:
    from anonymiser.detect.faces import CenterFaceDetector
    from anonymiser.settings import Settings

    s = Settings()
    det = CenterFaceDetector(s.detect_sizes, s.tile_size, threads=2)
    return lambda rgb: [[*d.box.as_list(), d.score] for d in det.detect(rgb, s.face_threshold)]


def deface_detector() -> Detector | None:
    """deface 1.5.0 with its defaults: CenterFace at native resolution, threshold 0.2."""
    try:
        import contextlib
        import io

        from deface.centerface import CenterFace

        from anonymiser.models import resolve_model

        with contextlib.redirect_stdout(io.StringIO()):
            cf = CenterFace(str(resolve_model("centerface")), in_shape=None, backend="onnxrt")
    except Exception as err:  # benchmark-only optional dependency
        print(f"deface unavailable: {err}", file=sys.stderr)
        return None

    def detect(rgb: np.ndarray) -> list[list[float]]:
        dets, _ = cf(rgb, threshold=0.2)
        return [[x1, y1, x2 - x1, y2 - y1, s] for x1, y1, x2, y2, s in dets]

    return detect


def run(data: Path) -> dict:
    results = {}
    for name, factory in (("anonymiser", anonymiser_detector), ("deface", deface_detector)):
        detect = factory()
        if detect is None:
            continue
        r = eval_wider(detect, data / "face_detection" / "wider_val_simpleaicv")
        r.update(eval_dlib(detect, data / "face_detection" / "dlib_pascal_voc"))
        results[name] = r
    return results


def table(results: dict) -> str:
    keys = ["wider_easy", "wider_medium", "wider_hard", "wider_fp_per_image", "dlib", "dlib_fp_per_image",
            "wider_seconds_per_image"]  # fmt: skip
    names = list(results)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{results[n][k]:.3f}" for n in names) + " |")
    for label in results[names[0]]["wider_hard_by_size"]:
        cells = []
        for n in names:
            rate, count = results[n]["wider_hard_by_size"][label]
            cells.append("-" if rate is None else f"{rate:.3f} (n={count})")
        lines.append(f"| hard recall, face {label} px | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "accuracy.json")
    ap.add_argument("--gate", action="store_true", help="fail if below the regression floors")
    args = ap.parse_args()
    if not (args.data / "face_detection").is_dir():
        print(f"{args.data}: no face_detection data; skipping accuracy benchmark", file=sys.stderr)
        return 0
    results = run(args.data)
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.gate:
        ours = results["anonymiser"]
        bad = [f"{k}={ours[k]:.3f} (floor {v})" for k, v in FLOORS.items()
               if (ours[k] > v if k.endswith("per_image") else ours[k] < v)]  # fmt: skip
        if bad:
            print("accuracy gate FAILED: " + ", ".join(bad), file=sys.stderr)
            return 1
        print("accuracy gate passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
