"""Detectors: find faces and text. Heavy runtimes are imported lazily inside each backend."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from anonymiser.results import Detection


class FaceDetector(Protocol):
    """Finds faces. Boxes come back in the input array's pixels."""

    name: str

    def detect(self, rgb: np.ndarray, threshold: float) -> list[Detection]: ...


def tile_spans(length: int, largest: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) of the fewest tiles of at most ``largest`` px that cover ``length`` with at
    least ``overlap`` px shared by neighbours, spread evenly (no thin, mostly-overlap last tile:
    fewer pixels through the network than fixed-size tiles)."""
    if length <= largest:
        return [(0, length)]
    n = -(-(length - overlap) // (largest - overlap))
    size = -(-(length + (n - 1) * overlap) // n)
    return [(round(i * (length - size) / (n - 1)), size) for i in range(n)]


def tiles(width: int, height: int, largest: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles ``(x, y, w, h)`` of at most ``largest`` px each way that cover a
    ``width`` x ``height`` image (``tile_spans`` on each axis), row by row."""
    return [
        (x, y, w, h)
        for y, h in tile_spans(height, largest, overlap)
        for x, w in tile_spans(width, largest, overlap)
    ]


class TextDetector(Protocol):
    """Finds text lines with their text (``Detection.kind == Kind.TEXT``)."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...
