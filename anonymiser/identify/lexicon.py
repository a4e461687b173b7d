"""First names, surnames and everyday English words, for telling a person's name from other text.

The list ships as package data (``lexicon.tsv.gz``, ~0.7 MB, loaded in ~0.3 s once per process)
and is derived by ``scripts/build_name_lexicon.py`` from pinned PyPI packages: ``names-dataset``
3.3.1 (names ranked per country), ``english-words`` 2.0.2 (Webster's 2nd, lower-case entries) and
``wordfreq`` 3.1.1 (English word frequencies). Nothing is read from the network.
"""

from __future__ import annotations

import gzip
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

_SPECIAL = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "œ": "oe",
     "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i", "þ": "th", "ð": "d"}
)  # fmt: skip


def letters(text: str) -> str:
    """Lower-case ASCII letters only, diacritics folded: ``"O'Brien"`` -> ``"obrien"``."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(c for c in decomposed.lower() if "a" <= c <= "z")


@dataclass(frozen=True, slots=True)
class Entry:
    """What the lexicon knows of one word (all false: not in the lexicon)."""

    first: bool = False  # a first name
    surname: bool = False
    popular: bool = False  # a top-1000 name in an English-speaking country
    word: bool = False  # an everyday English word ("jade", "grace", "maths")

    @property
    def name(self) -> bool:
        return self.first or self.surname

    @property
    def known(self) -> bool:
        return self.name or self.word


_UNKNOWN = Entry()


@cache
def _table() -> dict[str, Entry]:
    raw = gzip.decompress((files("anonymiser.identify") / "lexicon.tsv.gz").read_bytes())
    table: dict[str, Entry] = {}
    entries: dict[str, Entry] = {}
    for line in raw.decode("ascii").splitlines():
        k, _, flags = line.partition("\t")
        entry = entries.get(flags)
        if entry is None:
            entry = entries[flags] = Entry("F" in flags, "S" in flags, "P" in flags, "W" in flags)
        table[k] = entry
    return table


def lookup(word: str) -> Entry:
    """The lexicon's entry for ``word`` (case, diacritics, hyphens and apostrophes ignored)."""
    return _table().get(letters(word), _UNKNOWN)
