"""Link per-frame face detections into tracks, then pad and fill them in time.

Pure: boxes in, boxes out, no models. A face the detector misses for a frame or two is still covered,
because every track is

* interpolated across gaps between its detections,
* held (and extrapolated along its motion) for ``pad`` frames before it first appears and after it
  is last seen.

Identity switches. A greedy tracker can hand a track from one face to another (two faces cross, a
face leaves as another arrives, a scene cut). So a face is kept sharp only on frames where it was
positively matched, or between two such frames of one clean chain of links (``sharp_frames``),
and the tracker marks every link it cannot vouch for:

* a detection is *crowded* when the link was contestable: another detection was within this
  track's linking reach, or another live track could have claimed this detection;
* a link *breaks* the chain when either end is crowded, a detection was missed (gap longer than
  the detection step) or the box jumped (moved or grew more than a face can between frames).
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
    votes: dict[int, FaceMatch] = field(default_factory=dict)  # frame -> what matching said
    crowded: set[int] = field(default_factory=set)  # frames whose link was contestable
    breaks: set[int] = field(default_factory=set)  # frames whose link in cannot be vouched for

    @property
    def matches(self) -> list[FaceMatch]:
        return [self.votes[f] for f in sorted(self.votes)]

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
    dist = float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5)
    reach = size * (0.6 + 0.15 * min(gap, 10))
    return max(0.0, 1.0 - dist / reach)


# A link jumps when the centre moves more than this fraction of the face size per frame, or the
# area changes by more than this factor: faster than a face moves, so maybe another face.
JUMP_SHIFT = 0.5
JUMP_AREA = 2.0


def _jumped(a: Box, b: Box, gap: int) -> bool:
    size = max(a.w, a.h, b.w, b.h)
    (ax, ay), (bx, by) = a.centre, b.centre
    shift = ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
    ratio = max(a.area, b.area) / max(1, min(a.area, b.area))
    return shift > JUMP_SHIFT * size * gap or ratio > JUMP_AREA


class Tracker:
    """Greedy IoU/centre-distance tracker that marks the links it cannot vouch for.

    Parameters
    ----------
    max_gap:
        A track not seen for more than this many frames is closed; a new detection starts a
        new track.
    step:
        Frames between detector runs; a longer gap in a track means a missed detection.
    """

    def __init__(self, max_gap: int = 15, step: int = 1) -> None:
        self.max_gap = max_gap
        self.step = step
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
        per_track = Counter(ti for _, ti, _ in pairs)  # candidate detections of each track
        per_det = Counter(di for _, _, di in pairs)  # candidate tracks of each detection
        given: list[Track | None] = [None] * len(boxes)
        given_ti: list[int | None] = [None] * len(boxes)
        used_tracks: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_tracks or given[di] is not None:
                continue
            used_tracks.add(ti)
            given[di], given_ti[di] = self._active[ti], ti
        for di, box in enumerate(boxes):
            found, owner = given[di], given_ti[di]
            if found is None or owner is None:
                found = Track(len(self.tracks) + 1)
                self.tracks.append(found)
                self._active.append(found)
                given[di] = found
                crowded = per_det[di] > 0  # a live track could have taken it
                link_ok = False  # a new track starts a new chain
            else:
                crowded = per_track[owner] > 1 or per_det[di] > 1
                prev = found.last_frame
                gap = frame - prev
                link_ok = (
                    gap <= self.step
                    and prev not in found.crowded
                    and not _jumped(found.boxes[prev], box, gap)
                )
            if crowded:
                found.crowded.add(frame)
            if crowded or not link_ok:
                found.breaks.add(frame)
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
    """One identity for a whole track (default deny).

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


def clear_votes(track: Track) -> list[FaceMatch]:
    """The track's votes on frames that were not crowded, in frame order."""
    return [track.votes[f] for f in sorted(track.votes) if f not in track.crowded]


def segments(track: Track) -> list[list[int]]:
    """The track's detection frames cut into clean chains: a chain starts at every break (so a
    crowded frame, whose links in and out both break, is a chain of its own)."""
    out: list[list[int]] = [[]]
    for f in sorted(track.boxes):
        if f in track.breaks:
            out.append([])
        out[-1].append(f)
    return [seg for seg in out if seg]


def sharp_frames(track: Track) -> dict[int, str]:
    """Frame -> pupil for the frames where this track may be kept sharp (consent not yet checked).

    Default deny. Nothing if a vote on a clear (not crowded) frame was AMBIGUOUS; an AMBIGUOUS
    vote on a crowded frame (a face partly hidden by another) blurs that frame only. Otherwise, per
    clean chain: its votes must add up to one pupil (``track_identity``), and a frame is sharp only
    if that pupil was matched on it, or it lies between two detections of the chain that were both
    matched to that pupil. So a crowded frame is sharp only if matched itself, and frames after the
    last positive match of a chain (a face that may have been swapped) are blurred.
    """
    if any(m.status is MatchStatus.AMBIGUOUS for m in clear_votes(track)):
        return {}
    out: dict[int, str] = {}
    for chain in segments(track):
        votes = {f: track.votes[f] for f in chain if f in track.votes}
        identity = track_identity(list(votes.values()))
        pupil = identity.pupil_id
        if identity.status is not MatchStatus.MATCHED or pupil is None:
            continue
        hits = {
            f for f, m in votes.items() if m.status is MatchStatus.MATCHED and m.pupil_id == pupil
        }
        for f in hits:
            out[f] = pupil
        voted = sorted(votes)
        for a, b in itertools.pairwise(voted):
            if a in hits and b in hits:
                for f in range(a, b + 1):
                    out[f] = pupil
    return out


__all__ = [
    "Track",
    "TrackIdentity",
    "Tracker",
    "clear_votes",
    "frame_boxes",
    "identity_match",
    "segments",
    "sharp_frames",
    "track_boxes",
    "track_identity",
]
