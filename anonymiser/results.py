"""Small frozen result types shared by every stage.

Boxes are integer pixels in the oriented (displayed) image: ``x, y`` top-left, ``w, h`` size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from anonymiser.errors import ExitCode


@dataclass(frozen=True, slots=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def from_xyxy(cls, x1: float, y1: float, x2: float, y2: float) -> Box:
        x, y = math.floor(x1 + 0.5), math.floor(y1 + 0.5)
        return cls(x, y, max(1, math.floor(x2 + 0.5) - x), max(1, math.floor(y2 + 0.5) - y))

    @property
    def x2(self) -> int:
        return self.x + self.w

    @property
    def y2(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return self.w * self.h

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def contains(self, x: float, y: float) -> bool:
        """Whether the point lies in the box (edges included)."""
        return self.x <= x <= self.x2 and self.y <= y <= self.y2

    def intersection(self, other: Box) -> int:
        iw = min(self.x2, other.x2) - max(self.x, other.x)
        ih = min(self.y2, other.y2) - max(self.y, other.y)
        return max(0, iw) * max(0, ih)

    def iou(self, other: Box) -> float:
        inter = self.intersection(other)
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def scaled(self, factor: float) -> Box:
        """Grow (or shrink) about the centre by ``factor`` in each direction."""
        cx, cy = self.centre
        w, h = self.w * factor, self.h * factor
        return Box.from_xyxy(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

    def clipped(self, width: int, height: int) -> Box:
        x1, y1 = min(max(self.x, 0), width), min(max(self.y, 0), height)
        x2, y2 = min(max(self.x2, 0), width), min(max(self.y2, 0), height)
        return Box(x1, y1, max(0, x2 - x1), max(0, y2 - y1))

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


class Kind(StrEnum):
    FACE = "face"
    TEXT = "text"
    MANUAL = "manual"  # a box a reviewer drew over something still identifying


class Action(StrEnum):
    BLURRED = "blurred"
    KEPT = "kept"


class Reason(StrEnum):
    """Why a region was blurred or kept. Values appear in reports: keep them stable."""

    CONSENT = "consent"  # kept: identified pupil with consent for this use
    NOT_IDENTIFIED = "not-identified"
    NO_CONSENT = "no-consent"
    WITHDRAWN = "withdrawn"
    CONSENT_OTHER_YEAR = "consent-other-year"
    NOT_ON_LOG = "not-on-consent-log"
    NO_BIOMETRIC_CONSENT = "no-biometric-consent"
    AMBIGUOUS_MATCH = "ambiguous-match"
    TOO_SMALL = "too-small-to-identify"
    NO_CONSENT_LOG = "no-consent-log"
    PUPIL_NAME = "pupil-name"  # text: matches a roster name
    PERSONAL_NAME = "personal-name"  # text: someone's name, not (recognisably) a roster pupil's
    DOUBTFUL_TEXT = "doubtful-text"  # text: not read confidently, or may be a misread name
    ALL_TEXT = "all-text"  # text: --text all
    NOT_A_NAME = "not-a-name"  # text kept: read confidently and clearly not a person's name
    ADDED_BY_REVIEWER = "added-by-reviewer"  # manual: a reviewer asked for it to be blurred


class MatchStatus(StrEnum):
    MATCHED = "matched"
    AMBIGUOUS = "ambiguous"
    UNKNOWN = "unknown"
    TOO_SMALL = "too-small"
    NOT_MATCHED = "not-matched"  # no matcher, or no one enrolled


@dataclass(frozen=True, slots=True)
class Detection:
    """One thing found in an image, before any decision."""

    kind: Kind
    box: Box
    score: float
    source: str  # which detector found it
    landmarks: tuple[tuple[float, float], ...] = ()
    polygon: tuple[tuple[float, float], ...] = ()  # text: the rotated outline
    text: str | None = None  # OCR text; never written to a report
    alternatives: tuple[str, ...] = ()  # text: other readings of the same line (re-reads)


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """What face matching said about one face."""

    status: MatchStatus
    pupil_id: str | None = None
    distance: float | None = None
    second_distance: float | None = None


class TextVerdict(StrEnum):
    """What a text line is, as far as names go (``NameMatch.verdict``)."""

    PUPIL_NAME = "pupil-name"  # a roster pupil's name
    PERSONAL_NAME = "personal-name"  # a person's name that is no roster pupil's
    DOUBTFUL = "doubtful"  # cannot be shown not to be a name
    OTHER = "other"  # read confidently and clearly not a name


class TextCue(StrEnum):
    """Why a line was judged a name or doubtful. Values appear in reports: keep them stable."""

    ROSTER = "roster"  # matches a roster pupil's name form
    TITLE = "title"  # "Mrs Okafor", "Dr A. Clarke"
    NAME_LIST = "name-list"  # first name / surname in the shipped name lists
    CONTEXT = "context"  # follows "presented to", "Name:", "Well done", "Monitors:" ...
    LAYOUT = "layout"  # one of a row or column of name labels (pegs, register, whiteboard)
    LOW_CONFIDENCE = "low-confidence"  # the OCR was not sure what it read
    UNKNOWN_WORD = "unknown-word"  # a word that is neither a known word nor a known name


@dataclass(frozen=True, slots=True)
class NameMatch:
    """What name matching said about one text line.

    ``is_name`` means a roster pupil's name; ``verdict`` also covers other people's names and
    doubtful text (default deny: only ``TextVerdict.OTHER`` may be kept).
    """

    is_name: bool
    pupil_id: str | None = None
    score: float = 0.0
    form: str | None = None  # e.g. "full", "first", "surname"
    verdict: TextVerdict = TextVerdict.OTHER
    cue: TextCue | None = None

    def __post_init__(self) -> None:
        if self.is_name and self.verdict is TextVerdict.OTHER:
            object.__setattr__(self, "verdict", TextVerdict.PUPIL_NAME)
            if self.cue is None:
                object.__setattr__(self, "cue", TextCue.ROSTER)


@dataclass(frozen=True, slots=True)
class Region:
    """A detection with its decision: what the report lists per region."""

    kind: Kind
    box: Box
    score: float
    action: Action
    reason: Reason
    pupil_id: str | None = None
    source: str = ""
    text_matched: str | None = None  # "name", "doubtful", "other" for text regions
    polygon: tuple[tuple[float, float], ...] = ()
    cue: TextCue | None = None  # text: why it was judged a name or doubtful

    @classmethod
    def from_report(cls, d: Mapping[str, Any]) -> Region:
        """The region a report entry describes (``as_report`` read back)."""
        return cls(
            Kind(d["kind"]),
            Box(*map(int, d["box"])),
            float(d["score"]),
            Action(d["action"]),
            Reason(d["reason"]),
            d.get("pupil_id"),
            d.get("detector", ""),
            d.get("text_matched"),
            cue=TextCue(d["cue"]) if d.get("cue") else None,
        )

    def as_report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": str(self.kind),
            "box": self.box.as_list(),
            "score": round(float(self.score), 3),
            "pupil_id": self.pupil_id,
            "action": str(self.action),
            "reason": str(self.reason),
        }
        if self.kind is Kind.TEXT:
            out["text_matched"] = self.text_matched
            if self.cue is not None:
                out["cue"] = str(self.cue)
        if self.source:
            out["detector"] = self.source
        return out


class Status(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class TrackReport:
    """One face track of a video: its decision, and the frames kept sharp as
    ``(first, last, pupil_id)`` runs (empty when the track is blurred throughout)."""

    id: int
    first_frame: int
    last_frame: int
    pupil_id: str | None
    action: Action
    reason: Reason
    sharp_frames: tuple[tuple[int, int, str], ...] = ()

    def as_report(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "pupil_id": self.pupil_id,
            "action": str(self.action),
            "reason": str(self.reason),
            "sharp_frames": [list(run) for run in self.sharp_frames],
        }

    @classmethod
    def from_report(cls, d: Mapping[str, Any]) -> TrackReport:
        return cls(
            int(d["id"]),
            int(d["first_frame"]),
            int(d["last_frame"]),
            d.get("pupil_id"),
            Action(d["action"]),
            Reason(d["reason"]),
            tuple((int(a), int(b), str(p)) for a, b, p in d.get("sharp_frames", ())),
        )


@dataclass(frozen=True, slots=True)
class VideoReport:
    """What a video's entry in the report adds: the stream, the tracking and each track."""

    frames: int
    fps: float
    duration: float
    rotation: int
    audio: str  # "none", "stripped" or AUDIO_KEPT
    detect_every: int
    face_threshold: float
    pad_frames: int
    tracks: tuple[TrackReport, ...] = ()

    def as_report(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "fps": self.fps,
            "duration": self.duration,
            "rotation": self.rotation,
            "audio": self.audio,
            "detect_every": self.detect_every,
            "face_threshold": self.face_threshold,
            "pad_frames": self.pad_frames,
            "tracks": [t.as_report() for t in self.tracks],
        }

    @classmethod
    def from_report(cls, d: Mapping[str, Any]) -> VideoReport:
        return cls(
            int(d["frames"]),
            float(d["fps"]),
            float(d["duration"]),
            int(d["rotation"]),
            str(d["audio"]),
            int(d["detect_every"]),
            float(d["face_threshold"]),
            int(d["pad_frames"]),
            tuple(TrackReport.from_report(t) for t in d.get("tracks", ())),
        )


