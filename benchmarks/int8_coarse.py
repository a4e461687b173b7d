"""int8 CenterFace for the coarse, turned and edge passes only; fp32 for the native and 2x tiles
and the second look (benchmark only; the shipped code is unchanged).

    PYTHONPATH=. python benchmarks/int8_coarse.py speed PHOTO ...   # CPU s, fp32 vs this, 1 thread
    PYTHONPATH=. python benchmarks/int8_coarse.py hybrid|fp32        # accuracy.py, uncached, all sets

Needs the int8 model that ``benchmarks/int8.py build`` writes to benchmarks/out/int8/.
Results: benchmarks/results/int8.md ("int8 for the coarse passes only").
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy as A
from int8 import INT8, session_loader

from anonymiser.detect import faces as F

OUT = Path(__file__).resolve().parent / "out"
HYBRID = {"on": True}
_init, _run, _pass, _edge = (
    F.CenterFaceDetector.__init__,
    F.CenterFaceDetector._run,
    F.CenterFaceDetector._pass,
    F.CenterFaceDetector._edge_faces,
)


def init(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    _init(self, *args, **kwargs)
    self._fp32, self._int8, self._coarse = self._session, session_loader(INT8)(), False


def run(self, rgb, threshold, flip=False):  # type: ignore[no-untyped-def]
    self._session = self._int8 if self._coarse and HYBRID["on"] else self._fp32
    try:
        return _run(self, rgb, threshold, flip)
    finally:
        self._session = self._fp32


def coarse_pass(self, rgb, p, threshold, turn=0, scaled=None):  # type: ignore[no-untyped-def]
    self._coarse = p.scale < 0.95 or turn != 0
    try:
        return _pass(self, rgb, p, threshold, turn, scaled)
    finally:
        self._coarse = False


def edge_pass(self, rgb, threshold, scaled=None):  # type: ignore[no-untyped-def]
    self._coarse = True
    try:
        return _edge(self, rgb, threshold, scaled)
    finally:
        self._coarse = False


def speed(paths: list[str]) -> None:
    from PIL import Image

    from anonymiser.detect.factory import DetectorUse, face_detector
    from anonymiser.settings import Settings

    s = Settings()
    det = face_detector(s, DetectorUse.PHOTO, threads=1)
    for path in paths:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        times: dict[bool, list[float]] = {False: [], True: []}
        for rnd in range(4):  # the first round warms up
            for on in (False, True):
                HYBRID["on"] = on
                t = time.process_time()
                det.detect(rgb, s.face_threshold)
                if rnd:
                    times[on].append(time.process_time() - t)
        medians = {
            ("hybrid" if k else "fp32"): round(statistics.median(v), 3) for k, v in times.items()
        }
        print(path, rgb.shape, medians)


def main() -> int:
    F.CenterFaceDetector.__init__ = init  # type: ignore[method-assign]
    F.CenterFaceDetector._run = run  # type: ignore[method-assign]
    F.CenterFaceDetector._pass = coarse_pass  # type: ignore[method-assign]
    F.CenterFaceDetector._edge_faces = edge_pass  # type: ignore[method-assign]
    if sys.argv[1] == "speed":
        speed(sys.argv[2:])
        return 0
    HYBRID["on"] = sys.argv[1] == "hybrid"
    t = time.process_time()
    r = A.run(A.DEFAULT_DATA, fast=False, residual=False, tools=("anonymiser",), cache=False)
    print(f"cpu {time.process_time() - t:.0f} s")
    out = OUT / f"int8_coarse_{sys.argv[1]}.json"
    out.write_text(json.dumps(r["anonymiser"], indent=1, default=str) + "\n")
    print(A.table({"anonymiser": r["anonymiser"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
