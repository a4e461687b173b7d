"""Default deny for text (TextJudge): pupils' names, other people's names, doubtful text (no models)."""

from __future__ import annotations

import pytest

from anonymiser.decide import decide_text
from anonymiser.identify.judge import TextJudge
from anonymiser.identify.lexicon import letters, lookup
from anonymiser.identify.names import RosterNameMatcher
from anonymiser.results import Action, Box, Detection, Kind, Reason, TextCue, TextVerdict
from anonymiser.settings import Settings
from tests.unit.test_names import Pupil

ROSTER = [
    Pupil("P1", "Folake", "Adeyemi"),
    Pupil("P2", "Imogen", "Taylor-Brown"),
    Pupil("P3", "Isla", "Fleming"),  # "Learning" is one fuzzy step from "Fleming"
    Pupil("P4", "Noah", "Walsh"),  # "wash" is one letter off "Walsh"
    Pupil("P5", "Kit", "Daly"),
]


@pytest.fixture(scope="module")
def judge() -> TextJudge:
    return TextJudge(RosterNameMatcher(ROSTER))


def line(text: str, y: int = 0, x: int = 0, score: float = 0.99, alt: tuple = ()) -> Detection:
    w = 12 * len(text)
    return Detection(
        Kind.TEXT, Box(x, y, w, 20), score, "test", text=text, alternatives=alt,
        polygon=((x, y), (x + w, y), (x + w, y + 20), (x, y + 20)),
    )  # fmt: skip


def blurred(judge: TextJudge, text: str, score: float = 0.99) -> tuple[Action, Reason]:
    return decide_text(judge.match_text(text, score), Settings())


@pytest.mark.parametrize(
    "text",
    [
        "Filake Adeyemi",  # o read as i
        "Folake Adeyerni",  # m read as rn
        "FOLAKE ADEYEMI",
        "Imogen Taylor Brown",  # hyphen lost
        "Imogen Taylor-Brovvn",
        "Adeyemi, F.",
    ],
)
def test_misread_rostered_name_is_blurred_as_pupil_name(judge: TextJudge, text: str) -> None:
    assert blurred(judge, text) == (Action.BLURRED, Reason.PUPIL_NAME)


@pytest.mark.parametrize("text", ["hagee Taype-tven", "Ram Sxqvit", "Fiqlake Zdeyqmi"])
def test_garbled_name_is_blurred_as_doubtful(judge: TextJudge, text: str) -> None:
    """Issue 14: 'Imogen Taylor-Brown' read as 'hagee Taype-tven' was kept."""
    action, reason = blurred(judge, text)
    assert action is Action.BLURRED
    assert reason in (Reason.DOUBTFUL_TEXT, Reason.PERSONAL_NAME)


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Jamie Elliott", TextCue.NAME_LIST),
        ("NATHAN CHAUHAN", TextCue.NAME_LIST),
        ("Søren Lockwood", TextCue.NAME_LIST),
        ("Adaeze", TextCue.NAME_LIST),  # a first name that is no English word
        ("Jack", TextCue.NAME_LIST),  # a popular first name alone on its line
        ("Rose Wade", TextCue.NAME_LIST),  # both everyday words, both popular names
        ("Mrs Okafor", TextCue.TITLE),
        ("Dr A. Clarke", TextCue.TITLE),
        ("MISS J. TUCKER", TextCue.TITLE),
        ("Well done Ben!", TextCue.CONTEXT),
        ("Name: Teddy", TextCue.CONTEXT),
    ],
)
def test_off_roster_name_is_blurred_as_personal_name(
    judge: TextJudge, text: str, cue: TextCue
) -> None:
    m = judge.match_text(text)
    assert (m.verdict, m.cue) == (TextVerdict.PERSONAL_NAME, cue)
    assert decide_text(m, Settings()) == (Action.BLURRED, Reason.PERSONAL_NAME)


