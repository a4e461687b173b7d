"""Roster name matching on synthetic OCR lines (no models)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from anonymiser.identify.names import RosterNameMatcher, fold, key
from anonymiser.results import Box, Detection, Kind


@dataclass(frozen=True)
class Pupil:
    pupil_id: str
    first_name: str
    last_name: str
    preferred_name: str | None = None


ROSTER = [
    Pupil("P1", "Amelia", "Hughes"),
    Pupil("P2", "Zoë", "Smith-Jones"),
    Pupil("P3", "Siobhan", "O'Connor"),
    Pupil("P4", "Alexander", "Whitworth", "Alex"),
    Pupil("P5", "Grace", "Okonkwo"),
    Pupil("P6", "May", "Lindqvist"),
    Pupil("P7", "Hope", "Adeyemi"),
    Pupil("P8", "William", "Marsh", "Will"),
    Pupil("P9", "Mark", "Kowalczyk"),
    Pupil("P10", "Bill", "Fairweather"),
    Pupil("P11", "Noah", "Brooks"),
    Pupil("P12", "Noah", "Patel"),
    Pupil("P13", "Ellie-May", "Murphy"),
]


@pytest.fixture(scope="module")
def matcher() -> RosterNameMatcher:
    return RosterNameMatcher(ROSTER)


def line(text: str) -> Detection:
    return Detection(Kind.TEXT, Box(0, 0, 100, 20), 0.9, "test", text=text)


@pytest.mark.parametrize(
    ("text", "pupil", "form"),
    [
        ("Amelia Hughes", "P1", "full"),
        ("Amelia", "P1", "first"),
        ("Hughes", "P1", "surname"),
        ("A. Hughes", "P1", "initial_surname"),
        ("Hughes A", "P1", "surname_initial"),
        ("Hughes, A.", "P1", "surname_initial"),
        ("Hughes, Amelia", "P1", "surname_first"),
        ("AMELIA HUGHES", "P1", "full"),
        ("Name: A. Hughes", "P1", "initial_surname"),
        ("Well done Amelia Hughes!", "P1", "full"),
        ("Zoë Smith-Jones", "P2", "full"),
        ("Zoe Smith Jones", "P2", "full"),
        ("ZOE SMITH-JONES", "P2", "full"),
        ("Zoe", "P2", "first"),
        ("SMITH-JONES", "P2", "surname"),
        ("Siobhan O'Connor", "P3", "full"),
        ("Siobhan O’Connor", "P3", "full"),
        ("SIOBHAN OCONNOR", "P3", "full"),
        ("Alex Whitworth", "P4", "full"),
        ("Alex", "P4", "first"),
        ("Ellie-May", "P13", "first"),
        # OCR confusions: 0/O, 1/l/I, rn/m, vv/w
        ("Arnelia Hughes", "P1", "full"),
        ("Amel1a Hughes", "P1", "full"),
        ("AMELIA HUGHE5", "P1", "full"),
        ("Siobhan 0'Connor", "P3", "full"),
        ("Alex VVhitworth", "P4", "full"),
        ("Amelia Hugbes", "P1", "full"),  # one wrong letter: fuzzy
    ],
)
def test_each_name_form_is_matched(
    matcher: RosterNameMatcher, text: str, pupil: str, form: str
) -> None:
    result = matcher.match([line(text)])[0]
    assert result.is_name, text
    assert result.pupil_id == pupil
    assert result.form == form
    assert 0.8 <= result.score <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "Sports Day 2026",
        "Year 6",
        "Room 12",
        "EXIT",
        "Certificate of Achievement",
        "Hope you had a great summer",
        "We hope you enjoyed it",
        "May Day Fair",
        "Mark your work",
        "Saying Grace",
        "Bill of rights",
        "Will you help?",
        "Brooks and rivers",
        "Mrs Okafor",
        "Hughesville Road",
    ],
)
def test_common_words_and_other_text_are_not_names(matcher: RosterNameMatcher, text: str) -> None:
    assert not matcher.match_text(text).is_name, text


@pytest.mark.parametrize(
    ("text", "pupil"),
    [
        ("Grace", "P5"),  # a peg label: the name alone
        ("GRACE", "P5"),
        ("Name: Hope", "P7"),
        ("presented to May", "P6"),
        ("Will Marsh", "P8"),
        ("Mark Kowalczyk", "P9"),
        ("Kowalczyk, Mark", "P9"),
        ("Bill F.", "P10"),
    ],
)
def test_common_word_names_match_alone_or_with_surname(
    matcher: RosterNameMatcher, text: str, pupil: str
) -> None:
    result = matcher.match_text(text)
    assert result.is_name and result.pupil_id == pupil, text


def test_common_word_name_needs_capital_and_exact_spelling(matcher: RosterNameMatcher) -> None:
    assert not matcher.match_text("grace").is_name
    assert not matcher.match_text("Graco").is_name


def test_first_name_shared_by_two_pupils_is_a_name_without_pupil(
    matcher: RosterNameMatcher,
) -> None:
    result = matcher.match_text("Noah")
    assert result.is_name and result.pupil_id is None
    assert matcher.match_text("Noah Patel").pupil_id == "P12"


def test_two_pupils_on_one_line(matcher: RosterNameMatcher) -> None:
    result = matcher.match_text("Star of the week: Amelia, Siobhan")
    assert result.is_name and result.pupil_id is None


def test_one_result_per_line(matcher: RosterNameMatcher) -> None:
    lines = [line("Year 6"), line("Amelia Hughes"), line(""), line("Maths")]
    assert [m.is_name for m in matcher.match(lines)] == [False, True, False, False]


def test_threshold_is_respected() -> None:
    strict = RosterNameMatcher(ROSTER, threshold=100)
    assert not strict.match_text("Amelia Hugbes Xq").is_name or strict.match_text(
        "Amelia Hugbes Xq"
    ).form in ("first",)
    assert strict.match_text("Amelia Hughes").is_name


def test_fold_and_key() -> None:
    assert fold("Zoë Ångström Søren Łukasz") == "zoe angstrom soren lukasz"
    assert key("O'Connor-Smith") == key("OCONNOR SMITH")
    assert key("Arnelia") == key("Amelia")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Amelia_Hughes_Y6.jpg", True),
        ("AmeliaHughes.jpg", True),
        ("amelia-hughes", True),
        ("IMG_0007.jpg", False),
        ("Year6 Sports Day", False),
        ("zoe.smith-jones.png", True),
        ("Grace_Y6.jpg", True),  # file names: common-word names count too
        ("trip_2026", False),
    ],
)
def test_contains_roster_name(name: str, expected: bool) -> None:
    assert RosterNameMatcher(ROSTER).contains_name(name) is expected
