"""Cheaper face plans for large photos, each scored on the camera sets and the 12 MP mosaics.

    python benchmarks/large_plan.py [--data ../shared/data] [--variants base,overlap-96,...]

Issue 15 asks for faces only at <= 0.6x deface's CPU seconds; at 12 MP the anonymiser is at
~0.72x. These are the candidate savings on photos larger than ``SMALL_IMAGE`` (small photos,
hence every other dev set, are unchanged by all of them), applied to the shipped detector by
patching it in a subprocess of their own:

* ``overlap-96`` / ``overlap-128``: the native-size tiles overlap by 96 / 128 px instead of
  ``tile // 6`` = 170 (15.1 -> 13.7 / 14.3 MP of CenterFace input at 12 MP);
* ``slime-1600`` / ``slime-1792``: libfacedetection's large-photo pass at a long side of 1600 /
  1792 px instead of ``slimeface.LARGE`` = 2048;
* ``edge-merged``: the whole-image upright passes (640 and 1280 px) run on the edge passes'
  mirrored-border copy, so the edge passes need no runs of their own; boxes centred in the
  border are the edge candidates; ``edge-merged-aligned``: the same with the border rounded up to
  CenterFace's 32 px stride;
* ``turned-640``: the passes on the photo turned 90, 180 and 270 degrees at a long side of 640 px
  only (not also 1280: ``faces.ROTATED_SIZES``).

Per variant: found faces per subset, coverage and FP per frame on the camera sets
(``accuracy.camera_sets``: native, 2x, and native with most photos turned), the mosaics'
counts, and the face detector's CPU seconds per 12 MP frame (one thread; the same frames for
every variant, run one after another). Writes ``benchmarks/results/large_plan.json``
(``--json``: elsewhere).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import accuracy as A
import numpy as np

RESULTS = A.ROOT / "benchmarks" / "results" / "large_plan.json"
FIGURES = ("easy", "medium", "hard", "hard_size_16-64", "covered_16px")


def _overlap(px: int) -> None:
    from anonymiser.detect import faces

    tiles = faces._tiles

    def patched(width: int, height: int, tile: int, overlap: int) -> list:
        # Only the native tiles of a 12 MP frame are this large (small photos' 2x tiles of
        # the dev sets stay under 6.5 MP).
        return tiles(width, height, tile, px if tile and width * height > 6.5e6 else overlap)

    faces._tiles = patched  # type: ignore[assignment]


def _slime(long_side: int) -> None:
    from anonymiser.detect import slimeface

    slimeface.LARGE = long_side


def _edge_merged(aligned: bool) -> None:
    import cv2

    from anonymiser.detect import faces

    cls = faces.CenterFaceDetector
    plain_pass, edge_faces = cls._pass, cls._edge_faces

    def one_pass(self, rgb, p, threshold, turn=0, scaled=None):  # type: ignore[no-untyped-def]
        height, width = rgb.shape[:2]
        if max(width, height) <= faces.SMALL_IMAGE or p.tile or p.flip or turn or p.scale >= 1:
            return plain_pass(self, rgb, p, threshold, turn, scaled)
        image = scaled(p.scale) if scaled else faces._resized(rgb, p.scale)
        pad = round(faces.EDGE_PAD * max(image.shape[:2]))
        pad = -(-pad // 32) * 32 if aligned else pad
        boxes, marks = self._run(
            cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT), threshold
        )
        boxes[:, :4] = (boxes[:, :4] - pad) / p.scale
        marks = (marks - pad) / p.scale
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        inside = (cx >= 0) & (cy >= 0) & (cx < width) & (cy < height)
        self._border_boxes = [*getattr(self, "_border_boxes", []), boxes[~inside]]
        return boxes[inside], marks[inside]

    def border_faces(self, rgb, threshold, scaled=None):  # type: ignore[no-untyped-def]
        if max(rgb.shape[:2]) <= faces.SMALL_IMAGE:
            return edge_faces(self, rgb, threshold, scaled)
        # On a 4096 px frame the edge scales (640, 1280 px) are both upright whole-image passes.
        found, self._border_boxes = getattr(self, "_border_boxes", []), []
        boxes = np.concatenate([np.empty((0, 5), np.float32), *found])
        return boxes[boxes[:, 4] >= threshold]

    cls._pass, cls._edge_faces = one_pass, border_faces  # type: ignore[method-assign]


def _turned_sizes(sizes: tuple[int, ...]) -> None:
    from anonymiser.detect import faces

    faces.ROTATED_SIZES = sizes


VARIANTS = {
    "base": lambda: None,
    "overlap-96": lambda: _overlap(96),
    "overlap-128": lambda: _overlap(128),
    "slime-1600": lambda: _slime(1600),
    "slime-1792": lambda: _slime(1792),
    "edge-merged": lambda: _edge_merged(False),
    "edge-merged-aligned": lambda: _edge_merged(True),
    "turned-640": lambda: _turned_sizes((640,)),
}


def measure(variant: str, data: Path) -> dict:
    """One variant, in this process: counts on the camera sets and mosaics, detector CPU s."""
    VARIANTS[variant]()
    shipped = A.anonymiser_detector(threads=1)
    cpu: list[float] = []

    def detect(rgb: np.ndarray) -> list[list[float]]:
        start = time.process_time()
        found = shipped(rgb)
        cpu.append(time.process_time() - start)
        return found

    folders = A.camera_sets(data)
    sets = A.eval_sets([A.Tool("anonymiser", detect, A.anonymiser_redact)], data, folders)
    row: dict = {"variant": variant}
    for folder in folders:
        r = sets["anonymiser"][folder.name]
        for k in FIGURES:
            row[f"{folder.name}/{k}"] = r[k]["found"]
        row[f"{folder.name}/fp_per_photo"] = round(r["fp_per_photo"], 2)
    row["cpu_s_per_frame"] = round(float(np.mean(cpu)), 3)
    mosaics = A.eval_mosaics(detect, data)
    for key in ("mosaic_native_wider_hard", "mosaic_native_dlib", "mosaic_2x_wider_hard"):
        row[key] = mosaics[f"{key}_counts"][0]
    return row


def table(rows: list[dict]) -> str:
    base = rows[0]
    keys = [k for k in base if k != "variant"]
    lines = ["| figure | " + " | ".join(r["variant"] for r in rows) + " |",
             "|---" * (len(rows) + 1) + "|"]  # fmt: skip
    for k in keys:
        cells = [f"{base[k]}"] + [
            f"{r[k]} ({r[k] - base[k]:+.3g})" if r[k] != base[k] else f"{r[k]}" for r in rows[1:]
        ]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=A.DEFAULT_DATA)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a single variant, in this process
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.data)))
        return 0
    if not (args.data / "face_detection" / A.CAMERA_SOURCE).is_dir():
        print(f"{args.data}: no {A.CAMERA_SOURCE}; nothing to measure", file=sys.stderr)
        return 0
    rows = []
    for variant in args.variants.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--one", variant, "--data", str(args.data)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{variant}: done", file=sys.stderr)
    args.json.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
