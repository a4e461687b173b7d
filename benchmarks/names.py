"""Benchmark: OCR + name decisions on ../shared/data/name_text and name_text_b together.

A truth ``name`` line counts as redacted when the union of the boxes we would redact (the boxes
of OCR lines the matcher calls names, grown by ``REDACT_SCALE`` as the redactor does) covers at
least 80 % of its truth box. An ``other`` line counts as kept when that union covers less than
half of it (still readable); ``*_strict`` counts it kept only below 20 %. The same two numbers are also given for what the redactor
really fills (each line's grown polygon, ``anonymiser.redact``) against the truth quads. Names of people not on the roster are reported separately.

A line is redacted when the ``TextJudge`` (roster names, other people's names, doubtful text;
``anonymiser.identify.judge``) says it is not ``other``: what the pipeline blurs in
``--text names`` mode. The headline figures are the polygon ones ("what is really filled").

OCR output is cached per photo (``benchmarks/ocr_cache.py``, ``benchmarks/out/ocr/``): the first
run costs 15–40 CPU s per 12 MP photo, later runs only the matching (seconds).

Usage::

    .venv/bin/python benchmarks/names.py                 # both sets, write results/names.json
    .venv/bin/python benchmarks/names.py --sets name_text_b --cached-only -v
    .venv/bin/python benchmarks/names.py --gate          # CI floors, exit 1 below them
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anonymiser.identify.judge import TextJudge  # noqa: E402
from anonymiser.identify.names import DEFAULT_THRESHOLD, RosterNameMatcher  # noqa: E402
from anonymiser.results import Box, Detection, Kind  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import ocr_cache  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SETS = ("name_text", "name_text_b")
RESULTS = ROOT / "benchmarks" / "results" / "names.json"
REDACT_SCALE = 1.15
COVER = 0.8  # a name line is redacted when covered this much
KEEP = 0.5  # an other line is kept when covered less than this (still readable)
KEEP_STRICT = 0.2

# Phrases a school photo may carry that must not be taken for names (false-hit check).
SCHOOL_PHRASES = """
Sports Day 2026|Year 6|Room 12|EXIT|Maths|Fire Exit|Keep Clear|Well done everyone|Star of the week
Hope you had a great summer|We will remember them|May Day Fair|Mark your work|Saying Grace
Bill of rights|Reading Corner|King's Road|Brooks and rivers|Hunter gatherers|Daisy chain
Lily pad|Rose garden|Ivy League|Jack and the Beanstalk|Faith in Action|Amber warning|Ruby Anniversary
Carol Service|Harvest Festival|Christmas Fair|Summer Term|Autumn Term|Spring Term|Golden Rules
Please wash your hands|Quiet please|Library|Science Lab|Art Room|Dining Hall|Main Entrance
Reception|Nursery|Head Teacher|Deputy Head|School Office|Visitors must sign in|No Entry
Well Done|Handwriting|Spelling Test|Times Tables|Phonics|History|Geography|Computing|Music
Football|Netball|Cricket|Rounders|Swimming Gala|Sports Hall|Playground|Field|Forest School
Eco Team|School Council|Prefect|House Captain|Head Girl|Head Boy|Team Captain|Winner|Runner up
Certificate of Achievement|Certificate of Merit|presented to|awarded to|for trying hard
for kindness|for excellent reading|Headteacher's Award|Finish your work|Show your working
""".replace("\n", "|").split("|")
COMMON_NAME_WORDS = (
    "may hope bill grace will mark faith joy rose ivy holly daisy amber ruby king hunter brooks "
    "woods hill dean wells gill ford hall park"
).split()


@dataclass
class Pupil:
    pupil_id: str
    first_name: str
    last_name: str
    preferred_name: str


def load_roster(path: Path) -> list[Pupil]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [Pupil(**row) for row in csv.DictReader(fh)]


# -- scoring --------------------------------------------------------------------------------


def box_mask(lines: list[Detection], width: int, height: int) -> np.ndarray:
    """The union of the matched lines' boxes grown by REDACT_SCALE (the issue's measure)."""
    mask = np.zeros((height, width), bool)
    for d in lines:
        b = d.box.scaled(REDACT_SCALE).clipped(width, height)
        mask[b.y : b.y2, b.x : b.x2] = True
    return mask


def polygon_mask(lines: list[Detection], width: int, height: int) -> np.ndarray:
    """What ``anonymiser.redact`` really changes: each line's grown polygon."""
    from anonymiser.redact import _text_mask, redaction_area
    from anonymiser.results import Action, Reason, Region

    mask = np.zeros((height, width), bool)
    for d in lines:
        region = Region(Kind.TEXT, d.box, d.score, Action.BLURRED, Reason.PUPIL_NAME,
                        polygon=d.polygon)  # fmt: skip
        area = redaction_area(region, width, height)
        if area.area:
            mask[area.y : area.y2, area.x : area.x2] |= _text_mask(area, region) > 0
    return mask


