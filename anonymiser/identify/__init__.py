"""Identify: who is in a face (biometric matching) and whose name is in a text line.

Backends live in submodules (``faces``: dlib embeddings; ``names``: roster name matching) and are
imported lazily by the pipeline. Only the protocols are defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from anonymiser.results import Detection, FaceMatch


class FaceMatcher(Protocol):
    """Says, for each detected face, which enrolled pupil it is (if confidently anyone)."""

    def match(self, rgb: np.ndarray, faces: Sequence[Detection]) -> list[FaceMatch]:
        """One ``FaceMatch`` per face, in order."""
        ...


__all__ = ["FaceMatcher"]
