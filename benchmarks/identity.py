"""Identity benchmark: enrolment + face matching + consent decisions on ../shared/data/identities.

    .venv/bin/python benchmarks/identity.py [--data ../shared/data] [--json out.json]

``knn_examples/train/<person>/`` are the enrolled reference photos; every other photo is a probe.
A synthetic consent log (written to a temp dir; the store too) gives:

* obama, kit_harington, alex_lacamoire: biometric + images/social-media consent (consenting);
* biden: biometric consent but NO images consent (enrolled, matched, must still be blurred);
* rose_leslie: images consent but NO biometric consent (never enrolled: must be blurred);
* lin_manuel_miranda: not on the log.

Each probe face gets an identity: single-person photos label their largest face; the three
multi-person photos are labelled by hand below (by looking at them); every other face is
``unknown`` (a background person, never consenting).

Reports, over probe faces the pipeline detects (the real CenterFace + dlib + decide path):
impostors kept sharp (kept as a pupil who is not that person), non-consenting faces kept, and
the share of consenting faces >= the size limit kept. Then FAR/TAR over all genuine/impostor
pairs of labelled faces (references and probes) at a sweep of thresholds, and a size sweep:
the size test (obama-240p..1080p) and every labelled face downscaled to N px.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from anonymiser.consent import ConsentLog, academic_year_of  # noqa: E402
from anonymiser.enrol import enrol  # noqa: E402
from anonymiser.identify.faces import FaceEmbedder, classify  # noqa: E402
from anonymiser.media import load_image  # noqa: E402
from anonymiser.results import Action, Box, Detection  # noqa: E402
from anonymiser.settings import Settings  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"
SET = "identities/face_recognition"
CONSENTING = {"obama", "kit_harington", "alex_lacamoire"}
BIOMETRIC_ONLY = {"biden"}  # enrolled, but no images consent
NO_BIOMETRIC = {"rose_leslie"}  # images consent, no biometric consent
# Multi-person photos: face centre (x, y) in pixels -> identity, labelled by eye.
HAND_LABELS = {
    "examples/two_people.jpg": [((312, 122), "obama"), ((868, 151), "biden")],
    "knn_examples/test/kit_with_rose.jpg": [
        ((308, 142), "kit_harington"),
        ((119, 163), "rose_leslie"),
    ],
    "knn_examples/test/obama_and_biden.jpg": [((850, 514), "biden"), ((1234, 482), "obama")],
}
THRESHOLDS = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
SIZES = (30, 40, 50, 60, 70, 80, 90, 100, 120)


def write_consent(folder: Path, data: Path, year: str) -> Path:
    train = data / SET / "knn_examples" / "train"
    people = sorted(p.name for p in train.iterdir() if p.is_dir())
    path = folder / "consent.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "pupil_id",
                "first_name",
                "last_name",
                "academic_year",
                "images_social_media",
                "biometric_matching",
                "reference_photos",
            ]
        )
        for i, person in enumerate(people):
            photos = sorted(train.glob(f"{person}/*"))
            refs = ";".join(os.path.relpath(p, folder) for p in photos)
            images = "yes" if person in CONSENTING | NO_BIOMETRIC else "no"
            bio = "yes" if person in CONSENTING | BIOMETRIC_ONLY else "no"
            w.writerow(
                [person, f"Pupil{i}", f"Test{i}", year, images, bio, refs if bio == "yes" else ""]
            )
    return path


def label_faces(rel: str, faces: list[Detection], truth: list[str]) -> list[str]:
    labels = ["unknown"] * len(faces)
    if rel in HAND_LABELS:
        for (cx, cy), who in HAND_LABELS[rel]:
            for i, f in enumerate(faces):
                if f.box.x <= cx <= f.box.x2 and f.box.y <= cy <= f.box.y2:
                    labels[i] = who
    elif len(truth) == 1 and faces:
        labels[max(range(len(faces)), key=lambda i: faces[i].box.area)] = truth[0]
    return labels


def far_tar(faces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Over all pairs of labelled faces (references and probes): genuine = same person,
    impostor = different people."""
    genuine, impostor = [], []
    for a, b in itertools.combinations(faces, 2):
        if "unknown" in (a["label"], b["label"]):
            continue  # unlabelled faces (background people, duplicate boxes) are no pair
        d = float(np.linalg.norm(a["emb"] - b["emb"]))
        (genuine if a["label"] == b["label"] else impostor).append(d)
    g, im = np.array(genuine), np.array(impostor)
    rows = []
    for t in THRESHOLDS:
        rows.append(
            {
                "threshold": t,
                "tar": float((g <= t).mean()),
                "far": float((im <= t).mean()),
                "genuine_pairs": len(g),
                "impostor_pairs": len(im),
            }
        )
    rows.append(
        {
            "min_impostor_distance": float(im.min()),
            "max_genuine_distance": float(g.max()),
            "median_genuine": float(np.median(g)),
            "median_impostor": float(np.median(im)),
        }
    )
    return rows


