"""Face matching: dlib ResNet embeddings, the enrolment store, and the confident-match rule.

Why dlib: ``dlib-bin`` + ``face-recognition-models`` are plain PyPI wheels with no runtime download;
the ResNet gives 128-D embeddings compared by euclidean distance (99.38% on LFW at 0.6) and runs on
CPU in ~20 ms per face. We use a much stricter threshold than 0.6 plus a margin to the second-best
pupil (see ``benchmarks/identity.py``), because a false accept publishes an unconsented child.

The store is one SQLite file outside any output folder, mode 0600 (folder 0700), keyed by
(pupil_id, academic_year, reference photo sha256). It holds embeddings only, never images.
Only pupils with biometric consent (Protection of Freedoms Act 2012 ss. 26–27) for the current
academic year are ever enrolled or matched.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import stat
from collections.abc import Iterable, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from anonymiser.consent import ConsentLog, academic_year_of
from anonymiser.errors import StorageError
from anonymiser.files import open_sqlite, private_dir
from anonymiser.results import Detection, FaceMatch, MatchStatus
from anonymiser.settings import Settings

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MODEL_ID = "dlib-resnet-v1/sp5"  # changes when the embedding would change: forces re-enrolment
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embeddings (
    pupil_id TEXT NOT NULL,
    academic_year TEXT NOT NULL,
    photo_sha256 TEXT NOT NULL,
    consent_sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    face_px INTEGER NOT NULL,
    embedding BLOB NOT NULL,
    enrolled_at TEXT NOT NULL,
    PRIMARY KEY (pupil_id, academic_year, photo_sha256)
);
"""


class StoreError(StorageError):
    """The embeddings store is unusable or in an unsafe place."""


# ----------------------------------------------------------------------------- the match rule


def classify(best: dict[str, float], threshold: float, margin: float) -> FaceMatch:
    """The confident-match rule, from each enrolled pupil's best distance to one face.

    MATCHED: nearest pupil within ``threshold`` AND every other pupil at least ``margin`` further.
    AMBIGUOUS: nearest within ``threshold + margin`` but not MATCHED (near the threshold, or two
    pupils close) -> blurred and flagged for review. UNKNOWN otherwise; NOT_MATCHED if nobody.
    """
    if not best:
        return FaceMatch(MatchStatus.NOT_MATCHED)
    ranked = sorted(best.items(), key=lambda kv: kv[1])
    pupil, d1 = ranked[0]
    d2 = ranked[1][1] if len(ranked) > 1 else math.inf
    second = None if math.isinf(d2) else round(d2, 4)
    if d1 <= threshold and d2 - d1 >= margin:
        return FaceMatch(MatchStatus.MATCHED, pupil, round(d1, 4), second)
    if d1 <= threshold + margin:
        return FaceMatch(MatchStatus.AMBIGUOUS, pupil, round(d1, 4), second)
    return FaceMatch(MatchStatus.UNKNOWN, None, round(d1, 4), second)


def face_px(det: Detection) -> int:
    """The size a face is judged by for matching: the short side of its box."""
    return min(det.box.w, det.box.h)


# ----------------------------------------------------------------------------- embeddings


