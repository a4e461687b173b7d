"""Build ``anonymiser/identify/lexicon.tsv.gz``: first names, surnames and everyday English words.

The run time never loads a names package: ``names-dataset`` is a 55 MB wheel whose pickles
take ~10 CPU s and ~2 GB of memory to load (per worker), and ``wordfreq`` pulls five packages
for one 1.5 MB list. This script derives the few hundred kB the matcher needs from pinned
versions, once, and the result ships as package data. Re-run it after changing a rule::

    pip install 'names-dataset==3.3.1' 'wordfreq==3.1.1' 'english-words==2.0.2'
    python scripts/build_name_lexicon.py

Sources (all MIT or Apache-2.0 code; see anonymiser/identify/LEXICON.md for the data terms):

* first names and surnames: ``names-dataset`` 3.3.1 (Philippe Remy, MIT; popularity ranks per
  country for 730k first and 983k last names). A name is kept when it ranks in the top
  ``TOP_ANY`` of any country or the top ``TOP_LOCAL`` of an English-speaking one;
* everyday words: ``english-words`` 2.0.2 (MIT; Webster's 2nd, ``web2``), only entries written
  in lower case there (``jade``, ``grace``: words; ``Rosie``, ``Hugo``: names only), plus
  ``wordfreq`` 3.1.1 English (Apache-2.0 code, CC BY-SA 4.0 data) words at Zipf >= ``ZIPF_WORD``
  that are not popular names (``maths``, ``colour``: British spellings web2 lacks).

Each output line is ``key<TAB>flags``: ``F`` first name, ``S`` surname, ``P`` popular in an
English-speaking country (top ``TOP_POPULAR``), ``W`` everyday word. Keys are folded like
``anonymiser.identify.names.fold`` (lower case, no diacritics) with non-letters removed.
"""

from __future__ import annotations

import gzip
import pickle
import sys
import unicodedata
from importlib.resources import files
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anonymiser.identify.names import fold  # noqa: E402

OUT = ROOT / "anonymiser" / "identify" / "lexicon.tsv.gz"
LOCAL = ("GB", "IE", "US", "CA", "AU", "NZ")
TOP_ANY = 1500  # top names of any country (Adaeze: 598 in NG, Kenji: 9 in JP)
TOP_LOCAL = 5000  # top names of an English-speaking country (Ellie-May: 3422 in GB)
TOP_POPULAR = 1000  # "popular": a lone common-word name (Jack, Grace) may be a name label
ZIPF_WORD = 3.0  # wordfreq: a word this common is an everyday word unless a popular name
ZIPF_WEB2 = 1.0  # web2 entries rarer than this in modern text are left out (size)


def _alpha(text: str) -> str:
    return "".join(c for c in fold(text) if c.isalpha() and c.isascii())


def _names(path: str) -> tuple[set[str], set[str]]:
    with gzip.open(str(files("names_dataset") / "v3" / path)) as fh:
        data = pickle.load(fh)
    kept, popular = set(), set()
    for name, info in data.items():
        ranks = info.get("rank") or {}
        if not ranks:
            continue
        best = min(ranks.values())
        local = min((ranks[c] for c in LOCAL if c in ranks), default=10**9)
        if best <= TOP_ANY or local <= TOP_LOCAL:
            k = _alpha(name)
            if len(k) >= 2:
                kept.add(k)
                if local <= TOP_POPULAR:
                    popular.add(k)
    return kept, popular


def main() -> None:
    import wordfreq

    first, pop_first = _names("first_names.pkl.gz")
    last, pop_last = _names("last_names.pkl.gz")
    popular = pop_first | pop_last
    with open(str(files("english_words") / "data" / "web2.pickle"), "rb") as fh:
        web2 = pickle.load(fh)
    words = {
        _alpha(w) for w in web2 if w == w.lower() and wordfreq.zipf_frequency(w, "en") >= ZIPF_WEB2
    }
    for w, _ in wordfreq.get_frequency_dict("en", "large").items():
        if wordfreq.zipf_frequency(w, "en") < ZIPF_WORD:
            continue
        k = _alpha(w)
        if k and k == unicodedata.normalize("NFKD", w).lower() and k not in popular:
            words.add(k)
    words.discard("")
    keys = sorted(first | last | words)
    lines = []
    for k in keys:
        flags = "".join(
            f for f, s in (("F", first), ("S", last), ("P", popular), ("W", words)) if k in s
        )
        lines.append(f"{k}\t{flags}")
    OUT.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), 9, mtime=0))
    print(f"{OUT.relative_to(ROOT)}: {len(first)} first names, {len(last)} surnames, "
          f"{len(popular)} popular, {len(words)} words, {OUT.stat().st_size} bytes")  # fmt: skip


if __name__ == "__main__":
    main()
