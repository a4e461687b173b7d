"""Match OCR text lines against the roster's pupil names.

Every OCR line is split into words; every window of 1–4 consecutive words is compared, with
rapidfuzz, to each pupil's name forms: full name (first or preferred + surname), ``Surname First``,
``A. Surname``, ``Surname A``, first name, preferred name and surname alone. Both sides are
reduced to a *key* first: diacritics folded (Zoë = Zoe), lower case, common OCR confusions
mapped to one letter (0/o, 1/l/I/i/|, 5/s, rn/m, vv/w) and everything but letters dropped, so
ALL CAPS, hyphens (``Smith-Jones`` = ``Smith Jones``), apostrophes and punctuation do not matter.

Rules (thresholds measured on ``benchmarks/names.py``; see benchmarks/README.md):

* roster keys of 4 letters or fewer must match exactly; longer ones need
  ``fuzz.ratio >= threshold`` with an OCR window of at least 4 letters;
* a single-word form (first, preferred or surname alone) that is also a common English word
  ("May", "Hope", "Grace", "King", "Brooks") matches only when it is written exactly
  (after folding), starts with a capital letter, and either stands alone on its line (label
  words such as "Name:" or "to" aside) or sits next to the same pupil's other name or initial.
  "Hope you had fun" is not a name; a peg label "Hope" is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rapidfuzz import fuzz

from anonymiser.results import Detection, NameMatch

# fuzz.ratio (0–100) a key longer than EXACT_MAX letters needs. Measured on name_text with
# rapidocr: 82–88 all give 100 % name-line recall and 0 false hits on 85 school phrases; 80 hits
# 5.9 % of the phrases, 90 drops recall to 98.3 %. 84 sits in the middle of that plateau.
DEFAULT_THRESHOLD = 84.0
EXACT_MAX = 4  # keys this short must match exactly
MAX_WINDOW = 4  # words per window
PART_THRESHOLD = 70.0  # each word of a multi-word window must be this close to a name word

# Given names and surnames that are also everyday English words (lower case, folded).
COMMON_WORDS = frozenset(
    """
    may hope bill grace will mark faith joy rose iris ivy holly daisy amber ruby jade pearl dawn
    summer autumn winter star sky rain river rich frank art bob pat sue don ray guy jack rob
    chase hunter carter mason cook baker smith brown white green black grey gray king young hill
    wood woods stone park hall lane page rice price bell ward brooks rivers field fields march
    april june august sunny honey angel august penny sage skye storm reed read bush marsh moss
    dean rush cash gold silver bishop knight noble love bliss destiny heath heather berry
    cherry olive poppy willow hazel violet fern clay dale glen wells wall walls best good
    small short long strong swift sharp fox wolf bird crane drake lamb hart wren robin swan
    hawk finch nash booth bond miles power powers patch gill rock banks bank ford forest
    lake pond marsh bay sterling earl duke prince lord baron major sergeant sunday friday
    grant hardy love early west north south east sweet able
    """.split()
)

# Words that may share a line with a lone name ("Name: Grace", "presented to Hope").
LABEL_WORDS = frozenset(
    """name names pupil student child by to for dear hello hi my is well done congratulations
    presented awarded star of the week winner""".split()
)

_SPECIAL = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "œ": "oe",
     "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i", "þ": "th", "ð": "d"}
)  # fmt: skip
_CONFUSE = str.maketrans({"0": "o", "1": "l", "|": "l", "i": "l", "5": "s"})
_SPLIT = re.compile(r"[\s,;:/\\()\[\]{}?!\"“”«».·•_]+")
_NON_LETTER = re.compile(r"[^a-z]")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


class PupilName(Protocol):
    """Anything with a pupil's id and names (the consent log's rows fit)."""

    @property
    def pupil_id(self) -> str: ...
    @property
    def first_name(self) -> str: ...
    @property
    def last_name(self) -> str: ...
    @property
    def preferred_name(self) -> str | None: ...


def fold(text: str) -> str:
    """Lower case with diacritics removed: ``"Zoë O'Brien"`` -> ``"zoe o'brien"``."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def key(text: str) -> str:
    """The comparison key: folded, OCR confusions merged, letters only."""
    k = fold(text).translate(_CONFUSE)
    k = k.replace("rn", "m").replace("vv", "w")
    return _NON_LETTER.sub("", k)


