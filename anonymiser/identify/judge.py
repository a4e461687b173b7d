"""Default deny for text: keep a line only when it was read confidently and is clearly not a name.

``TextJudge.match(lines)`` gives one ``NameMatch`` per OCR line, in this order of rules:

1. **Roster**: the ``RosterNameMatcher`` finds a pupil's name form (``TextVerdict.PUPIL_NAME``).
2. **Low confidence**: the recogniser's score is below ``CONFIDENT`` (``DOUBTFUL``): we do not
   know what the line says, so we cannot show it is not a name.
3. **Another person's name** (``PERSONAL_NAME``): a title and a name (``Mrs Okafor``,
   ``Dr A. Clarke``); capitalised words that the shipped name lists know as a first name and
   a surname (``Jamie Elliott``), or one name that is no everyday word (``Adaeze``, ``Kenji``);
   anything name-like after a cue such as ``presented to``, ``Name:``, ``Well done``,
   ``Monitors:`` (on the same line, or in the lines just below a line ending with the cue);
   a lone name label in a row or column of name labels (pegs, registers, whiteboard lists).
4. **Unknown words** (``DOUBTFUL``): a word of three or more letters that is neither an everyday
   word nor a known name is likely a misread name ("hagee Taype-tven"), unless it names a school
   (``Millfield Academy``).
5. Everything else is ``OTHER`` (kept in ``--text names`` mode).

The lists are ``anonymiser.identify.lexicon`` (derived from names-dataset, english-words and
wordfreq). Measured on the name_text sets in ``benchmarks/names.py``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from anonymiser.identify.lexicon import Entry, letters, lookup
from anonymiser.identify.names import RosterNameMatcher, words
from anonymiser.results import Detection, NameMatch, TextCue, TextVerdict

# Recogniser score below which a line's reading is not trusted (benchmarks/names.py).
CONFIDENT = 0.85
TITLES = frozenset("mr mrs ms miss mx dr prof sir dame rev master mstr madam".split())
# Phrases after which the next words (or the lines below) are a person's name.
NAME_CUES = tuple(
    tuple(p.split())
    for p in """presented to|awarded to|given to|congratulations to|congratulations|well done|
    thank you|thanks to|my name is|name|names|pupil|pupils|child|star of the week|star of the day|
    monitors|monitor|helpers|helper|line leader|leaders|captain|captains|winner|winners|by|dear|
    hello|hi|goodbye|happy birthday|welcome|belongs to|this book belongs to|reading group|group""".replace(
        "\n", ""
    ).split("|")
)
# Words that make an unknown capitalised word before them a school's name.
INSTITUTIONS = frozenset(
    """academy primary school schools juniors junior infants infant college nursery ce rc
    church trust high grammar secondary prep preparatory""".split()
)
# School subjects and languages: everyday words on a school sign, though lists hold them as names.
SCHOOL_WORDS = frozenset(
    """english french spanish german italian latin welsh polish urdu arabic mandarin maths
    art music drama history geography science computing phonics pe re pshe rse ict dt""".split()
)
ROW_ALIGN = 0.5  # labels in a row: centres within this many line heights vertically
_SEVERITY = {TextVerdict.PUPIL_NAME: 3, TextVerdict.PERSONAL_NAME: 2, TextVerdict.DOUBTFUL: 1,
             TextVerdict.OTHER: 0}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    entry: Entry

    @property
    def alpha(self) -> str:
        return letters(self.text)

    @property
    def capital(self) -> bool:
        return self.text[:1].isupper()

    @property
    def initial(self) -> bool:
        return len(self.alpha) == 1 and self.capital and not any(c.isdigit() for c in self.text)

    @property
    def number(self) -> bool:
        return any(c.isdigit() for c in self.text)

    @property
    def name_only(self) -> bool:
        """A known name that is not an everyday word."""
        return self.entry.name and not self.entry.word and self.alpha not in SCHOOL_WORDS

    @property
    def unknown(self) -> bool:
        return len(self.alpha) >= 3 and not self.number and not self.entry.known


_WORD = Entry(word=True)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _word_form(k: str) -> bool:
    """An everyday word inflected or compounded (``lunchboxes``, ``headteacher's``)."""
    for suffix in ("s", "es", "ies"):
        if k.endswith(suffix) and len(k) - len(suffix) >= 3:
            stem = k[: -len(suffix)] + ("y" if suffix == "ies" else "")
            if _known_word(stem) or (len(stem) >= 6 and _word_form(stem)):
                return True
    return any(
        _word(k[:i]) and (_word(k[i:]) or _word_form_simple(k[i:])) for i in range(3, len(k) - 2)
    )


def _word_form_simple(k: str) -> bool:
    return k.endswith("s") and (_word(k[:-1]) or (k.endswith("es") and _word(k[:-2])))


def _known_word(k: str) -> bool:
    e = lookup(k)
    return e.word and not e.name


def _word(k: str) -> bool:
    return lookup(k).word


def _misread_word(k: str) -> bool:
    """One letter off an everyday word and no known name (``Stience``, ``Tuesdoy``)."""
    if len(k) < 5:
        return False
    edits = {k[:i] + k[i + 1 :] for i in range(len(k))}
    edits |= {k[:i] + c + k[i + 1 :] for i in range(len(k)) for c in _LETTERS}
    edits |= {k[:i] + c + k[i:] for i in range(len(k) + 1) for c in _LETTERS}
    found = [lookup(e) for e in edits - {k}]
    return any(e.word and not e.name for e in found) and not any(e.name for e in found)


def _entry(text: str) -> Entry:
    whole = lookup(text)
    if whole.known:
        return whole
    k = letters(text)
    if len(k) >= 4 and (_word_form(k) or _misread_word(k)):
        return _WORD
    parts = [p for p in re.split(r"[-'’]", text) if letters(p)]
    if len(parts) > 1:
        found = [lookup(p) for p in parts]
        if all(e.known for e in found) and any(e.name for e in found):
            return Entry(
                first=any(e.first for e in found),
                surname=any(e.surname for e in found),
                popular=all(e.popular or not e.name for e in found),
                word=all(e.word for e in found),
            )
    return whole


def _tokens(text: str) -> list[_Token]:
    return [_Token(w, _entry(w)) for w in words(text) if letters(w) or any(c.isdigit() for c in w)]


def _cue_end(tokens: list[_Token]) -> int | None:
    """Index just after the last name cue in the line, if the line has one."""
    keys = [t.alpha for t in tokens]
    end = None
    for i in range(len(keys)):
        for cue in NAME_CUES:
            if tuple(keys[i : i + len(cue)]) == cue:
                end = max(end or 0, i + len(cue))
    return end


def _name_like(tokens: list[_Token], *, cued: bool, strong: bool = False) -> TextCue | None:
    """Whether these words (a line, or the part after a cue) are a person's name.

    ``strong``: right after the cue on its line ("Name: Teddy", "presented to Rose"), where
    any capitalised name or unknown word is taken for a name.
    """
    alpha = [t for t in tokens if t.alpha and not t.number]
    if not alpha or any(t.number for t in tokens):
        return None
    for i, t in enumerate(alpha[:-1]):
        rest = [r for r in alpha[i + 1 :] if not r.initial]
        if t.alpha in TITLES and t.capital and rest and rest[0].capital:
            return TextCue.TITLE
    if cued:
        capitals = [t for t in alpha if t.capital and not t.initial]
        if (
            strong
            and all(t.capital for t in alpha)
            and any(
                (t.entry.first and t.alpha not in SCHOOL_WORDS) or t.name_only or t.unknown
                for t in capitals
            )
        ):
            return TextCue.CONTEXT
        if any(t.name_only for t in capitals) or any(
            t.unknown and not _school_name(alpha, i) for i, t in enumerate(alpha) if t.capital
        ):
            return TextCue.CONTEXT
        popular = all(
            t.initial or (t.entry.name and t.entry.popular and t.alpha not in SCHOOL_WORDS)
            for t in alpha
        )
        if capitals and popular and all(t.capital for t in alpha):
            return TextCue.CONTEXT  # "Well done Jack", "Monitors: Rose, May"
        return None
    # A cut-off piece of a letter or two at either end ("dy Sinclair") does not count.
    while len(alpha) > 1 and len(alpha[0].alpha) <= 2 and not alpha[0].capital:
        alpha = alpha[1:]
    while len(alpha) > 1 and len(alpha[-1].alpha) <= 2 and not alpha[-1].capital:
        alpha = alpha[:-1]
    if len(alpha) > 4 or not all(t.capital for t in alpha):
        return None
    if not all(t.initial or t.entry.name or t.unknown for t in alpha):
        return None  # an everyday word that is no name ("Sports", "Room") is in the line
    named = [t for t in alpha if not t.initial]
    if not named:
        return None
    if any(t.name_only for t in named):
        return TextCue.NAME_LIST
    if len(alpha) == 1 and _label_name(named[0]) and named[0].entry.popular:
        return TextCue.NAME_LIST  # a popular first name alone on its line: "Jack", "Grace"
    first, last = named[0], named[-1]
    both = first.entry.popular and last.entry.popular  # "Rose Wade": both common words too
    if len(named) >= 2 and first.entry.first and last.entry.surname and both:
        return TextCue.NAME_LIST
    return None


def _label_name(t: _Token) -> bool:
    """A lone word that may be a first name on a label (``Jack``, ``Rayyan``; not ``Maths``)."""
    return (
        t.capital
        and t.entry.first
        and (t.entry.popular or not t.entry.word)
        and t.alpha not in SCHOOL_WORDS
    )


def _school_name(tokens: list[_Token], i: int) -> bool:
    """The unknown word at ``i`` is part of a school's name (``Millfield Academy``)."""
    return any(t.alpha in INSTITUTIONS for t in tokens[i + 1 : i + 4])


class TextJudge:
    """One ``NameMatch`` per OCR line: pupil's name, another person's name, doubtful or other.

    Parameters
    ----------
    roster:
        The roster matcher, or ``None`` when there is no roster (other people's names and
        doubtful text are still found).
    confident:
        Recogniser score a line needs to be trusted (default ``CONFIDENT``).
    """

    def __init__(self, roster: RosterNameMatcher | None, confident: float = CONFIDENT) -> None:
        self.roster = roster
        self.confident = confident

    def match(self, lines: Sequence[Detection]) -> list[NameMatch]:
        out = [self._line(d) for d in lines]
        cued = self._cued_below(lines)
        for i, d in enumerate(lines):
            if out[i].verdict is TextVerdict.OTHER and i in cued:
                cue = _name_like(_tokens(d.text or ""), cued=True, strong=cued[i])
                if cue is not None:
                    out[i] = NameMatch(False, verdict=TextVerdict.PERSONAL_NAME, cue=cue)
        return self._layout(lines, out)

    def match_text(self, text: str, score: float = 1.0) -> NameMatch:
        """Judge one line of text on its own (no neighbours)."""
        return self._judge(text, score)

    # -- internals ----------------------------------------------------------------------

    def _line(self, det: Detection) -> NameMatch:
        """The most severe verdict over every reading of the line (re-reads included)."""
        first = self._judge(det.text or "", det.score)
        # Another reading counts when it finds a pupil, or a name by title or cue: a lone
        # one-letter-off reading ("HELO" for "HELLO") is no evidence of a name.
        found = [first] + [
            m
            for m in (self._judge(t, det.score) for t in det.alternatives)
            if m.verdict is TextVerdict.PUPIL_NAME
            or (m.verdict is TextVerdict.PERSONAL_NAME and m.cue is not TextCue.NAME_LIST)
        ]
        return max(found, key=lambda m: _SEVERITY[m.verdict])

    def _judge(self, text: str, score: float) -> NameMatch:
        if self.roster is not None:
            found = self.roster.match_text(text)
            if found.is_name:
                return found
        tokens = _tokens(text)
        if not any(t.alpha for t in tokens):
            return NameMatch(False)  # numbers and punctuation only
        if score < self.confident:
            return NameMatch(False, verdict=TextVerdict.DOUBTFUL, cue=TextCue.LOW_CONFIDENCE)
        end = _cue_end(tokens)
        if end is not None and end < len(tokens):
            cue = _name_like(tokens[end:], cued=True, strong=True)
            if cue is not None:
                return NameMatch(False, verdict=TextVerdict.PERSONAL_NAME, cue=cue)
        cue = _name_like(tokens, cued=False)
        if cue is not None:
            return NameMatch(False, verdict=TextVerdict.PERSONAL_NAME, cue=cue)
        for i, t in enumerate(tokens):
            if t.unknown and not _school_name(tokens, i):
                return NameMatch(False, verdict=TextVerdict.DOUBTFUL, cue=TextCue.UNKNOWN_WORD)
        return NameMatch(False)

    @staticmethod
    def _cued_below(lines: Sequence[Detection]) -> dict[int, bool]:
        """Lines just below (False) or right of (True: strong) a line ending with a name cue
        ("presented to", "Monitors:", a "Name:" label split off its line)."""
        out: dict[int, bool] = {}
        for i, d in enumerate(lines):
            tokens = _tokens(d.text or "")
            if not tokens or _cue_end(tokens) != len(tokens):
                continue
            h = max(1, d.box.h)
            below = [
                (o.box.y, j)
                for j, o in enumerate(lines)
                if j != i
                and o.box.y >= d.box.y + h * 0.5
                and o.box.y <= d.box.y2 + 6 * h
                and min(o.box.x2, d.box.x2 + h) - max(o.box.x, d.box.x - h) > 0
            ]
            # Weak: "Name:" on an exercise book has "Subject:" and "Topic" below it.
            for _, j in sorted(below)[:6]:
                out.setdefault(j, False)
            # "Name:" split off its line: the name is to its right.
            for j, o in enumerate(lines):
                if (
                    j != i
                    and abs(o.box.centre[1] - d.box.centre[1]) <= ROW_ALIGN * h
                    and d.box.x2 - h <= o.box.x <= d.box.x2 + 15 * h
                ):
                    out[j] = True
        return out

    @staticmethod
    def _layout(lines: Sequence[Detection], out: list[NameMatch]) -> list[NameMatch]:
        """A lone first name kept so far is a name when it sits in a row of name labels."""
        names = [i for i, m in enumerate(out) if m.verdict is not TextVerdict.OTHER]
        result = list(out)
        for i, m in enumerate(out):
            if m.verdict is not TextVerdict.OTHER:
                continue
            alpha = [t for t in _tokens(lines[i].text or "") if t.alpha]
            t = alpha[0] if len(alpha) == 1 else None
            if t is None or not (t.capital and t.entry.first and t.alpha not in SCHOOL_WORDS):
                continue
            d = lines[i]
            cy, h = d.box.centre[1], max(1, d.box.h)
            cx = d.box.centre[0]
            row = [
                j
                for j in names
                if abs(lines[j].box.centre[1] - cy) <= ROW_ALIGN * h
                and 0.5 <= lines[j].box.h / h <= 2.0
            ]
            column = [
                j
                for j in names
                if abs(lines[j].box.centre[0] - cx) <= 2 * h
                and abs(lines[j].box.centre[1] - cy) <= 8 * h
                and 0.5 <= lines[j].box.h / h <= 2.0
            ]
            if len(row) >= 2 or len(column) >= 3:  # a badge's role under its name is no list
                result[i] = NameMatch(False, verdict=TextVerdict.PERSONAL_NAME, cue=TextCue.LAYOUT)
        return result
