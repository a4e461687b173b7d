"""Link per-frame face detections into tracks, then pad and fill them in time.

Pure: boxes in, boxes out, no models. A face the detector misses for a frame or two is still covered,
because every track is

* interpolated across gaps between its detections,
* held (and extrapolated along its motion) for ``pad`` frames before it first appears and after it
  is last seen.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from anonymiser.results import Box, FaceMatch, MatchStatus


@dataclass(slots=True)
class Track:
    """One face followed over time: its detected boxes by frame, and what matching said."""

    id: int
    boxes: dict[int, Box] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    matches: list[FaceMatch] = field(default_factory=list)

    @property
    def first_frame(self) -> int:
        return min(self.boxes)

    @property
    def last_frame(self) -> int:
        return max(self.boxes)

    @property
    def largest(self) -> Box:
        return max(self.boxes.values(), key=lambda b: b.area)

    @property
    def best_score(self) -> float:
        return max(self.scores.values(), default=0.0)


def _similarity(a: Box, b: Box, gap: int) -> float:
    """How well detection ``b`` continues box ``a`` seen ``gap`` frames ago (0 = not at all)."""
    iou = a.iou(b)
    if iou > 0.1:
        return 1.0 + iou
    # No overlap: accept a centre within reach of the face size, growing with the gap.
    size = max(a.w, a.h, b.w, b.h)
    ratio = max(a.area, b.area) / max(1, min(a.area, b.area))
    if ratio > 4.0:
        return 0.0
    (ax, ay), (bx, by) = a.centre, b.centre
    dist = ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
    reach = size * (0.6 + 0.15 * min(gap, 10))
    return max(0.0, 1.0 - dist / reach)


class Tracker:
    """Greedy IoU/centre-distance tracker.

    Parameters
    ----------
    max_gap:
        A track not seen for more than this many frames is closed; a new detection starts a
        new track.
    """

    def __init__(self, max_gap: int = 15) -> None:
        self.max_gap = max_gap
        self.tracks: list[Track] = []
        self._active: list[Track] = []

    def update(self, frame: int, boxes: Sequence[Box], scores: Sequence[float]) -> list[Track]:
        """Add one frame's detections; returns the track each detection was given."""
        self._active = [t for t in self._active if frame - t.last_frame <= self.max_gap]
        pairs = []
        for ti, track in enumerate(self._active):
            last = track.boxes[track.last_frame]
            gap = frame - track.last_frame
            for di, box in enumerate(boxes):
                s = _similarity(last, box, gap)
                if s > 0:
                    pairs.append((s, ti, di))
        pairs.sort(reverse=True)
        given: list[Track | None] = [None] * len(boxes)
        used_tracks: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_tracks or given[di] is not None:
                continue
            used_tracks.add(ti)
            given[di] = self._active[ti]
        for di, box in enumerate(boxes):
            found = given[di]
            if found is None:
                found = Track(len(self.tracks) + 1)
                self.tracks.append(found)
                self._active.append(found)
                given[di] = found
            found.boxes[frame] = box
            found.scores[frame] = float(scores[di])
        return [t for t in given if t is not None]


def _lerp(a: Box, b: Box, t: float) -> Box:
    return Box.from_xyxy(
        a.x + (b.x - a.x) * t,
        a.y + (b.y - a.y) * t,
        a.x2 + (b.x2 - a.x2) * t,
        a.y2 + (b.y2 - a.y2) * t,
    )


def _shifted(box: Box, dx: float, dy: float) -> Box:
    return Box.from_xyxy(box.x + dx, box.y + dy, box.x2 + dx, box.y2 + dy)


def _velocity(track: Track, frames: list[int]) -> tuple[float, float]:
    """Centre motion in px/frame between the first and last of ``frames`` (at most one face a frame)."""
    if len(frames) < 2 or frames[-1] == frames[0]:
        return 0.0, 0.0
    (ax, ay), (bx, by) = track.boxes[frames[0]].centre, track.boxes[frames[-1]].centre
    dt = frames[-1] - frames[0]
    limit = max(track.boxes[frames[-1]].w, track.boxes[frames[-1]].h) * 0.5
    vx = max(-limit, min(limit, (bx - ax) / dt))
    vy = max(-limit, min(limit, (by - ay) / dt))
    return vx, vy


