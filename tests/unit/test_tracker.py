"""Face tracker: linking, gap filling, temporal padding, per-track identity. No models."""

from __future__ import annotations

from anonymiser.results import Box, FaceMatch, MatchStatus
from anonymiser.video.tracker import Tracker, frame_boxes, track_boxes, track_identity


def _run(frames: dict[int, list[Box]], max_gap: int = 15) -> Tracker:
    tracker = Tracker(max_gap=max_gap)
    for f in range(max(frames) + 1):
        boxes = frames.get(f, [])
        tracker.update(f, boxes, [0.9] * len(boxes))
    return tracker


def test_moving_face_is_one_track() -> None:
    tracker = _run({f: [Box(10 + 4 * f, 50, 40, 50)] for f in range(20)})
    assert len(tracker.tracks) == 1
    assert tracker.tracks[0].first_frame == 0 and tracker.tracks[0].last_frame == 19


def test_two_faces_stay_apart() -> None:
    frames = {f: [Box(10 + 2 * f, 50, 40, 50), Box(300 - 2 * f, 60, 40, 50)] for f in range(10)}
    tracker = _run(frames)
    assert len(tracker.tracks) == 2
    left = tracker.tracks[0]
    assert all(b.x < 100 for b in left.boxes.values())


def test_fast_motion_without_overlap_still_links() -> None:
    # 30 px a frame with a 40 px face: little IoU, but the centre is within reach.
    tracker = _run({f: [Box(30 * f, 50, 40, 50)] for f in range(8)})
    assert len(tracker.tracks) == 1


def test_long_gap_starts_a_new_track() -> None:
    frames = {f: [Box(100, 50, 40, 50)] for f in range(5)}
    frames.update({f: [Box(100, 50, 40, 50)] for f in range(30, 35)})
    tracker = _run(frames, max_gap=10)
    assert len(tracker.tracks) == 2


def test_single_missed_frame_is_filled() -> None:
    frames = {f: [Box(10 + 4 * f, 50, 40, 50)] for f in range(10) if f != 5}
    tracker = _run(frames)
    assert len(tracker.tracks) == 1
    per_frame = frame_boxes(tracker.tracks, pad=0)
    assert 5 in per_frame
    (_, box), *_ = per_frame[5]
    assert box.x == 30  # halfway between frames 4 and 6


def test_padding_before_and_after() -> None:
    tracker = _run({f: [Box(100, 50, 40, 50)] for f in range(10, 20)})
    per_frame = frame_boxes(tracker.tracks, pad=5, n_frames=22)
    assert min(per_frame) == 5
    assert max(per_frame) == 21  # clipped to the last frame of the video
    assert 4 not in per_frame


def test_padding_extrapolates_motion() -> None:
    # Moving right 10 px/frame: the padded box before the first frame is shifted left.
    tracker = _run({f: [Box(200 + 10 * (f - 10), 50, 40, 50)] for f in range(10, 20)})
    boxes = [b for f, b in track_boxes(tracker.tracks[0], pad=3) if f == 7]
    xs = sorted(b.x for b in boxes)
    assert xs[0] == 170 and xs[-1] == 200  # extrapolated and held


def _m(status: MatchStatus, pupil: str | None = None) -> FaceMatch:
    return FaceMatch(status, pupil)


def test_identity_majority() -> None:
    votes = [_m(MatchStatus.MATCHED, "P1")] * 3 + [_m(MatchStatus.UNKNOWN)]
    ident = track_identity(votes)
    assert ident.status is MatchStatus.MATCHED and ident.pupil_id == "P1"


def test_identity_no_majority_is_unknown() -> None:
    votes = [_m(MatchStatus.MATCHED, "P1")] * 2 + [_m(MatchStatus.UNKNOWN)] * 2
    assert track_identity(votes).status is MatchStatus.UNKNOWN


def test_identity_ever_ambiguous_is_ambiguous() -> None:
    votes = [_m(MatchStatus.MATCHED, "P1")] * 9 + [_m(MatchStatus.AMBIGUOUS)]
    assert track_identity(votes).status is MatchStatus.AMBIGUOUS


def test_identity_two_pupils_is_ambiguous() -> None:
    votes = [_m(MatchStatus.MATCHED, "P1")] * 5 + [_m(MatchStatus.MATCHED, "P2")]
    assert track_identity(votes).status is MatchStatus.AMBIGUOUS


def test_identity_without_votes() -> None:
    assert track_identity([]).status is MatchStatus.NOT_MATCHED
    assert track_identity([_m(MatchStatus.TOO_SMALL)]).status is MatchStatus.TOO_SMALL