class FaceEmbedder:
    """dlib 5-point landmarks -> aligned 150x150 chip -> 128-D ResNet embedding."""

    def __init__(self) -> None:
        import dlib  # heavy: imported only when a face is to be embedded

        from anonymiser.models import resolve_model

        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(resolve_model("dlib-landmarks-5")))
        self._net = dlib.face_recognition_model_v1(str(resolve_model("dlib-resnet")))

    def rect(self, det: Detection) -> Any:
        """A dlib-detector-style square box for this detection.

        dlib's landmark model expects boxes like dlib's own detector draws. From the detector's
        five landmarks (eyes, nose, mouth corners) when present, else from the box; calibrated on
        the identity set (mean embedding change vs dlib's own boxes 0.05).
        """
        b = det.box
        if len(det.landmarks) == 5:
            pts = np.asarray(det.landmarks, np.float64)
            eyes, mouth = (pts[0] + pts[1]) / 2, (pts[3] + pts[4]) / 2
            eye_mouth = float(np.linalg.norm(mouth - eyes))
            inter_eye = float(np.linalg.norm(pts[1] - pts[0]))
            cx = eyes[0] + (mouth - eyes)[0] * 0.5
            cy = eyes[1] + 0.48 * eye_mouth
            side = 2.42 * (eye_mouth + inter_eye) / 2
            if side >= 0.5 * b.w:  # landmarks look sane
                return self._square(cx, cy, side)
        cx, cy = b.centre
        return self._square(cx, cy + 0.047 * b.h, 1.14 * b.w)

    def _square(self, cx: float, cy: float, side: float) -> Any:
        half = side / 2
        return self._dlib.rectangle(
            round(cx - half), round(cy - half), round(cx + half), round(cy + half)
        )

    def embed(self, rgb: np.ndarray, det: Detection, jitters: int = 0) -> np.ndarray:
        image = np.ascontiguousarray(rgb)
        shape = self._shape(image, self.rect(det))
        vec = self._net.compute_face_descriptor(image, shape, jitters)
        return np.asarray(vec, np.float32)


# ----------------------------------------------------------------------------- the store


def check_store_location(store: str | Path, outdirs: Iterable[str | Path]) -> None:
    """Refuse a store inside (or being) an output folder: outputs get published."""
    s = Path(store).expanduser().resolve()
    for outdir in outdirs:
        o = Path(outdir).expanduser().resolve()
        if s == o or s.is_relative_to(o) or s.parent == o:
            raise StoreError(
                f"{store}: the embeddings store must not be inside the output folder {outdir}; "
                "set ANONYMISER_HOME or --store elsewhere"
            )


class EmbeddingStore:
    """The SQLite embeddings store. Use as a context manager."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_symlink() or self.path.is_dir():
            raise StoreError(f"{self.path}: the embeddings store must be a plain file")
        if create:
            private_dir(self.path.parent)
            if not self.path.exists():
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
                os.close(fd)
        elif not self.path.exists():
            raise StoreError(f"{self.path}: no embeddings store; run `anonymiser enrol CSV` first")
        mode = stat.S_IMODE(self.path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s: permissions %o too open; setting 0600", self.path, mode)
            os.chmod(self.path, 0o600)
        # No WAL: a purged embedding must not linger in a write-ahead log; transactions are
        # explicit (``with self._con``), so a purge is all or nothing.
        self._con = open_sqlite(
            self.path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            error=StoreError,
            what="embeddings store",
            wal=False,
            autocommit=False,
        )
        try:
            self._con.execute("PRAGMA secure_delete = ON")  # purged rows are overwritten
            self._check_model()
        except sqlite3.Error as err:
            self._con.close()
            raise StoreError(f"{self.path}: embeddings store unreadable: {err}") from None

    def _check_model(self) -> None:
        row = self._con.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
        if row is None:
            with self._con:
                self._con.execute("INSERT INTO meta VALUES ('model', ?)", (MODEL_ID,))
        elif row[0] != MODEL_ID:
            with self._con:  # embeddings of another model cannot be compared: start again
                self._con.execute("DELETE FROM embeddings")
                self._con.execute("UPDATE meta SET value = ? WHERE key = 'model'", (MODEL_ID,))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> EmbeddingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading

    def photos(self, pupil_id: str, year: str) -> set[str]:
        rows = self._con.execute(
            "SELECT photo_sha256 FROM embeddings WHERE pupil_id = ? AND academic_year = ?",
            (pupil_id, year),
        )
        return {r[0] for r in rows}

    def enrolled_keys(self) -> set[tuple[str, str]]:
        rows = self._con.execute("SELECT DISTINCT pupil_id, academic_year FROM embeddings")
        return {(r[0], r[1]) for r in rows}

    def embeddings(self, year: str) -> dict[str, np.ndarray]:
        """pupil_id -> (n, 128) array of that pupil's reference embeddings for ``year``."""
        out: dict[str, list[np.ndarray]] = {}
        rows = self._con.execute(
            "SELECT pupil_id, embedding FROM embeddings WHERE academic_year = ? AND model = ?",
            (year, MODEL_ID),
        )
        for pupil, blob in rows:
            out.setdefault(pupil, []).append(np.frombuffer(blob, np.float32))
        return {p: np.stack(v) for p, v in out.items()}

    def count(self) -> int:
        return int(self._con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    # -- writing

    def add(
        self,
        pupil_id: str,
        year: str,
        photo_sha256: str,
        consent_sha256: str,
        embedding: np.ndarray,
        px: int,
    ) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with self._con:
            self._con.execute(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pupil_id,
                    year,
                    photo_sha256,
                    consent_sha256,
                    MODEL_ID,
                    int(px),
                    np.asarray(embedding, np.float32).tobytes(),
                    stamp,
                ),
            )

    def set_consent_hash(self, consent_sha256: str) -> None:
        with self._con:
            self._con.execute("UPDATE embeddings SET consent_sha256 = ?", (consent_sha256,))

    def remove_photos(self, pupil_id: str, year: str, photo_sha256s: Iterable[str]) -> int:
        with self._con:
            return sum(
                self._con.execute(
                    "DELETE FROM embeddings WHERE pupil_id = ? AND academic_year = ? "
                    "AND photo_sha256 = ?",
                    (pupil_id, year, sha),
                ).rowcount
                for sha in photo_sha256s
            )

    def purge_except(self, keep: set[tuple[str, str]]) -> list[str]:
        """Delete every (pupil, year) not in ``keep``; returns the purged pupil ids."""
        gone = sorted(self.enrolled_keys() - keep)
        with self._con:
            for pupil, year in gone:
                self._con.execute(
                    "DELETE FROM embeddings WHERE pupil_id = ? AND academic_year = ?", (pupil, year)
                )
        self._vacuum(bool(gone))
        return sorted({p for p, _ in gone})

    def purge_pupil(self, pupil_id: str) -> int:
        """Delete all of one pupil's embeddings, every year; returns how many."""
        with self._con:
            n = self._con.execute("DELETE FROM embeddings WHERE pupil_id = ?", (pupil_id,)).rowcount
        self._vacuum(n > 0)
        return n

    def _vacuum(self, changed: bool) -> None:
        if changed:
            self._con.execute("VACUUM")  # no deleted embedding left in free pages


