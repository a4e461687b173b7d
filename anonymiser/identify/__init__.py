"""Identify: who is in a face (biometric matching) and whose name is in a text line.

Backends live in submodules (``faces``: dlib embeddings; ``names``: roster name matching) and are
imported lazily by the pipeline. Only the protocols the pipeline, video and ``check`` type their
matchers and the text judge by are defined here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from anonymiser.results import Detection, FaceMatch, NameMatch


class FaceMatcher(Protocol):
    """Says, for each detected face, which enrolled pupil it is (if confidently anyone)."""

    def match(self, rgb: np.ndarray, faces: Sequence[Detection]) -> list[FaceMatch]:
        """One ``FaceMatch`` per face, in order."""
        ...


class LineJudge(Protocol):
    """Says of each text line what it carries (``judge.TextJudge``: a pupil's name, another
    person's name, doubtful, or other)."""

    def match(self, lines: Sequence[Detection]) -> list[NameMatch]:
        """One ``NameMatch`` per text line, in order."""
        ...


class NameMatcher(LineJudge, Protocol):
    """Says which text lines, and which file or folder names, carry a roster pupil's name."""

    def contains_name(self, name: str) -> bool:
        """Whether a file or folder name carries a roster name."""
        ...


__all__ = ["FaceMatcher", "LineJudge", "NameMatcher"]