def words(text: str) -> list[str]:
    """Split an OCR line into words (hyphens and apostrophes stay inside a word)."""
    return [w for w in _SPLIT.split(text) if w.strip("-'’")]


@dataclass(frozen=True, slots=True)
class _Form:
    key: str
    pupil_id: str
    form: str
    single: bool  # one name part alone (first, preferred or surname)
    common: bool  # that part is also a common English word
    partner_keys: frozenset[str]  # keys of the pupil's other name parts and initials
    parts: frozenset[str] = frozenset()  # keys of every word of the pupil's names


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    pupil_id: str
    form: str
    score: float


def _forms(pupil: PupilName) -> list[_Form]:
    pid = str(pupil.pupil_id)
    last = (pupil.last_name or "").strip()
    lkey = key(last)
    firsts = {n.strip() for n in (pupil.first_name, pupil.preferred_name) if n and n.strip()}
    fkeys = {key(f): f for f in firsts if key(f)}
    initials = {k[0] for k in fkeys}
    parts = {key(w) for n in (last, *firsts) for w in [n, *re.split(r"[-'’\s]+", n)]} - {""}
    out: list[_Form] = []

    def add(form_key: str, form: str, common: bool = False, partners: Iterable[str] = ()) -> None:
        single = form in ("first", "surname")
        out.append(
            _Form(form_key, pid, form, single, common, frozenset(partners), frozenset(parts))
        )

    for fk, first in fkeys.items():
        add(fk, "first", _is_common(first), {lkey, lkey[:1]} - {""})
        if lkey:
            add(fk + lkey, "full")
            add(lkey + fk, "surname_first")
    if lkey:
        add(lkey, "surname", _is_common(last), set(fkeys) | initials)
        for ini in initials:
            add(ini + lkey, "initial_surname")
            add(lkey + ini, "surname_initial")
    return out


def _everyday(token: str) -> bool:
    """An everyday English word that is no known name (``Learning``, ``wash``), spelt right."""
    from anonymiser.identify.lexicon import lookup

    entry = lookup(token)
    return entry.word and not entry.name


def _alpha(text: str) -> str:
    return _NON_LETTER.sub("", fold(text))


def _is_common(name: str) -> bool:
    return _alpha(name) in COMMON_WORDS


def _initial_ok(form: str, window: list[str]) -> bool:
    """``A. Hughes`` / ``Hughes A``: the initial must be a word of its own."""
    if form == "initial_surname":
        return len(window) == 2 and len(window[0]) == 1
    if form == "surname_initial":
        return len(window) == 2 and len(window[1]) == 1
    return True