# ----------------------------------------------------------------------------- the matcher


class FaceEmbeddingMatcher:
    """Matches faces against the pupils enrolled for the current academic year.

    Only pupils whose biometric consent holds on ``settings.consent_date`` are considered, even
    if the store still holds others (say, withdrawn since the last ``enrol``).
    """

    def __init__(
        self,
        store_path: str | Path,
        consent: ConsentLog | None,
        settings: Settings,
        *,
        embedder: FaceEmbedder | None = None,
    ) -> None:
        self.settings = settings
        on_date = settings.consent_date
        self.academic_year = academic_year_of(on_date)
        self.enrolled: dict[str, np.ndarray] = {}
        if consent is not None and Path(store_path).expanduser().exists():
            with closing(EmbeddingStore(store_path)) as store:
                found = store.embeddings(self.academic_year)
            self.enrolled = {
                p: e for p, e in found.items() if consent.biometric_allowed(p, on_date)
            }
        self._embedder = embedder

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self._embedder = FaceEmbedder()
        return self._embedder

    def distances(self, embedding: np.ndarray) -> dict[str, float]:
        """Each enrolled pupil's nearest reference distance."""
        return {
            p: float(np.min(np.linalg.norm(refs - embedding, axis=1)))
            for p, refs in self.enrolled.items()
        }

    def match(self, rgb: np.ndarray, faces: Sequence[Detection]) -> list[FaceMatch]:
        if not self.enrolled:
            return [FaceMatch(MatchStatus.NOT_MATCHED) for _ in faces]
        s = self.settings
        out = []
        for det in faces:
            if face_px(det) < s.min_match_face_px:
                out.append(FaceMatch(MatchStatus.TOO_SMALL))
                continue
            embedding = self.embedder.embed(rgb, det)
            out.append(classify(self.distances(embedding), s.match_threshold, s.match_margin))
        return out
