"""How well `anonymiser check`'s face rule separates unblurred faces from normal outputs.

Every dev photo (``../shared/data/face_detection`` dlib + WIDER, ``identities``, ``samples/``,
``tests/data/faces``; duplicates by content dropped) is anonymised by the pipeline with no consent
log (every face blurred, no OCR). Then the check's face part runs on:

* the OUTPUTS: every finding is a false alarm (normal outputs must pass);
* the ORIGINALS: each face region the pipeline blurred counts as caught when a finding overlaps
  it (what the check would say had the blur not happened). Regions are split into annotated faces
  (dlib/WIDER/tests boxes), regions matching no annotation (hands, flags, unannotated faces) and
  regions of photos without annotations (identities, samples), and by size (< 16 px wide);
* outputs with ONE face pasted back (the largest and the smallest blurred region of each photo,
  re-encoded as JPEG q92): caught when a finding overlaps that face;
* a 12 MP mosaic of all outputs: false alarms and seconds for the face check.

Rules compared, on the same detections (``settings.check_threshold``): ``old`` (score >= 0.45 and
detail >= 30, the rule before), ``default`` and ``strict`` (``Checker.face_evidence``).

    .venv/bin/python benchmarks/check_gate.py [--work DIR]

Writes ``benchmarks/results/check_gate.json`` and prints a table. About 15 min on 2 busy cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anonymiser import Settings, media  # noqa: E402
from anonymiser.check import Checker, face_detail, near  # noqa: E402
from anonymiser.pipeline import Anonymiser  # noqa: E402
from anonymiser.redact import redaction_area  # noqa: E402
from anonymiser.results import Box, Kind, Status  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "check_gate.json"
RULES = ("old", "default", "strict")
SMALL = 16  # px: regions narrower than this are "tiny"


def photos() -> list[tuple[Path, list[Box] | None]]:
    """(photo, annotated face boxes or None), shared data first (it has annotations)."""
    sets = [
        DATA / "face_detection" / "dlib_pascal_voc",
        DATA / "face_detection" / "wider_val_simpleaicv",
        ROOT / "tests" / "data" / "faces",
    ]
    out: list[tuple[Path, list[Box] | None]] = []
    for folder in sets:
        boxes = json.loads((folder / "faces.json").read_text())
        for name in sorted(boxes):
            out.append((folder / name, [Box(*map(int, b)) for b in boxes[name]]))
    ident = DATA / "identities" / "face_recognition"
    for path in sorted(ident.rglob("*")):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}:
            out.append((path, None))
    for path in sorted((ROOT / "samples").iterdir()):
        if path.suffix.lower() in {".jpg", ".png"}:
            out.append((path, None))
    seen: set[str] = set()
    unique = []
    for path, boxes in out:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in seen:
            seen.add(digest)
            unique.append((path, boxes))
    return unique


def judge(checker: Checker, rgb: np.ndarray) -> list[dict[str, Any]]:
    """Every detection at the check threshold with each rule's verdict."""
    out = []
    for det in checker.face_detector.detect(rgb, checker.settings.check_threshold):
        detail = face_detail(rgb, det.box)
        face, strict, what = checker.face_evidence(rgb, det)
        out.append(
            {
                "box": det.box.as_list(),
                "score": round(det.score, 3),
                "detail": round(detail, 1),
                "what": what,
                "old": det.score >= 0.45 and detail >= 30,
                "default": face,
                "strict": strict,
            }
        )
    return out


