"""The policy: detections + identities + consent -> an action and a reason per region.

Pure: no I/O, no models. Default deny: a face is kept sharp only when it is positively
identified and the consent log allows this media, purpose and date.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from anonymiser.results import (
    Action,
    Detection,
    FaceMatch,
    Kind,
    MatchStatus,
    NameMatch,
    Reason,
    Region,
    TextVerdict,
)
from anonymiser.settings import Media, Purpose, Settings, TextMode


class ConsentQuery(Protocol):
    """What ``decide`` needs of a consent log."""

    def status(self, pupil_id: str, media: Media, purpose: Purpose, on_date: date) -> Reason:
        """``Reason.CONSENT`` when allowed, otherwise the reason it is not."""
        ...


_MATCH_REASONS = {
    MatchStatus.AMBIGUOUS: Reason.AMBIGUOUS_MATCH,
    MatchStatus.TOO_SMALL: Reason.TOO_SMALL,
    MatchStatus.UNKNOWN: Reason.NOT_IDENTIFIED,
    MatchStatus.NOT_MATCHED: Reason.NOT_IDENTIFIED,
}


def decide_face(
    match: FaceMatch, consent: ConsentQuery | None, settings: Settings
) -> tuple[Action, Reason]:
    """Action and reason for one face."""
    if match.status is not MatchStatus.MATCHED or not match.pupil_id:
        return Action.BLURRED, _MATCH_REASONS.get(match.status, Reason.NOT_IDENTIFIED)
    if consent is None:
        return Action.BLURRED, Reason.NO_CONSENT_LOG
    reason = consent.status(match.pupil_id, settings.media, settings.purpose, settings.consent_date)
    return (Action.KEPT if reason is Reason.CONSENT else Action.BLURRED), reason


_TEXT_REASONS = {
    TextVerdict.PUPIL_NAME: Reason.PUPIL_NAME,
    TextVerdict.PERSONAL_NAME: Reason.PERSONAL_NAME,
    TextVerdict.DOUBTFUL: Reason.DOUBTFUL_TEXT,
}
_TEXT_MATCHED = {TextVerdict.PUPIL_NAME: "name", TextVerdict.PERSONAL_NAME: "name",
                 TextVerdict.DOUBTFUL: "doubtful"}  # fmt: skip


def decide_text(match: NameMatch, settings: Settings) -> tuple[Action, Reason]:
    """Action and reason for one text line. Names are redacted whatever the consent.

    Default deny: a line is kept only when it was read confidently and is clearly not a
    person's name (``TextVerdict.OTHER``), and only in ``--text names`` mode.
    """
    if match.verdict in _TEXT_REASONS:
        return Action.BLURRED, _TEXT_REASONS[match.verdict]
    if settings.text is TextMode.ALL:
        return Action.BLURRED, Reason.ALL_TEXT
    return Action.KEPT, Reason.NOT_A_NAME


def decide(
    faces: Sequence[tuple[Detection, FaceMatch]],
    texts: Sequence[tuple[Detection, NameMatch]],
    consent: ConsentQuery | None,
    settings: Settings,
) -> tuple[tuple[Region, ...], bool]:
    """All regions of one image, and whether the image needs a human look."""
    regions: list[Region] = []
    needs_review = False
    for det, match in faces:
        action, reason = decide_face(match, consent, settings)
        needs_review |= match.status is MatchStatus.AMBIGUOUS
        kept = action is Action.KEPT
        # A kept face names its pupil; a blurred face only when identified (for the audit trail).
        pupil = match.pupil_id if match.status is MatchStatus.MATCHED else None
        regions.append(
            Region(
                Kind.FACE,
                det.box,
                det.score,
                action,
                reason,
                pupil_id=pupil if (kept or pupil) else None,
                source=det.source,
            )
        )
    for det, name in texts:
        action, reason = decide_text(name, settings)
        regions.append(
            Region(
                Kind.TEXT,
                det.box,
                det.score,
                action,
                reason,
                pupil_id=name.pupil_id,
                source=det.source,
                text_matched=_TEXT_MATCHED.get(name.verdict, "other"),
                polygon=det.polygon,
                cue=name.cue,
            )
        )
    return tuple(regions), needs_review