def cover_box(mask: np.ndarray, box: list[int]) -> float:
    x, y, w, h = box
    patch = mask[y : y + h, x : x + w]
    return float(patch.mean()) if patch.size else 0.0


def cover_quad(mask: np.ndarray, quad: list[list[float]]) -> float:
    import cv2

    region = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(region, [np.round(np.array(quad)).astype(np.int32)], 1)
    inside = region.astype(bool)
    return float(mask[inside].mean()) if inside.any() else 0.0


def score_image(
    entries: list[dict],
    lines: list[Detection],
    judge: TextJudge | RosterNameMatcher,
    size: tuple[int, int],
) -> list[dict]:
    matches = judge.match(lines)
    named = [d for d, m in zip(lines, matches, strict=True) if m.verdict != "other"]
    verdicts = {id(d): f"{m.verdict}/{m.cue}" for d, m in zip(lines, matches, strict=True)}
    boxes, polys = box_mask(named, *size), polygon_mask(named, *size)
    every = box_mask(lines, *size)  # --text all: every OCR line redacted
    out = []
    for e in entries:
        truth = Box(*e["box"])
        seen = [f"{d.text} [{d.score:.2f} {verdicts[id(d)]}]" for d in lines
                if truth.intersection(d.box) > 0.3 * truth.area]  # fmt: skip
        out.append({**e, "coverage": round(cover_box(boxes, e["box"]), 3),
                    "poly_coverage": round(cover_quad(polys, e["quad"]), 3),
                    "all_coverage": round(cover_box(every, e["box"]), 3), "ocr": seen})  # fmt: skip
    return out


def summarise(scored: list[dict]) -> dict[str, object]:
    roster = [s for s in scored if s["kind"] == "name" and s["pupil_id"]]
    visitors = [s for s in scored if s["kind"] == "name" and not s["pupil_id"]]
    others = [s for s in scored if s["kind"] == "other"]

    def rate(items: list[dict], ok: Callable[[dict], bool]) -> float:
        return round(sum(ok(s) for s in items) / len(items), 4) if items else 0.0

    return {
        "name_lines": len(roster),
        "name_recall": rate(roster, lambda s: s["coverage"] >= COVER),
        "name_recall_polygon": rate(roster, lambda s: s["poly_coverage"] >= COVER),
        "not_on_roster_lines": len(visitors),
        "not_on_roster_recall": rate(visitors, lambda s: s["coverage"] >= COVER),
        "not_on_roster_recall_polygon": rate(visitors, lambda s: s["poly_coverage"] >= COVER),
        "text_all_name_recall": rate(roster, lambda s: s["all_coverage"] >= COVER),
        "text_all_not_on_roster_recall": rate(visitors, lambda s: s["all_coverage"] >= COVER),
        "other_lines": len(others),
        "other_kept": rate(others, lambda s: s["coverage"] < KEEP),
        "other_kept_polygon": rate(others, lambda s: s["poly_coverage"] < KEEP),
        "other_kept_strict": rate(others, lambda s: s["coverage"] < KEEP_STRICT),
        "other_kept_polygon_strict": rate(others, lambda s: s["poly_coverage"] < KEEP_STRICT),
        "other_not_redacted": rate(others, lambda s: s["coverage"] < COVER),
        "missed": [
            f"{s['image']}: {s['text']} <- {s['ocr']!r}"
            for s in roster
            if s["poly_coverage"] < COVER
        ],
        "other_hit": [
            f"{s['image']}: {s['text']} <- {s['ocr']!r}"
            for s in others
            if s["poly_coverage"] >= KEEP
        ],
        "not_on_roster_missed": [
            f"{s['image']}: {s['text']} <- {s['ocr']!r}"
            for s in visitors
            if s["poly_coverage"] < COVER
        ],
    }