def jpeg(rgb: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
    )
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def mosaic(images: list[np.ndarray], width: int = 4000, height: int = 3000) -> np.ndarray:
    """Shelf-pack images at native size into a 12 MP grey frame (as many as fit)."""
    frame = np.full((height, width, 3), 128, np.uint8)
    x = y = shelf = 0
    for im in sorted(images, key=lambda a: -a.shape[0]):
        h, w = im.shape[:2]
        if w > width or h > height:
            continue
        if x + w > width:
            x, y, shelf = 0, y + shelf, 0
        if y + h > height:
            continue
        frame[y : y + h, x : x + w] = im
        x, shelf = x + w, max(shelf, h)
    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, help="folder for the outputs (default: temporary)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="check_gate_"))
    settings = Settings(text="off", workers=1)
    anon = Anonymiser(settings)
    checker = Checker(settings, face_detector=anon.face_detector)
    regions: list[dict[str, Any]] = []
    false_alarms: list[dict[str, Any]] = []
    pasted: list[dict[str, Any]] = []
    outputs = []
    items = photos()
    for i, (src, truth) in enumerate(items):
        dst = work / f"{i:02d}_{src.stem}.jpg"
        result = anon.process_file(src, dst)
        assert result.status is Status.OK, result.error
        orig = media.load_image(src, max_pixels=settings.max_pixels).rgb
        safe = media.load_image(dst, max_pixels=settings.max_pixels).rgb
        outputs.append(safe)
        on_out = judge(checker, safe)
        on_orig = judge(checker, orig)
        name = str(src.relative_to(ROOT.parent)) if ROOT.parent in src.parents else str(src)
        for c in on_out:
            if any(c[r] for r in RULES):
                false_alarms.append({"photo": name, **c})
        faces = [r for r in result.regions if r.kind is Kind.FACE]
        for r in faces:
            hits = [c for c in on_orig if near(Box(*c["box"]), r.box)]
            label = "unannotated" if truth is None else (
                "face" if any(near(r.box, t) for t in truth) else "not-annotated-face"
            )  # fmt: skip
            regions.append(
                {
                    "photo": name,
                    "box": r.box.as_list(),
                    "label": label,
                    "tiny": r.box.w < SMALL,
                    **{rule: any(c[rule] for c in hits) for rule in RULES},
                }
            )
        picks = sorted(faces, key=lambda r: r.box.area)
        for r in {id(p): p for p in picks[-1:] + picks[:1]}.values():
            area = redaction_area(r, result.width, result.height)
            tampered = safe.copy()
            tampered[area.y : area.y2, area.x : area.x2] = orig[area.y : area.y2, area.x : area.x2]
            found = judge(checker, jpeg(tampered))
            hit = [c for c in found if near(Box(*c["box"]), r.box)]
            pasted.append(
                {
                    "photo": name,
                    "box": r.box.as_list(),
                    "tiny": r.box.w < SMALL,
                    **{rule: any(c[rule] for c in hit) for rule in RULES},
                }
            )
        print(f"{i + 1}/{len(items)} {name}: {len(faces)} faces", flush=True)

    frame = mosaic(outputs)
    start, cpu = time.perf_counter(), time.process_time()
    on_mosaic = judge(checker, frame)
    mosaic_s, mosaic_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    checker.face_detector.detect(frame, settings.check_threshold)
    detect_s = time.perf_counter() - start

    def count(rows: list[dict[str, Any]], rule: str, **where: Any) -> list[int]:
        sel = [r for r in rows if all(r[k] == v for k, v in where.items())]
        return [sum(r[rule] for r in sel), len(sel)]

    summary: dict[str, Any] = {}
    for rule in RULES:
        summary[rule] = {
            "false_alarms_outputs": sum(c[rule] for c in false_alarms),
            "false_alarms_12mp_mosaic": sum(c[rule] for c in on_mosaic),
            "caught_annotated_faces_ge16": count(regions, rule, label="face", tiny=False),
            "caught_annotated_faces_lt16": count(regions, rule, label="face", tiny=True),
            "caught_unannotated_photos": count(regions, rule, label="unannotated"),
            "caught_regions_not_annotated_faces": count(regions, rule, label="not-annotated-face"),
            "caught_all_regions": count(regions, rule),
            "caught_pasted_back_ge16": count(pasted, rule, tiny=False),
            "caught_pasted_back_lt16": count(pasted, rule, tiny=True),
        }
    results = {
        "photos": len(items),
        "settings": {
            "check_threshold": settings.check_threshold,
            "face_threshold": settings.face_threshold,
        },
        "summary": summary,
        "seconds_12mp": {
            "face_check_wall": round(mosaic_s, 1),
            "face_check_cpu": round(mosaic_cpu, 1),
            "detection_alone_wall": round(detect_s, 1),
            "detections": len(on_mosaic),
        },
        "missed_by_default": [r for r in regions if not r["default"]],
        "missed_pasted_by_default": [r for r in pasted if not r["default"]],
        "false_alarms": false_alarms,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\n{len(items)} photos, outputs in {work}")
    print("| rule | false alarms (outputs / 12 MP mosaic) | faces >= 16 px | faces < 16 px | "
          "unannotated photos | all regions | pasted back >= 16 / < 16 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for rule, s in summary.items():
        cells = [
            f"{s['false_alarms_outputs']} / {s['false_alarms_12mp_mosaic']}",
            *(
                f"{a}/{b}"
                for a, b in (
                    s["caught_annotated_faces_ge16"],
                    s["caught_annotated_faces_lt16"],
                    s["caught_unannotated_photos"],
                    s["caught_all_regions"],
                )
            ),
            "{}/{} / {}/{}".format(*s["caught_pasted_back_ge16"], *s["caught_pasted_back_lt16"]),
        ]
        print(f"| {rule} | " + " | ".join(cells) + " |")
    print(f"12 MP: face check {mosaic_s:.1f} s wall ({mosaic_cpu:.1f} s CPU), detection alone "
          f"{detect_s:.1f} s, {len(on_mosaic)} detections")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