@dataclass(frozen=True, slots=True)
class Intake:
    """How the watcher took a file in: where the original went (relative to the watched
    folder), the consent log it was judged by, and when it was received."""

    original: str
    consent_sha256: str | None
    received: str

    def as_report(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "consent_sha256": self.consent_sha256,
            "received": self.received,
        }


@dataclass(frozen=True, slots=True)
class ImageResult:
    source: str
    output: str | None
    status: Status
    width: int = 0
    height: int = 0
    needs_review: bool = False
    metadata_removed: tuple[str, ...] = ()
    regions: tuple[Region, ...] = ()
    error: str | None = None  # why it failed, or (status skipped) why it was not processed
    seconds: float = 0.0
    video: VideoReport | None = None  # a video's stream and tracks
    held_for_review: str | None = None  # verification failed: where the output was moved
    intake: Intake | None = None  # the watcher's record of the original
    re_rendered_by: str | None = None  # review app: the reviewer who added areas to blur

    @property
    def faces_blurred(self) -> int:
        return sum(1 for r in self.regions if r.kind is Kind.FACE and r.action is Action.BLURRED)

    @property
    def texts_blurred(self) -> int:
        return sum(1 for r in self.regions if r.kind is Kind.TEXT and r.action is Action.BLURRED)

    @property
    def faces_kept(self) -> int:
        return sum(1 for r in self.regions if r.kind is Kind.FACE and r.action is Action.KEPT)

    def as_report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "output": self.output,
            "status": str(self.status),
            "width": self.width,
            "height": self.height,
            "needs_review": self.needs_review,
            "metadata_removed": list(self.metadata_removed),
            "regions": [r.as_report() for r in self.regions],
        }
        if self.error:
            out["reason" if self.status is Status.SKIPPED else "error"] = self.error
        if self.video is not None:
            out["video"] = self.video.as_report()
        if self.held_for_review is not None:
            out["held_for_review"] = self.held_for_review
        if self.intake is not None:
            out.update(self.intake.as_report())
        if self.re_rendered_by is not None:
            out["re_rendered_by"] = self.re_rendered_by
        return out

    @classmethod
    def from_report(cls, d: Mapping[str, Any], seconds: float = 0.0) -> ImageResult:
        """The result a report's image entry describes (``as_report`` read back)."""
        video = d.get("video")
        intake = (
            Intake(str(d["original"]), d.get("consent_sha256"), str(d.get("received", "")))
            if "original" in d
            else None
        )
        return cls(
            str(d["source"]),
            d.get("output"),
            Status(d["status"]),
            int(d.get("width", 0)),
            int(d.get("height", 0)),
            bool(d.get("needs_review", False)),
            tuple(d.get("metadata_removed", ())),
            tuple(Region.from_report(r) for r in d.get("regions", ())),
            d.get("error", d.get("reason")),  # a skipped entry says why as "reason"
            seconds,
            VideoReport.from_report(video) if isinstance(video, Mapping) else None,
            d.get("held_for_review"),
            intake,
            d.get("re_rendered_by"),
        )


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Every file of a run: ``images`` holds one result per photo, video or other file found
    (other files ``skipped``, with the reason); ``ignored`` the hidden, temporary and system
    files (and hidden or linked folders) that were found and, as in the watcher, left alone."""

    images: tuple[ImageResult, ...]
    seconds: float = 0.0
    ignored: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[ImageResult, ...]:
        return tuple(i for i in self.images if i.status is Status.FAILED)

    @property
    def skipped(self) -> tuple[ImageResult, ...]:
        return tuple(i for i in self.images if i.status is Status.SKIPPED)

    @property
    def exit_code(self) -> ExitCode:
        """0 all processed; 1 some failed or were skipped (the rest processed); 3 none was."""
        ok = sum(1 for i in self.images if i.status is Status.OK)
        if not ok:
            return ExitCode.INPUT
        return ExitCode.OK if ok == len(self.images) else ExitCode.SOME_FAILED

    def summary(self) -> str:
        ok = sum(1 for i in self.images if i.status is Status.OK)
        faces = sum(i.faces_blurred for i in self.images)
        kept = sum(i.faces_kept for i in self.images)
        texts = sum(i.texts_blurred for i in self.images)
        review = sum(1 for i in self.images if i.needs_review)
        skipped = f", {len(self.skipped)} skipped (not photos or videos)" if self.skipped else ""
        ignored = f", {len(self.ignored)} hidden or system files ignored" if self.ignored else ""
        return (
            f"{len(self.images)} file{'' if len(self.images) == 1 else 's'}: {ok} ok, "
            f"{len(self.failed)} failed{skipped}{ignored}; "
            f"{faces} faces blurred, {kept} kept with consent, {texts} text regions blurred; "
            f"{review} need review; {self.seconds:.1f} s"
        )