def false_hits(judge: TextJudge | RosterNameMatcher) -> dict[str, object]:
    phrases = [p.strip() for p in SCHOOL_PHRASES if p.strip()]
    hits = [p for p in phrases if judge.match_text(p).verdict != "other"]
    return {"phrases": len(phrases), "false_hits": hits, "false_hit_rate": len(hits) / len(phrases)}


def common_word_check(roster: list[Pupil]) -> dict[str, object]:
    """Give a test pupil each common-word name; count how often sentences using the word hit."""
    rows = []
    for word in COMMON_NAME_WORDS:
        cap = word.capitalize()
        pupils = [*roster, Pupil("TEST", cap, "Zzyzx", cap)]
        m = RosterNameMatcher(pupils)
        sentences = {
            "in_sentence": f"We {word} you all enjoy the day",
            "sentence_start": f"{cap} you all enjoy the day",
            "title_case_sign": f"The {cap} Room",
        }
        alone = {"alone": cap, "with_surname": f"{cap} Zzyzx"}
        rows.append({
            "word": word,
            "false": {k: m.match_text(v).is_name for k, v in sentences.items()},
            "true": {k: m.match_text(v).is_name for k, v in alone.items()},
        })  # fmt: skip
    return {
        "false_hits": sum(sum(r["false"].values()) for r in rows),
        "sentences": sum(len(r["false"]) for r in rows),
        "true_hits": sum(sum(r["true"].values()) for r in rows),
        "names": sum(len(r["true"]) for r in rows),
    }


# -- main -----------------------------------------------------------------------------------

# CI floors (--gate), on the polygon figures of both sets together.
FLOORS = {"name_recall_polygon": 0.97, "not_on_roster_recall_polygon": 0.85,
          "other_kept_polygon": 0.90}  # fmt: skip


def evaluate(
    dataset: str, images: list[str], judge_for: Callable, params: dict, reading: str
) -> tuple[list[dict], dict]:
    truth = json.loads((DATA / dataset / "truth.json").read_text(encoding="utf-8"))
    judge = judge_for(load_roster(DATA / dataset / "roster.csv"))
    scored, cpu, reread, pixels = [], 0.0, 0.0, 0.0
    for img in images:
        run = ocr_cache.cached(dataset, img, params)
        if run is None:
            continue
        lines = ocr_cache.from_json(run, reading)
        entries = [{**e, "image": img} for e in truth[img]]
        scored += score_image(entries, lines, judge, tuple(run["size"]))
        cpu += run["cpu"]
        reread += run.get("reread_cpu", 0.0)
        pixels += run["size"][0] * run["size"][1]
    return scored, {"cpu_seconds": round(cpu, 1), "reread_cpu_seconds": round(reread, 1),
                    "megapixels": round(pixels / 1e6, 1)}  # fmt: skip


def default_judge(roster: list[Pupil]) -> TextJudge:
    return TextJudge(RosterNameMatcher(roster))


def roster_only(roster: list[Pupil]) -> RosterNameMatcher:
    """The decision before issue 14: a line is redacted only when it matches a roster name."""
    return RosterNameMatcher(roster)