class RosterNameMatcher:
    """Says which OCR lines carry a roster pupil's name.

    Parameters
    ----------
    pupils:
        Roster rows with ``pupil_id``, ``first_name``, ``last_name`` and ``preferred_name``.
    threshold:
        ``fuzz.ratio`` (0–100) a name key longer than four letters needs; default
        ``DEFAULT_THRESHOLD`` (measured on the name_text benchmark).
    """

    def __init__(self, pupils: Sequence[PupilName], threshold: float | None = None) -> None:
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        self._forms: dict[str, list[_Form]] = {}
        for pupil in pupils:
            for form in _forms(pupil):
                self._forms.setdefault(form.key, []).append(form)
        self._keys = list(self._forms)
        self._long_keys = [k for k in self._keys if len(k) > EXACT_MAX]
        self._name_parts = {
            k for k, fs in self._forms.items() if any(f.single for f in fs)
        }  # for file names

    # -- public -------------------------------------------------------------------------

    def match(self, lines: Sequence[Detection]) -> list[NameMatch]:
        """One ``NameMatch`` per line, in order."""
        return [self.match_text(d.text or "") for d in lines]

    def match_text(self, text: str) -> NameMatch:
        """Match one line of text."""
        hits = self._accepted(self._hits(words(text)))
        if not hits:
            return NameMatch(is_name=False)
        pupils = {h.pupil_id for h in hits}
        best = max(hits, key=lambda h: (h.end - h.start, h.score))
        return NameMatch(
            is_name=True,
            pupil_id=pupils.pop() if len(pupils) == 1 else None,
            score=round(max(h.score for h in hits) / 100.0, 3),
            form=best.form,
        )

    def contains_name(self, name: str) -> bool:
        """Whether a file or folder name carries a roster name (``Amelia_Hughes_Y6.jpg``).

        Stricter than ``match``: any exact first, preferred or surname counts, common words too.
        """
        parts = [p for p in re.split(r"[_\-.\s]+", _CAMEL.sub(" ", name)) if p]
        keys = [key(p) for p in parts]
        for i in range(len(keys)):
            for j in range(i + 1, min(len(keys), i + MAX_WINDOW) + 1):
                window = "".join(keys[i:j])
                if window in self._name_parts or window in self._forms:
                    return True
        return any(self._hits(words(" ".join(parts)), strict_common=False))

    # -- internals ----------------------------------------------------------------------

    def _hits(self, tokens: list[str], *, strict_common: bool = True) -> list[_Hit]:
        # A number ("2026") is no name part, even though OCR confuses 0 with o.
        keys = [key(t) if sum(c.isdigit() for c in t) * 2 < len(t) else "" for t in tokens]
        words_ok = [_everyday(t) for t in tokens]
        hits: list[_Hit] = []
        for i in range(len(tokens)):
            if not keys[i]:
                continue
            for j in range(i + 1, min(len(tokens), i + MAX_WINDOW) + 1):
                if not keys[j - 1]:
                    break
                window = "".join(keys[i:j])
                for form_key, score in self._candidates(window):
                    if score < 100.0 and all(words_ok[i:j]):
                        continue  # correctly spelt everyday words are no misread name
                    for form in self._forms[form_key]:
                        if form.single and j - i > 1 and form.key != window:
                            continue  # a lone name part spans one word, unless exact
                        if not _initial_ok(form.form, keys[i:j]):
                            continue
                        if j - i > 1 and not self._parts_ok(keys[i:j], form.parts):
                            continue
                        if (
                            strict_common
                            and form.common
                            and not self._common_ok(form, tokens, keys, i, j)
                        ):
                            continue
                        hits.append(_Hit(i, j, form.pupil_id, form.form, score))
        return hits

    def _candidates(self, window: str) -> Iterable[tuple[str, float]]:
        if window in self._forms:
            yield window, 100.0
        if len(window) < EXACT_MAX:
            return
        lo = len(window) * self.threshold / (200.0 - self.threshold)  # ratio bound on length
        hi = len(window) * (200.0 - self.threshold) / self.threshold
        for k in self._long_keys:
            if k == window or not lo <= len(k) <= hi:
                continue
            score = fuzz.ratio(window, k, score_cutoff=self.threshold)
            if score:
                yield k, score

    def _parts_ok(self, window: list[str], parts: frozenset[str]) -> bool:
        """Every word of a window must be a word or initial of the pupil's names.

        Stops a fuzzy window from swallowing a label: "Name: A. Hughes" is ``A. Hughes``.
        """
        for k in window:
            if len(k) == 1:
                if not any(p.startswith(k) for p in parts):
                    return False
            elif k not in parts and not any(
                fuzz.ratio(k, p, score_cutoff=PART_THRESHOLD) for p in parts
            ):
                return False
        return True

    @staticmethod
    def _common_ok(form: _Form, tokens: list[str], keys: list[str], i: int, j: int) -> bool:
        word = tokens[i:j]
        if "".join(keys[i:j]) != form.key or not word[0][:1].isupper():
            return False
        others = [t for n, t in enumerate(tokens) if not i <= n < j]
        if all(_alpha(t) in LABEL_WORDS for t in others):
            return True
        near = [keys[n] for n in (i - 1, j) if 0 <= n < len(keys)]
        return any(k in form.partner_keys for k in near)

    @staticmethod
    def _accepted(hits: list[_Hit]) -> list[_Hit]:
        """Longest, best spans first; drop weaker hits that overlap an accepted span."""
        hits.sort(key=lambda h: (-(h.end - h.start), -h.score))
        taken: list[_Hit] = []
        for h in hits:
            clash = [t for t in taken if h.start < t.end and t.start < h.end]
            if not clash:
                taken.append(h)
            elif all(t.start == h.start and t.end == h.end and t.score == h.score for t in clash):
                taken.append(h)  # a tie on the same words: ambiguous between pupils
        return taken
