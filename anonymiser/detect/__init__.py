"""Detectors: find faces and text. Heavy runtimes are imported lazily inside each backend."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from anonymiser.results import Detection


class FaceDetector(Protocol):
    """Finds faces. Boxes come back in the input array's pixels."""

    name: str

    def detect(self, rgb: np.ndarray, threshold: float) -> list[Detection]: ...


class TextDetector(Protocol):
    """Finds text lines with their text (``Detection.kind == Kind.TEXT``)."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...
