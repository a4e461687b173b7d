"""The whole decision table of ``anonymiser.decide``: every match status x consent answer."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from anonymiser.consent import ConsentLog
from anonymiser.decide import decide, decide_face, decide_text
from anonymiser.results import (
    Action,
    Box,
    Detection,
    FaceMatch,
    Kind,
    MatchStatus,
    NameMatch,
    Reason,
)
from anonymiser.settings import Media, Purpose, Settings, TextMode

DAY = date(2026, 10, 1)
S = Settings(on_date=DAY)


class FixedConsent:
    """A consent log that answers one reason for everyone, and records what it was asked."""

    def __init__(self, reason: Reason) -> None:
        self.reason = reason
        self.asked: list[tuple[str, Media, Purpose, date]] = []

    def status(self, pupil_id: str, media: Media, purpose: Purpose, on_date: date) -> Reason:
        self.asked.append((pupil_id, media, purpose, on_date))
        return self.reason


def face(x: int = 0) -> Detection:
    return Detection(Kind.FACE, Box(x, 0, 100, 120), 0.9, "fake")


def text() -> Detection:
    return Detection(Kind.TEXT, Box(0, 200, 80, 20), 0.8, "ocr", text="Ann Able")


UNMATCHED = [
    (FaceMatch(MatchStatus.UNKNOWN, None, 0.8, 0.9), Reason.NOT_IDENTIFIED),
    (FaceMatch(MatchStatus.NOT_MATCHED), Reason.NOT_IDENTIFIED),
    (FaceMatch(MatchStatus.TOO_SMALL), Reason.TOO_SMALL),
    (FaceMatch(MatchStatus.AMBIGUOUS, "P1", 0.46, 0.5), Reason.AMBIGUOUS_MATCH),
]
CONSENT_ANSWERS = [
    (Reason.CONSENT, Action.KEPT),
    (Reason.NO_CONSENT, Action.BLURRED),
    (Reason.WITHDRAWN, Action.BLURRED),
    (Reason.CONSENT_OTHER_YEAR, Action.BLURRED),
    (Reason.NOT_ON_LOG, Action.BLURRED),
]


@pytest.mark.parametrize(("match", "reason"), UNMATCHED)
@pytest.mark.parametrize("answer", [r for r, _ in CONSENT_ANSWERS] + [None])
def test_anything_but_a_confident_match_is_blurred_whatever_the_consent(
    match: FaceMatch, reason: Reason, answer: Reason | None
) -> None:
    consent = FixedConsent(answer) if answer else None
    assert decide_face(match, consent, S) == (Action.BLURRED, reason)
    if consent:
        assert consent.asked == []  # the log is not even asked


@pytest.mark.parametrize(("answer", "action"), CONSENT_ANSWERS)
def test_matched_face_follows_the_consent_log(answer: Reason, action: Action) -> None:
    consent = FixedConsent(answer)
    assert decide_face(FaceMatch(MatchStatus.MATCHED, "P1", 0.3, 0.7), consent, S) == (
        action,
        answer,
    )
    assert consent.asked == [("P1", Media.IMAGES, Purpose.SOCIAL_MEDIA, DAY)]


def test_matched_face_without_a_consent_log_is_blurred() -> None:
    match = FaceMatch(MatchStatus.MATCHED, "P1", 0.3, 0.7)
    assert decide_face(match, None, S) == (Action.BLURRED, Reason.NO_CONSENT_LOG)


def test_matched_without_pupil_id_is_blurred() -> None:
    consent = FixedConsent(Reason.CONSENT)
    assert decide_face(FaceMatch(MatchStatus.MATCHED, None), consent, S)[0] is Action.BLURRED


@pytest.mark.parametrize("purpose", list(Purpose))
@pytest.mark.parametrize("media", list(Media))
def test_settings_media_purpose_and_date_reach_the_log(media: Media, purpose: Purpose) -> None:
    consent = FixedConsent(Reason.CONSENT)
    settings = Settings(media=media, purpose=purpose, on_date=date(2027, 8, 31))
    decide_face(FaceMatch(MatchStatus.MATCHED, "P7"), consent, settings)
    assert consent.asked == [("P7", media, purpose, date(2027, 8, 31))]


@pytest.mark.parametrize(
    ("name", "mode", "want"),
    [
        (NameMatch(True, "P1", 95.0, "full"), TextMode.NAMES, (Action.BLURRED, Reason.PUPIL_NAME)),
        (NameMatch(True, "P1", 95.0, "full"), TextMode.ALL, (Action.BLURRED, Reason.PUPIL_NAME)),
        (NameMatch(False), TextMode.NAMES, (Action.KEPT, Reason.NOT_A_NAME)),
        (NameMatch(False), TextMode.ALL, (Action.BLURRED, Reason.ALL_TEXT)),
    ],
)
def test_text_table(name: NameMatch, mode: TextMode, want: tuple[Action, Reason]) -> None:
    assert decide_text(name, Settings(text=mode)) == want


def test_ambiguous_match_is_blurred_and_needs_review() -> None:
    faces = [
        (face(0), FaceMatch(MatchStatus.MATCHED, "P1", 0.3, 0.7)),
        (face(200), FaceMatch(MatchStatus.AMBIGUOUS, "P2", 0.44, 0.47)),
    ]
    regions, review = decide(faces, [], FixedConsent(Reason.CONSENT), S)
    assert review is True
    assert [(r.action, r.reason, r.pupil_id) for r in regions] == [
        (Action.KEPT, Reason.CONSENT, "P1"),
        (Action.BLURRED, Reason.AMBIGUOUS_MATCH, None),  # an unsure guess is never reported
    ]


def test_no_review_without_ambiguity_and_regions_keep_boxes() -> None:
    faces = [(face(0), FaceMatch(MatchStatus.UNKNOWN)), (face(9), FaceMatch(MatchStatus.TOO_SMALL))]
    texts = [(text(), NameMatch(True, "P3", 99.0, "full"))]
    regions, review = decide(faces, texts, None, S)
    assert review is False
    assert [r.kind for r in regions] == [Kind.FACE, Kind.FACE, Kind.TEXT]
    assert regions[1].box == Box(9, 0, 100, 120)
    assert all(r.action is Action.BLURRED for r in regions)
    assert regions[2].text_matched == "name"
    assert regions[2].pupil_id == "P3"
    assert "Ann" not in str(regions[2].as_report())  # OCR text never reaches the report


def test_identified_but_blurred_face_keeps_pupil_id_for_the_audit() -> None:
    faces = [(face(), FaceMatch(MatchStatus.MATCHED, "P5", 0.3))]
    regions, _ = decide(faces, [], FixedConsent(Reason.WITHDRAWN), S)
    assert (regions[0].action, regions[0].reason, regions[0].pupil_id) == (
        Action.BLURRED,
        Reason.WITHDRAWN,
        "P5",
    )


def test_with_a_real_log_every_consent_reason(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text(
        "pupil_id,first_name,last_name,academic_year,images_social_media,withdrawn_on\n"
        "P1,A,A,2026/27,yes,\n"
        "P2,B,B,2026/27,no,\n"
        "P3,C,C,2025/26,yes,\n"
        "P4,D,D,2026/27,yes,01/10/2026\n"
    )
    log = ConsentLog.load(csv)
    want = {
        "P1": (Action.KEPT, Reason.CONSENT),
        "P2": (Action.BLURRED, Reason.NO_CONSENT),
        "P3": (Action.BLURRED, Reason.CONSENT_OTHER_YEAR),
        "P4": (Action.BLURRED, Reason.WITHDRAWN),
        "P9": (Action.BLURRED, Reason.NOT_ON_LOG),
    }
    for pupil, expected in want.items():
        assert decide_face(FaceMatch(MatchStatus.MATCHED, pupil, 0.3), log, S) == expected