@pytest.mark.parametrize(
    "text",
    [
        "Sports Day 2026",
        "Year 6",
        "Room 12",
        "Learning objective:",  # not Isla Fleming
        "Please wash your hands",  # not Noah Walsh
        "Millfield Academy",  # a school's name
        "Headteacher's Award",
        "Lunchboxes",
        "Certificate of Merit",
        "This certificate is presented to",
        "Well done everyone",
        "Harvest Festival",
        "Maths",
        "English",
        "Star of the week",
        "2 x 6 = 12",
    ],
)
def test_confident_ordinary_text_is_kept(judge: TextJudge, text: str) -> None:
    assert blurred(judge, text) == (Action.KEPT, Reason.NOT_A_NAME)


def test_unsure_reading_is_doubtful(judge: TextJudge) -> None:
    m = judge.match_text("Sports Day 2026", score=0.6)
    assert (m.verdict, m.cue) == (TextVerdict.DOUBTFUL, TextCue.LOW_CONFIDENCE)
    assert judge.match_text("2026", score=0.4).verdict is TextVerdict.OTHER  # digits only


def test_name_below_a_cue_line_is_a_name(judge: TextJudge) -> None:
    lines = [line("This certificate is presented to", 0), line("Ben Ward", 30), line("Year 6", 60)]
    out = judge.match(lines)
    assert out[0].verdict is TextVerdict.OTHER
    assert out[1].verdict is TextVerdict.PERSONAL_NAME
    assert out[2].verdict is TextVerdict.OTHER
    out = judge.match([line("presented to", 0), line("Rose", 30)])
    assert out[1].verdict is TextVerdict.PERSONAL_NAME


def test_name_right_of_a_split_label_is_a_name(judge: TextJudge) -> None:
    out = judge.match([line("Name:", 0, 0), line("Teddy", 0, 80)])
    assert out[1].verdict is TextVerdict.PERSONAL_NAME


def test_lone_first_name_in_a_row_of_name_labels(judge: TextJudge) -> None:
    """Peg labels: 'Teddy' (an everyday word too) between two names is a name."""
    row = [line("Zuri", 100, 0), line("Teddy", 100, 150), line("Kenji", 100, 300)]
    out = judge.match(row)
    assert (out[1].verdict, out[1].cue) == (TextVerdict.PERSONAL_NAME, TextCue.LAYOUT)
    assert judge.match([line("Teddy", 100, 150)])[0].verdict is TextVerdict.OTHER


def test_another_reading_that_finds_a_pupil_wins(judge: TextJudge) -> None:
    det = line("Fo1ake Ade", score=0.8, alt=("Folake Adeyemi",))
    assert judge.match([det])[0].verdict is TextVerdict.PUPIL_NAME
    # ... but a one-letter-off reading of an ordinary word is no name
    assert judge.match([line("HELLO", alt=("HELO",))])[0].verdict is TextVerdict.OTHER


def test_without_roster_other_names_are_still_found() -> None:
    j = TextJudge(None)
    assert j.match_text("Folake Adeyemi").verdict is TextVerdict.PERSONAL_NAME
    assert j.match_text("Sports Day 2026").verdict is TextVerdict.OTHER


def test_text_all_blurs_everything_with_its_reason(judge: TextJudge) -> None:
    s = Settings(text="all")
    assert decide_text(judge.match_text("Sports Day 2026"), s) == (Action.BLURRED, Reason.ALL_TEXT)
    assert decide_text(judge.match_text("Mrs Okafor"), s) == (Action.BLURRED, Reason.PERSONAL_NAME)


def test_lexicon_knows_names_and_words() -> None:
    assert letters("Zoë O'Brien-Smith") == "zoeobriensmith"
    assert lookup("Adaeze").first and not lookup("Adaeze").word
    assert lookup("jade").word and lookup("Jade").first
    assert lookup("library").word and not lookup("library").name
    assert not lookup("xqzvw").known
