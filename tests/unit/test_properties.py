"""Properties that must hold for any input (hypothesis): tiling, redaction, output planning and
the video tracker. No models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymiser.consent import Pupil
from anonymiser.detect import tile_spans, tiles
from anonymiser.identify.names import RosterNameMatcher
from anonymiser.inputs import carries_name, name_parts, plan_outputs
from anonymiser.redact import redact, redaction_area
from anonymiser.results import Action, Box, FaceMatch, Kind, MatchStatus, Reason, Region
from anonymiser.settings import Method
from anonymiser.video.tracker import Tracker, frame_boxes, segments, sharp_frames

# -- tiling -----------------------------------------------------------------------------------


@given(
    length=st.integers(1, 20_000),
    largest=st.integers(32, 3000),
    share=st.floats(0.0, 0.6),
)
def test_tile_spans_cover_with_the_promised_overlap(
    length: int, largest: int, share: float
) -> None:
    overlap = int(largest * share)
    spans = tile_spans(length, largest, overlap)
    assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == length  # the whole length
    assert all(0 < size <= largest for _, size in spans)  # bounded tiles (memory)
    for (a, size), (b, _) in itertools.pairwise(spans):
        assert a < b and a + size - b >= overlap  # neighbours share at least the overlap


@given(width=st.integers(1, 700), height=st.integers(1, 700), largest=st.integers(40, 300))
def test_tiles_cover_every_pixel(width: int, height: int, largest: int) -> None:
    covered = np.zeros((height, width), bool)
    for x, y, w, h in tiles(width, height, largest, largest // 6):
        assert w <= largest and h <= largest
        covered[y : y + h, x : x + w] = True
    assert covered.all()


# -- redaction --------------------------------------------------------------------------------


@st.composite
def regions(draw: st.DrawFn, width: int, height: int) -> Region:
    x, y = draw(st.integers(-20, width - 1)), draw(st.integers(-20, height - 1))
    w, h = draw(st.integers(1, width)), draw(st.integers(1, height))
    kind = draw(st.sampled_from(Kind))
    polygon: tuple[tuple[float, float], ...] = ()
    if kind is Kind.TEXT and draw(st.booleans()):
        polygon = ((x, y), (x + w, y + h / 3), (x + w, y + h), (x, y + 2 * h / 3))
    action = draw(st.sampled_from(Action))
    return Region(kind, Box(x, y, w, h), 0.9, action, Reason.NOT_IDENTIFIED, polygon=polygon)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), method=st.sampled_from(Method))
def test_redaction_never_touches_pixels_outside_its_areas(
    data: st.DataObject, method: Method
) -> None:
    width, height = data.draw(st.integers(8, 96)), data.draw(st.integers(8, 96))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    chosen = data.draw(st.lists(regions(width, height), max_size=4))
    out = redact(rgb, chosen, method)
    inside = np.zeros((height, width), bool)
    for r in chosen:
        if r.action is Action.BLURRED:
            a = redaction_area(r, width, height)
            inside[a.y : a.y2, a.x : a.x2] = True
    assert out.shape == rgb.shape and out.dtype == rgb.dtype
    assert np.array_equal(out[~inside], rgb[~inside])


# -- output planning --------------------------------------------------------------------------

ROSTER = [Pupil("P1", "Amelia", "Hughes"), Pupil("P2", "Oliver", "Pemberton", "Olly")]
WORDS = ["Amelia", "Hughes", "Oliver", "olly", "Pemberton", "sports", "day", "IMG", "1", "Y6"]
part = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(
        st.tuples(st.lists(part, max_size=2), part, st.sampled_from([".jpg", ".HEIC", ".png"])),
        min_size=1,
        max_size=8,
    )
)
def test_planned_outputs_are_unique_and_never_carry_a_roster_name(
    tmp_path_factory: pytest.TempPathFactory, files: list[tuple[list[str], str, str]]
) -> None:
    root = tmp_path_factory.mktemp("plan")
    src = root / "in"
    for folders, stem, suffix in files:
        path = src.joinpath(*folders, stem + suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    names = RosterNameMatcher(ROSTER)
    plan = plan_outputs([src], root / "out", names)
    outputs = [p.output for p in plan if p.output is not None]
    assert len(outputs) == len(plan)  # every file planned
    assert len({o.resolve() for o in outputs}) == len(outputs)  # no two on one path
    for output in outputs:
        rel = output.relative_to(root / "out")
        assert not any(carries_name(p, names) for p in name_parts(rel)), rel


# -- the tracker ------------------------------------------------------------------------------

box = st.builds(
    Box, st.integers(0, 300), st.integers(0, 300), st.integers(8, 80), st.integers(8, 80)
)
vote = st.one_of(
    st.just(FaceMatch(MatchStatus.UNKNOWN)),
    st.just(FaceMatch(MatchStatus.AMBIGUOUS, "P1")),
    st.sampled_from(["P1", "P2"]).map(lambda p: FaceMatch(MatchStatus.MATCHED, p)),
)


@settings(max_examples=80, deadline=None)
@given(
    frames=st.lists(st.lists(box, max_size=3), min_size=1, max_size=25),
    votes=st.lists(vote, max_size=40),
    pad=st.integers(0, 6),
)
def test_tracker_invariants(frames: list[list[Box]], votes: list[FaceMatch], pad: int) -> None:
    tracker = Tracker(max_gap=4)
    pending = iter(votes)
    for f, boxes in enumerate(frames):
        given_tracks = tracker.update(f, boxes, [0.5] * len(boxes))
        # each detection goes to exactly one track, no track takes two in one frame
        assert len(given_tracks) == len(boxes) == len({t.id for t in given_tracks})
        for track, b in zip(given_tracks, boxes, strict=True):
            assert track.boxes[f] == b
            v = next(pending, None)
            if v is not None:
                track.votes[f] = v
    n = len(frames)
    covered = frame_boxes(tracker.tracks, pad, n)
    for track in tracker.tracks:
        for f, b in track.boxes.items():  # every detection is redacted on its frame
            assert (track.id, b) in covered[f]
        for f in range(max(0, track.first_frame - pad), min(n, track.last_frame + pad + 1)):
            assert any(tid == track.id for tid, _ in covered[f])  # held through gaps and pads
        # default deny: a frame is sharp only inside a clean chain, between (or on) frames
        # where that very pupil was matched
        chains = segments(track)
        for f, pupil in sharp_frames(track).items():
            hits = [
                [
                    g
                    for g in chain
                    if g in track.votes and track.votes[g] == FaceMatch(MatchStatus.MATCHED, pupil)
                ]
                for chain in chains
            ]
            assert any(h and h[0] <= f <= h[-1] for h in hits), (f, pupil)
