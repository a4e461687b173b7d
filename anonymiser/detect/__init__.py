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


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b`` (both ``[x1, y1, x2, y2, ...]``)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    iw = np.clip(
        np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    ih = np.clip(
        np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou: np.ndarray = inter / np.maximum(area_a[:, None] + area_b[None] - inter, 1e-9)
    return iou


class TextDetector(Protocol):
    """Finds text lines with their text (``Detection.kind == Kind.TEXT``)."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]: ...