def size_sweep(
    faces: list[dict[str, Any]], embedder: FaceEmbedder, refs: dict[str, np.ndarray], s: Settings
) -> list[dict[str, Any]]:
    """Each labelled probe face downscaled so its box is N px wide: matched right, or wrongly?

    Enrolled people should still match; everyone should never match someone else.
    """
    rows = []
    for n in SIZES:
        ok = wrong = total = 0
        genuine: list[float] = []
        impostor: list[float] = []
        for f in faces:
            if f["px"] < n:
                continue
            k = n / f["px"]
            rgb = cv2.resize(f["rgb"], None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
            b = f["det"].box
            det = replace(
                f["det"],
                box=Box.from_xyxy(b.x * k, b.y * k, b.x2 * k, b.y2 * k),
                landmarks=tuple((x * k, y * k) for x, y in f["det"].landmarks),
            )
            e = embedder.embed(rgb, det)
            best = {p: float(np.min(np.linalg.norm(r - e, axis=1))) for p, r in refs.items()}
            m = classify(best, s.match_threshold, s.match_margin)
            matched = m.status.value == "matched"
            wrong += matched and m.pupil_id != f["label"]
            if f["label"] in refs:
                total += 1
                ok += matched and m.pupil_id == f["label"]
                genuine.append(best[f["label"]])
            impostor += [d for p, d in best.items() if p != f["label"]]
        rows.append(
            {
                "face_px": n,
                "enrolled_faces": total,
                "matched_correctly": ok,
                "matched_wrongly": wrong,
                "share": round(ok / total, 3) if total else None,
                "median_genuine": round(float(np.median(genuine)), 3),
                "max_genuine": round(float(np.max(genuine)), 3),
                "min_impostor": round(float(np.min(impostor)), 3),
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "identity.json")
    args = ap.parse_args()
    data: Path = args.data
    root = data / SET
    truth: dict[str, list[str]] = json.loads((root / "identities.json").read_text())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ANONYMISER_HOME"] = tmp
        settings = Settings(text="off", store=Path(tmp) / "embeddings.sqlite", workers=1)
        year = academic_year_of(settings.consent_date)
        consent_path = write_consent(Path(tmp), data, year)
        consent = ConsentLog.load(consent_path)
        t0 = time.perf_counter()
        report = enrol(consent_path, settings)
        enrol_s = time.perf_counter() - t0
        print(report.format())

        from anonymiser.pipeline import Anonymiser

        anon = Anonymiser(settings, consent)
        matcher = anon.face_matcher
        embedder = matcher.embedder
        refs = matcher.enrolled
        faces: list[dict[str, Any]] = []
        outcome = {
            "impostor_kept": 0,
            "non_consenting_kept": 0,
            "consenting_faces": 0,
            "consenting_kept": 0,
            "consenting_small": 0,
            "ambiguous": 0,
            "probe_faces": 0,
        }
        details = []
        for rel, people in sorted(truth.items()):
            rgb = load_image(root / rel, max_pixels=settings.max_pixels).rgb
            dets = anon.face_detector.detect(rgb, settings.face_threshold)
            labels = label_faces(rel, dets, people)
            probe = not rel.startswith("knn_examples/train/")
            if probe:
                regions, _ = anon.analyse(rgb)
                regions = [r for r in regions if r.kind.value == "face"]
            for i, (det, label) in enumerate(zip(dets, labels, strict=True)):
                px = min(det.box.w, det.box.h)
                emb = embedder.embed(rgb, det)
                faces.append(
                    {
                        "label": label,
                        "emb": emb,
                        "px": px,
                        "det": det,
                        "rgb": rgb if label != "unknown" and probe else None,
                    }
                )
                if not probe:
                    continue
                r = regions[i]
                outcome["probe_faces"] += 1
                outcome["ambiguous"] += r.reason.value == "ambiguous-match"
                kept = r.action is Action.KEPT
                if kept and r.pupil_id != label:
                    outcome["impostor_kept"] += 1
                if kept and label not in CONSENTING:
                    outcome["non_consenting_kept"] += 1
                if label in CONSENTING:
                    if px >= settings.min_match_face_px:
                        outcome["consenting_faces"] += 1
                        outcome["consenting_kept"] += kept
                    else:
                        outcome["consenting_small"] += 1
                dist = matcher.distances(emb)
                own = dist.get(label)
                other = min((d for p, d in dist.items() if p != label), default=None)
                details.append(
                    {
                        "image": rel,
                        "box": det.box.as_list(),
                        "px": px,
                        "label": label,
                        "action": r.action.value,
                        "reason": r.reason.value,
                        "pupil_id": r.pupil_id,
                        "distance_own": None if own is None else round(own, 3),
                        "distance_nearest_other": None if other is None else round(other, 3),
                    }
                )
        probes = [f for f in faces if f["rgb"] is not None]
        sweep = size_sweep(probes, embedder, refs, settings)
        for f in faces:
            f.pop("rgb")
        pairs = far_tar(faces)
        size_test = [d for d in details if "obama-" in d["image"] and d["label"] == "obama"]
    share = outcome["consenting_kept"] / max(1, outcome["consenting_faces"])
    result = {
        "set": SET,
        "settings": {
            "match_threshold": settings.match_threshold,
            "match_margin": settings.match_margin,
            "min_match_face_px": settings.min_match_face_px,
            "face_threshold": settings.face_threshold,
        },
        "enrolled": report.enrolled,
        "enrol_problems": report.problems,
        "enrol_seconds": round(enrol_s, 1),
        "outcome": {**outcome, "consenting_kept_share": round(share, 3)},
        "pairs": pairs,
        "size_sweep": sweep,
        "size_test": size_test,
        "faces": details,
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print_table(result)
    safe = outcome["impostor_kept"] == 0 and outcome["non_consenting_kept"] == 0
    return 0 if safe and share >= 0.8 else 1


def print_table(r: dict[str, Any]) -> None:
    o, s = r["outcome"], r["settings"]
    print(
        f"\nthreshold {s['match_threshold']}, margin {s['match_margin']}, "
        f"min face {s['min_match_face_px']} px"
    )
    print(
        f"probe faces {o['probe_faces']}: impostors kept {o['impostor_kept']}, "
        f"non-consenting kept {o['non_consenting_kept']}, ambiguous {o['ambiguous']}"
    )
    print(
        f"consenting faces >= size limit kept: {o['consenting_kept']}/{o['consenting_faces']} "
        f"= {o['consenting_kept_share']:.0%} (smaller: {o['consenting_small']})"
    )
    print("\nthreshold   TAR     FAR    (pairs: genuine / impostor)")
    for p in r["pairs"]:
        if "threshold" in p:
            print(
                f"  {p['threshold']:.2f}    {p['tar']:.3f}   {p['far']:.4f}   "
                f"{p['genuine_pairs']} / {p['impostor_pairs']}"
            )
        else:
            print("  " + ", ".join(f"{k} {v:.3f}" for k, v in p.items()))
    print("\nface px   matched correctly   wrongly   genuine median/max   min impostor")
    for z in r["size_sweep"]:
        share = "-" if z["share"] is None else f"{z['share']:.0%}"
        print(
            f"  {z['face_px']:4d}     {z['matched_correctly']:3d}/{z['enrolled_faces']:<3d} {share:>5}"
            f"     {z['matched_wrongly']:3d}       {z['median_genuine']:.3f} / {z['max_genuine']:.3f}"
            f"       {z['min_impostor']:.3f}"
        )
    print("\nsize test:")
    for d in r["size_test"]:
        print(
            f"  {d['image']}: {d['px']} px, distance {d['distance_own']} -> "
            f"{d['action']} ({d['reason']})"
        )
    print("\nper face:")
    for d in r["faces"]:
        print(f"  {d['image']:42s} {d['px']:4d}px {d['label']:16s} {d['action']:8s} {d['reason']}")
    print(f"\n{r['seconds']} s")


if __name__ == "__main__":
    sys.exit(main())
