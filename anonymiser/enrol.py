"""Enrolment: reference photos of pupils with biometric consent -> the embeddings store.

Incremental: a reference photo already enrolled (same pupil, year and photo sha256) is not
embedded again. Every run first purges everyone whose biometric consent for the enrolment
date's academic year is gone, and reference photos no longer listed. Reference images are read,
embedded and dropped: they are never copied, cached or logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anonymiser.consent import ConsentLog, ConsentRow, academic_year_of
from anonymiser.errors import MediaError
from anonymiser.files import sha256_file
from anonymiser.identify.faces import EmbeddingStore, FaceEmbedder
from anonymiser.results import Detection
from anonymiser.settings import Settings

log = logging.getLogger(__name__)

REFERENCE_THRESHOLD = 0.5  # detector score a reference face needs (stricter than for blurring)


@dataclass(slots=True)
class EnrolReport:
    store: Path
    academic_year: str
    consent_sha256: str
    enrolled: dict[str, int] = field(default_factory=dict)  # pupil_id -> photos in store
    added: int = 0
    unchanged: int = 0
    removed_photos: int = 0
    purged: list[str] = field(default_factory=list)  # pupils whose embeddings were deleted
    problems: list[str] = field(default_factory=list)  # rejected reference photos
    without_photos: list[str] = field(default_factory=list)  # biometric consent, no photo

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        lines = [f"problem: {p}" for p in self.problems]
        if self.without_photos:
            lines.append(
                "biometric consent but no usable reference photo (will always be blurred): "
                + ", ".join(self.without_photos)
            )
        if self.purged:
            lines.append(f"purged (biometric consent gone): {', '.join(self.purged)}")
        lines.append(
            f"{self.store}: {len(self.enrolled)} pupils enrolled for {self.academic_year} "
            f"({self.added} photos added, {self.unchanged} unchanged, "
            f"{self.removed_photos} removed); {len(self.problems)} problems"
        )
        return "\n".join(lines)


def _inside(inner: Detection, outer: Detection) -> float:
    return inner.box.intersection(outer.box) / max(1, inner.box.area)


def reference_face(faces: list[Detection], min_px: int) -> Detection | str:
    """The one face of a reference photo, or why the photo cannot be used.

    Ignored: weak detections, boxes mostly inside a larger face (a mouth or chin found twice),
    and faces too small to be confused with the pupil's.
    """
    strong = sorted((f for f in faces if f.score >= REFERENCE_THRESHOLD), key=lambda f: -f.box.area)
    distinct: list[Detection] = []
    for f in strong:
        if all(_inside(f, big) < 0.5 for big in distinct):
            distinct.append(f)
    if not distinct:
        return "no face found"
    large = [f for f in distinct if min(f.box.w, f.box.h) >= min_px]
    if not large:
        px = min(distinct[0].box.w, distinct[0].box.h)
        return f"face too small ({px} px, needs at least {min_px} px)"
    if len(large) > 1:
        return f"{len(large)} faces: use a photo of the pupil alone"
    return large[0]


class _Models:
    """Detector and embedder, loaded on first use (not at all if nothing is new)."""

    def __init__(self, settings: Settings, detector: Any, embedder: FaceEmbedder | None) -> None:
        self.settings, self._detector, self._embedder = settings, detector, embedder

    @property
    def detector(self) -> Any:
        if self._detector is None:
            from anonymiser.detect.faces import CenterFaceDetector

            s = self.settings
            # References are portraits: upright passes only (turned ones add only clutter).
            self._detector = CenterFaceDetector(s.detect_sizes, s.tile_size, rotated=False)
        return self._detector

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self._embedder = FaceEmbedder()
        return self._embedder


def enrol(
    consent_path: str | Path,
    settings: Settings,
    *,
    detector: Any = None,
    embedder: FaceEmbedder | None = None,
    progress: Callable[[str], None] | None = None,
) -> EnrolReport:
    """Build or update the embeddings store from the consent log's reference photos.

    Raises ConsentError if the log is invalid (nothing is enrolled then, but nothing is purged
    either). Problems with single reference photos are collected in the report.
    """
    on_date = settings.consent_date
    consent = ConsentLog.load(consent_path, on_date)
    year = academic_year_of(on_date)
    eligible = consent.biometric_pupils(on_date)
    report = EnrolReport(settings.store_path, year, consent.sha256)
    models = _Models(settings, detector, embedder)
    with EmbeddingStore(settings.store_path, create=True) as store:
        report.purged = store.purge_except({(r.pupil_id, year) for r in eligible})
        store.set_consent_hash(consent.sha256)
        for row in eligible:
            if progress:
                progress(row.pupil_id)
            _enrol_pupil(row, year, consent.sha256, store, report, models)
    return report


def _enrol_pupil(
    row: ConsentRow,
    year: str,
    consent_sha: str,
    store: EmbeddingStore,
    report: EnrolReport,
    models: _Models,
) -> None:
    from anonymiser.media import load_image

    settings = models.settings

    have = store.photos(row.pupil_id, year)
    wanted: set[str] = set()
    for photo in row.reference_photos:
        where = f"line {row.line} ({row.pupil_id}): reference photo {photo.name}"
        try:
            sha = sha256_file(photo)
        except OSError as err:
            report.problems.append(f"{where}: cannot read: {err.strerror or err}")
            continue
        wanted.add(sha)
        if sha in have:
            report.unchanged += 1
            continue
        try:
            rgb = load_image(photo, max_pixels=settings.max_pixels).rgb
        except MediaError as err:
            report.problems.append(f"{where}: {err}")
            wanted.discard(sha)
            continue
        face = reference_face(models.detector.detect(rgb, 0.35), settings.min_match_face_px)
        if isinstance(face, str):
            report.problems.append(f"{where}: {face}")
            wanted.discard(sha)
            continue
        # Jitters make the reference embedding a little more robust; slower but done once.
        vector = models.embedder.embed(rgb, face, jitters=5)
        store.add(row.pupil_id, year, sha, consent_sha, vector, min(face.box.w, face.box.h))
        report.added += 1
        del rgb
    report.removed_photos += store.remove_photos(row.pupil_id, year, have - wanted)
    n = len(store.photos(row.pupil_id, year))
    if n:
        report.enrolled[row.pupil_id] = n
    else:
        report.without_photos.append(row.pupil_id)
