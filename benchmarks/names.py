"""Benchmark: OCR + roster name matching on ../shared/data/name_text.

A truth ``name`` line counts as redacted when the union of the boxes we would redact (the boxes
of OCR lines the matcher calls names, grown by ``REDACT_SCALE`` as the redactor does) covers at
least 80 % of its truth box. An ``other`` line counts as kept when that union covers less than
half of it (still readable); ``*_strict`` counts it kept only below 20 %. The same two numbers are also given for what the redactor
really fills (each line's grown polygon, ``anonymiser.redact``) against the truth quads. Names of people not on the roster are reported separately.

Usage::

    .venv/bin/python benchmarks/names.py                 # rapidocr and tesseract, write results
    .venv/bin/python benchmarks/names.py --engine rapidocr --images nt_0000.jpg -v
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anonymiser.identify.names import DEFAULT_THRESHOLD, RosterNameMatcher  # noqa: E402
from anonymiser.results import Box, Detection, Kind  # noqa: E402
from anonymiser.settings import OcrSettings, Settings  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "name_text"
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


# -- OCR engines ----------------------------------------------------------------------------


def rapidocr_engine(extra: dict[str, object]) -> Callable[[np.ndarray], list[Detection]]:
    from anonymiser.detect.text import RapidOcrDetector

    ocr = OcrSettings(**{k.removeprefix("ocr_"): v for k, v in extra.items()})  # type: ignore[arg-type]
    return RapidOcrDetector(Settings(ocr=ocr)).detect


def tesseract_engine(psm: int = 11) -> Callable[[np.ndarray], list[Detection]]:
    """Tesseract 5 (Debian) via its TSV output; words grouped into its own lines."""

    def detect(rgb: np.ndarray) -> list[Detection]:
        with tempfile.NamedTemporaryFile(suffix=".png") as tmp:
            Image.fromarray(rgb).save(tmp.name)
            tsv = subprocess.run(
                ["tesseract", tmp.name, "stdout", "--psm", str(psm), "-l", "eng", "tsv"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
        lines: dict[tuple[str, ...], list[list[str]]] = {}
        for row in csv.reader(tsv.splitlines()[1:], delimiter="\t", quoting=csv.QUOTE_NONE):
            if len(row) == 12 and row[0] == "5" and row[11].strip() and float(row[10]) >= 0:
                lines.setdefault(tuple(row[1:5]), []).append(row)
        out = []
        for words in lines.values():
            x1 = min(int(w[6]) for w in words)
            y1 = min(int(w[7]) for w in words)
            x2 = max(int(w[6]) + int(w[8]) for w in words)
            y2 = max(int(w[7]) + int(w[9]) for w in words)
            text = " ".join(w[11] for w in words)
            score = sum(float(w[10]) for w in words) / len(words) / 100
            out.append(Detection(Kind.TEXT, Box.from_xyxy(x1, y1, x2, y2), score, "tesseract",
                                 text=text))  # fmt: skip
        return out

    return detect


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
    entries: list[dict], lines: list[Detection], matcher: RosterNameMatcher, size: tuple[int, int]
) -> list[dict]:
    matches = matcher.match(lines)
    named = [d for d, m in zip(lines, matches, strict=True) if m.is_name]
    boxes, polys = box_mask(named, *size), polygon_mask(named, *size)
    every = box_mask(lines, *size)  # --text all: every OCR line redacted
    out = []
    for e in entries:
        truth = Box(*e["box"])
        seen = [d.text for d in lines if truth.intersection(d.box) > 0.3 * truth.area]
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
        "text_all_name_recall": rate(roster, lambda s: s["all_coverage"] >= COVER),
        "text_all_not_on_roster_recall": rate(visitors, lambda s: s["all_coverage"] >= COVER),
        "other_lines": len(others),
        "other_kept": rate(others, lambda s: s["coverage"] < KEEP),
        "other_kept_polygon": rate(others, lambda s: s["poly_coverage"] < KEEP),
        "other_kept_strict": rate(others, lambda s: s["coverage"] < KEEP_STRICT),
        "other_kept_polygon_strict": rate(others, lambda s: s["poly_coverage"] < KEEP_STRICT),
        "other_not_redacted": rate(others, lambda s: s["coverage"] < COVER),
        "missed": [s["text"] + " <- " + repr(s["ocr"]) for s in roster if s["coverage"] < COVER],
        "other_hit": [s["text"] for s in others if s["poly_coverage"] >= KEEP],
        "not_on_roster_missed": [s["text"] for s in visitors if s["coverage"] < COVER],
    }


def false_hits(matcher: RosterNameMatcher, threshold: float | None = None) -> dict[str, object]:
    phrases = [p.strip() for p in SCHOOL_PHRASES if p.strip()]
    hits = [p for p in phrases if matcher.match_text(p).is_name]
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


def run_engine(
    name: str, detect: Callable, truth: dict, images: list[str], cache: Path | None
) -> dict:
    if cache and cache.exists():
        return pickle.loads(cache.read_bytes())
    ocr: dict[str, list[Detection]] = {}
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    sizes: dict[str, tuple[int, int]] = {}
    for img in images:
        rgb = np.asarray(Image.open(DATA / "images" / img).convert("RGB"))
        t, c = time.perf_counter(), time.process_time()
        ocr[img] = detect(rgb)
        times[img] = time.perf_counter() - t
        cpu[img] = time.process_time() - c
        sizes[img] = (rgb.shape[1], rgb.shape[0])
        print(f"  {name} {img} {rgb.shape[1]}x{rgb.shape[0]}: {len(ocr[img])} lines, "
              f"{times[img]:.1f} s, {cpu[img]:.1f} s CPU", file=sys.stderr, flush=True)  # fmt: skip
    run = {"ocr": ocr, "times": times, "cpu": cpu, "sizes": sizes}
    if cache:
        cache.write_bytes(pickle.dumps(run))
    return run


def evaluate(run: dict, truth: dict, roster: list[Pupil], threshold: float) -> dict:
    matcher = RosterNameMatcher(roster, threshold)
    scored = []
    for img, lines in run["ocr"].items():
        scored += score_image(truth[img], lines, matcher, run["sizes"][img])
    return summarise(scored)


def time_12mp(detect: Callable) -> tuple[float, float]:
    """OCR wall and CPU seconds on nt_0000 resized to 3000x4000 (12 MP)."""
    img = Image.open(DATA / "images" / "nt_0000.jpg").convert("RGB").resize((3000, 4000))
    rgb = np.asarray(img)
    t, c = time.perf_counter(), time.process_time()
    detect(rgb)
    return time.perf_counter() - t, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=["rapidocr", "tesseract", "both"], default="both")
    ap.add_argument("--images", nargs="*")
    ap.add_argument("--tile", type=int)
    ap.add_argument("--overlap", type=int)
    ap.add_argument("--full-side", type=int)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--cache", type=Path, help="folder: reuse OCR output of an earlier run")
    args = ap.parse_args()

    truth = json.loads((DATA / "truth.json").read_text(encoding="utf-8"))
    roster = load_roster(DATA / "roster.csv")
    images = args.images or sorted(truth)
    extra = {k: v for k, v in {"ocr_tile": args.tile, "ocr_overlap": args.overlap,
                               "ocr_full_side": args.full_side}.items() if v is not None}  # fmt: skip
    engines: dict[str, Callable[[], Callable]] = {
        "rapidocr": lambda: rapidocr_engine(extra),
        "tesseract": tesseract_engine,
    }
    chosen = list(engines) if args.engine == "both" else [args.engine]
    results: dict[str, object] = {"threshold": DEFAULT_THRESHOLD, "redact_scale": REDACT_SCALE,
                                  "cover": COVER, "keep_below": KEEP, "keep_strict_below": KEEP_STRICT, "params": extra, "engines": {}}  # fmt: skip
    thresholds = [70, 75, 80, 82, 84, 86, 88, 90, 92, 95, 100]
    for name in chosen:
        cache = None
        if args.cache:
            args.cache.mkdir(parents=True, exist_ok=True)
            tag = "-".join(f"{k}{v}" for k, v in sorted(extra.items()))
            cache = args.cache / f"{name}-{tag}-{'-'.join(images)}.pickle"
        t = time.perf_counter()
        detect = engines[name]() if not (cache and cache.exists()) else None
        load = time.perf_counter() - t
        run = run_engine(name, detect, truth, images, cache)
        summary = evaluate(run, truth, roster, DEFAULT_THRESHOLD)
        sweep = {}
        for th in thresholds:
            s = evaluate(run, truth, roster, th)
            fh = false_hits(RosterNameMatcher(roster, th))
            keys = ("name_recall", "other_kept", "other_kept_polygon", "not_on_roster_recall")
            sweep[th] = {k: s[k] for k in keys}
            sweep[th]["phrase_false_hit_rate"] = round(fh["false_hit_rate"], 4)
        total_mp = sum(w * h for w, h in run["sizes"].values()) / 1e6
        summary.update({
            "load_seconds": round(load, 2),
            "seconds_total": round(sum(run["times"].values()), 1),
            "seconds_per_megapixel": round(sum(run["times"].values()) / total_mp, 2),
            "seconds_per_image": {k: round(v, 2) for k, v in run["times"].items()},
            "cpu_seconds_total": round(sum(run.get("cpu", {}).values()), 1),
            "load_average_1min": round(os.getloadavg()[0], 1),
            "threshold_sweep": sweep,
        })  # fmt: skip
        if not args.images and detect is not None:
            wall, cpu = time_12mp(detect)
            summary["seconds_12mp"], summary["cpu_seconds_12mp"] = round(wall, 1), round(cpu, 1)
        results["engines"][name] = summary  # type: ignore[index]
    results["phrase_false_hits"] = false_hits(RosterNameMatcher(roster))
    results["common_word_names"] = common_word_check(roster)

    print_table(results, verbose=args.verbose)
    if not args.no_write and not args.images:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
        print(f"wrote {RESULTS.relative_to(ROOT)}")


def print_table(results: dict, verbose: bool) -> None:
    print(f"\nthreshold {results['threshold']}, redact scale {REDACT_SCALE}, "
          f"params {results['params']}")  # fmt: skip
    print(f"{'engine':10} {'name rec':>9} {'(poly)':>7} {'other kept':>10} {'(poly)':>7} "
          f"{'not-roster':>10} {'s/img':>6} {'s/MP':>6} {'s@12MP':>7}")  # fmt: skip
    for name, s in results["engines"].items():
        per_img = s["seconds_total"] / len(s["seconds_per_image"])
        print(f"{name:10} {s['name_recall']:>9.1%} {s['name_recall_polygon']:>7.1%} "
              f"{s['other_kept']:>10.1%} {s['other_kept_polygon']:>7.1%} "
              f"{s['not_on_roster_recall']:>10.1%} {per_img:>6.1f} "
              f"{s['seconds_per_megapixel']:>6.2f} {s.get('seconds_12mp', float('nan')):>7.1f}")  # fmt: skip
    for name, s in results["engines"].items():
        print(f"{name}: --text all would redact {s['text_all_name_recall']:.1%} of roster name "
              f"lines and {s['text_all_not_on_roster_recall']:.1%} of not-on-roster name lines; "
              f"CPU {s['cpu_seconds_total']} s in all, {s.get('cpu_seconds_12mp')} s at 12 MP")  # fmt: skip
    for name, s in results["engines"].items():
        missed = s["missed"] if verbose else len(s["missed"])
        print(f"\n{name}: missed name lines ({len(s['missed'])}): {missed}")
        print(f"{name}: other lines redacted (polygon): {s['other_hit']}")
        print(f"{name} threshold sweep (name recall / other kept box, poly / phrase false hits):")
        for th, v in s["threshold_sweep"].items():
            print(f"  {th:>5}: {v['name_recall']:.1%} / {v['other_kept']:.1%}, "
                  f"{v['other_kept_polygon']:.1%} / {v['phrase_false_hit_rate']:.1%}")  # fmt: skip
    print(f"\nschool phrases matched as names: {results['phrase_false_hits']['false_hits']}")
    print(f"common-word names: {results['common_word_names']}")


if __name__ == "__main__":
    main()