def track_boxes(track: Track, pad: int, n_frames: int | None = None) -> Iterator[tuple[int, Box]]:
    """Every (frame, box) to redact for ``track``: detected, interpolated and padded.

    A padded frame may yield two boxes: the held first/last box and one moved along the track's
    motion, so a face entering or leaving fast is still covered.
    """
    frames = sorted(track.boxes)
    last_index = n_frames - 1 if n_frames is not None else None
    first, last = frames[0], frames[-1]
    vx, vy = _velocity(track, frames[:5])
    for k in range(pad, 0, -1):
        f = first - k
        if f < 0:
            continue
        yield f, track.boxes[first]
        yield f, _shifted(track.boxes[first], -vx * k, -vy * k)
    for a, b in itertools.pairwise(frames):
        yield a, track.boxes[a]
        for f in range(a + 1, b):
            yield f, _lerp(track.boxes[a], track.boxes[b], (f - a) / (b - a))
    yield last, track.boxes[last]
    vx, vy = _velocity(track, frames[-5:])
    for k in range(1, pad + 1):
        f = last + k
        if last_index is not None and f > last_index:
            break
        yield f, track.boxes[last]
        yield f, _shifted(track.boxes[last], vx * k, vy * k)


def frame_boxes(
    tracks: Sequence[Track], pad: int, n_frames: int | None = None
) -> dict[int, list[tuple[int, Box]]]:
    """Frame index -> [(track id, box)] for all tracks."""
    out: dict[int, list[tuple[int, Box]]] = {}
    for track in tracks:
        for f, box in track_boxes(track, pad, n_frames):
            out.setdefault(f, []).append((track.id, box))
    return out


@dataclass(frozen=True, slots=True)
class TrackIdentity:
    """What a track's match votes add up to."""

    status: MatchStatus
    pupil_id: str | None = None
    votes: int = 0


def track_identity(matches: Sequence[FaceMatch]) -> TrackIdentity:
    """One identity for a whole track. Default deny:

    * ever AMBIGUOUS -> ambiguous (blurred throughout);
    * two different pupils matched -> ambiguous;
    * one pupil matched on a strict majority of the confident votes (MATCHED or UNKNOWN) -> matched;
    * otherwise unknown, or too-small / not-matched when there was no confident vote.
    """
    if any(m.status is MatchStatus.AMBIGUOUS for m in matches):
        return TrackIdentity(MatchStatus.AMBIGUOUS)
    pupils = Counter(m.pupil_id for m in matches if m.status is MatchStatus.MATCHED and m.pupil_id)
    confident = sum(1 for m in matches if m.status in (MatchStatus.MATCHED, MatchStatus.UNKNOWN))
    if len(pupils) > 1:
        return TrackIdentity(MatchStatus.AMBIGUOUS, votes=confident)
    if pupils:
        pupil, n = pupils.most_common(1)[0]
        if n * 2 > confident:
            return TrackIdentity(MatchStatus.MATCHED, pupil, confident)
        return TrackIdentity(MatchStatus.UNKNOWN, votes=confident)
    if confident:
        return TrackIdentity(MatchStatus.UNKNOWN, votes=confident)
    if any(m.status is MatchStatus.TOO_SMALL for m in matches):
        return TrackIdentity(MatchStatus.TOO_SMALL)
    return TrackIdentity(MatchStatus.NOT_MATCHED)


def identity_match(identity: TrackIdentity) -> FaceMatch:
    """The track's identity as a ``FaceMatch`` for ``decide_face``."""
    return FaceMatch(identity.status, identity.pupil_id)


__all__ = [
    "Track",
    "TrackIdentity",
    "Tracker",
    "frame_boxes",
    "identity_match",
    "track_boxes",
    "track_identity",
]