JUDGES = {"default": default_judge, "roster-only": roster_only}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--images", nargs="*", help="only these photos (file names)")
    ap.add_argument("--cached-only", action="store_true", help="score the photos already OCR'd")
    ap.add_argument("--gate", action="store_true", help="exit 1 below FLOORS")
    ap.add_argument("--judge", choices=list(JUDGES), default="default")
    ap.add_argument(
        "--reading",
        choices=["reread", "lines"],
        default="reread",
        help="lines: the first readings, before re-reading unsure lines",
    )
    ap.add_argument("--cache-version", type=int, default=2)
    ap.add_argument(
        "--ocr",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="an OcrSettings field other than the shipped one (own OCR cache)",
    )
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    ocr_cache.DATA = args.data
    globals()["DATA"] = args.data

    results: dict[str, object] = {"threshold": DEFAULT_THRESHOLD, "redact_scale": REDACT_SCALE,
                                  "cover": COVER, "keep_below": KEEP, "sets": {}}  # fmt: skip
    every: list[dict] = []
    for dataset in args.sets:
        images = sorted(json.loads((DATA / dataset / "truth.json").read_text("utf-8")))
        if args.images:
            images = [i for i in images if i in args.images]
        params = ocr_cache.params(args.cache_version, args.ocr)
        if not args.cached_only:
            ocr_cache.fill(dataset, images, params, threads=0)
        t = time.process_time()
        scored, cost = evaluate(dataset, images, JUDGES[args.judge], params, args.reading)
        summary = summarise(scored)
        summary.update(cost)
        summary["photos"] = len({s["image"] for s in scored})
        summary["judge_cpu_seconds"] = round(time.process_time() - t, 2)
        results["sets"][dataset] = summary  # type: ignore[index]
        every += [{**s, "image": f"{dataset}/{s['image']}"} for s in scored]
    results["all"] = summarise(every)
    roster = load_roster(DATA / "name_text" / "roster.csv")
    results["judge"] = args.judge
    results["reading"] = args.reading
    results["phrase_false_hits"] = false_hits(JUDGES[args.judge](roster))
    results["common_word_names"] = common_word_check(roster)
    results["load_average_1min"] = round(os.getloadavg()[0], 1)

    print_table(results, verbose=args.verbose)
    complete = (not args.images and not args.cached_only and set(args.sets) == set(SETS)
                and not args.ocr
                and args.judge == "default" and args.reading == "reread")  # fmt: skip
    if not args.no_write and complete:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    if args.gate:
        low = {k: v for k, v in FLOORS.items() if results["all"][k] < v}  # type: ignore[index]
        if low:
            print(f"names gate FAILED: {low} below {FLOORS}")
            sys.exit(1)
        print("names gate passed")


def print_table(results: dict, verbose: bool) -> None:
    print(f"{'set':12} {'photos':>6} {'roster':>7} {'(poly)':>7} {'not-roster':>10} {'(poly)':>7} "
          f"{'other kept':>10} {'(poly)':>7} {'CPU s/MP':>8}")  # fmt: skip
    rows = [*results["sets"].items(), ("all", results["all"])]
    for name, s in rows:
        per_mp = s["cpu_seconds"] / s["megapixels"] if s.get("megapixels") else float("nan")
        print(f"{name:12} {s.get('photos', ''):>6} {s['name_recall']:>7.1%} "
              f"{s['name_recall_polygon']:>7.1%} {s['not_on_roster_recall']:>10.1%} "
              f"{s['not_on_roster_recall_polygon']:>7.1%} {s['other_kept']:>10.1%} "
              f"{s['other_kept_polygon']:>7.1%} {per_mp:>8.2f}")  # fmt: skip
    s = results["all"]
    print(f"lines: {s['name_lines']} roster, {s['not_on_roster_lines']} not on roster, "
          f"{s['other_lines']} other")  # fmt: skip
    for key in ("missed", "not_on_roster_missed", "other_hit"):
        print(f"\n{key} ({len(s[key])}):")
        for item in s[key] if verbose else s[key][:10]:
            print("  " + item)
    print(f"\nschool phrases judged names: {results['phrase_false_hits']['false_hits']}")
    print(f"common-word names (roster matcher): {results['common_word_names']}")


if __name__ == "__main__":
    main()
