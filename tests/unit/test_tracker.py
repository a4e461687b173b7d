"""Face tracker: linking, gap filling, temporal padding, per-track identity. No models."""

from __future__ import annotations

from anonymiser.results import Box, FaceMatch, MatchStatus
from anonymiser.video.tracker import (
    Track,
    Tracker,
    frame_boxes,
    segments,
    sharp_frames,
    track_boxes,
    track_identity,
)


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


# -- identity switches: link breaks, clean chains, sharp frames ------------------------------


def _crossing(n: int = 40, meet: int = 26) -> tuple[Tracker, dict[int, list[tuple[Track, bool]]]]:
    """A (moving right) and B (moving left) meet at frame ``meet`` and pass through each other.
    While they overlap only the face in front (B) is detected. Returns the tracker and, per
    frame, each detection's track and whether it is A's face."""
    tracker = Tracker()
    given: dict[int, list[tuple[Track, bool]]] = {}
    for f in range(n):
        a = Box(200 + 6 * (f - meet), 50, 60, 70)
        b = Box(200 - 6 * (f - meet), 50, 60, 70)
        dets = [(b, False)] if abs(f - meet) <= 2 else [(a, True), (b, False)]
        tracks = tracker.update(f, [d for d, _ in dets], [0.9] * len(dets))
        given[f] = [(t, is_a) for t, (_, is_a) in zip(tracks, dets, strict=True)]
    return tracker, given


def _vote_all(given: dict[int, list[tuple[Track, bool]]], every: int = 1) -> None:
    """Vote after a break that is not crowded, and every ``every`` frames; A is pupil P1."""
    last: dict[int, int] = {}
    for f, pairs in given.items():
        for track, is_a in pairs:
            forced = f in track.breaks and f not in track.crowded
            if forced or f - last.get(track.id, -every) >= every:
                track.votes[f] = _m(MatchStatus.MATCHED, "P1") if is_a else _m(MatchStatus.UNKNOWN)
                last[track.id] = f


def _sharp_faces(tracker: Tracker, given: dict[int, list[tuple[Track, bool]]]) -> dict[int, bool]:
    """Frame -> whether the face on each sharp detection is A's (False if B was ever sharp)."""
    out: dict[int, bool] = {}
    sharp = {t.id: sharp_frames(t) for t in tracker.tracks}
    for f, pairs in given.items():
        for track, is_a in pairs:
            if f in sharp[track.id]:
                out[f] = out.get(f, True) and is_a
    return out


def test_crossing_faces_are_crowded_and_break_the_chain() -> None:
    tracker, given = _crossing()
    # Greedy linking swaps the faces here: some track holds A and then B.
    assert any(
        {is_a for f, pairs in given.items() for t, is_a in pairs if t is track} == {True, False}
        for track in tracker.tracks
    )
    for track in tracker.tracks:
        assert {24, 25, 26, 27, 28} & set(track.boxes) <= track.crowded | track.breaks
        chains = segments(track)
        assert all(len(chain) == 1 for chain in chains if set(chain) & track.crowded)


def test_non_consenting_face_is_never_sharp_after_a_swap() -> None:
    for every in (1, 5):
        tracker, given = _crossing()
        _vote_all(given, every)
        sharp = _sharp_faces(tracker, given)
        assert all(sharp.values()), (
            f"B kept sharp on frames {[f for f, a in sharp.items() if not a]}"
        )
        # A is sharp where it is alone, before and after the crossing.
        assert {0, 5, 10, 15}.issubset(sharp)
        assert 39 in sharp or every > 1  # every 5th vote: the tail after the last vote is blurred


def test_majority_vote_without_the_chain_rule_would_keep_b() -> None:
    # The old rule (one identity per track, by majority) keeps the swapped track sharp throughout.
    tracker, given = _crossing()
    _vote_all(given, 5)
    swapped = [t for t in tracker.tracks if track_identity(t.matches).pupil_id == "P1"]
    holds_b = [
        t
        for t in swapped
        for f, pairs in given.items()
        for tt, is_a in pairs
        if tt is t and not is_a
    ]
    assert holds_b  # so the per-frame rule is what keeps B blurred


def test_missed_detection_and_jump_break_the_chain() -> None:
    tracker = Tracker(step=1)
    for f in range(6):
        tracker.update(f, [Box(100, 50, 60, 70)], [0.9])
    tracker.update(8, [Box(100, 50, 60, 70)], [0.9])  # missed frames 6, 7
    tracker.update(9, [Box(140, 50, 60, 70)], [0.9])  # 40 px in one frame: a jump
    tracker.update(10, [Box(140, 50, 60, 70)], [0.9])
    (track,) = tracker.tracks
    assert track.breaks == {0, 8, 9}
    assert segments(track) == [[0, 1, 2, 3, 4, 5], [8], [9, 10]]
    # With a detection step of 2, a 2-frame gap is not a miss.
    stepped = Tracker(step=2)
    for f in range(0, 10, 2):
        stepped.update(f, [Box(100 + 2 * f, 50, 60, 70)], [0.9])
    assert stepped.tracks[0].breaks == {0}


def test_sharp_frames_only_between_positive_matches() -> None:
    track = Track(1, boxes={f: Box(100, 50, 60, 70) for f in range(20)}, breaks={0})
    p1, unknown = _m(MatchStatus.MATCHED, "P1"), _m(MatchStatus.UNKNOWN)
    track.votes = {0: p1, 5: p1, 10: unknown, 15: p1, 16: p1}
    assert sorted(sharp_frames(track)) == [0, 1, 2, 3, 4, 5, 15, 16]
    # A break between two matches: the frames between them are not vouched for.
    track.breaks.add(12)
    track.votes[12] = p1
    assert sorted(sharp_frames(track)) == [0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16]
    track.breaks.add(14)  # chain [14..19] has votes 15, 16 only; 12-13 stand alone
    assert 14 not in sharp_frames(track) and 12 in sharp_frames(track)
    # A crowded frame is sharp only if matched itself.
    track.crowded.add(17)
    track.breaks.update({17, 18})
    assert 17 not in sharp_frames(track)
    track.votes[17] = p1
    assert 17 in sharp_frames(track) and 18 not in sharp_frames(track)


def test_sharp_frames_default_deny() -> None:
    track = Track(1, boxes={f: Box(100, 50, 60, 70) for f in range(10)}, breaks={0})
    track.votes = {0: _m(MatchStatus.MATCHED, "P1"), 5: _m(MatchStatus.MATCHED, "P1")}
    assert len(sharp_frames(track)) == 6
    track.votes[8] = _m(MatchStatus.AMBIGUOUS, "P1")  # ambiguous on a clear view: never sharp
    assert sharp_frames(track) == {}
    track.crowded.add(8)  # ... on a crowded frame (partly hidden face): that frame only
    track.breaks.update({8, 9})
    assert sorted(sharp_frames(track)) == [0, 1, 2, 3, 4, 5]
    track.votes = {0: _m(MatchStatus.MATCHED, "P1"), 5: _m(MatchStatus.MATCHED, "P2")}
    assert sharp_frames(track) == {}  # one chain, two pupils
    track.votes = {}
    assert sharp_frames(track) == {}
