"""What a CPU budget per 12 MP photo buys in recall: the finest detection pass capped.

    python benchmarks/resolution_budget.py [--data ../shared/data] [--caps 1280,2048,2730,4096]
    python benchmarks/resolution_budget.py --text [--configs tiles,presence,none] [--every 1]

``--text``: the same question for names in text. Each photo of ``name_text`` and
``name_text_b`` larger than the whole-image pass (the only ones that get native-resolution
passes; smaller ones are read identically by every configuration) is read by the OCR detector
under each configuration in ``TEXT_CONFIGS`` (one thread), and scored like ``names.py``: roster
name lines redacted (``--text names``), every name line (also of people not on the roster) and
every line covered by some OCR line (what ``--text all`` would redact), other lines kept; CPU s
per megapixel. OCR output is cached per configuration and photo under ``benchmarks/out/``, so a
rerun only reads what is missing. ``--every N`` reads every N-th big photo of ``name_text_b``
(the all-tiles configuration costs ~1.3 CPU s per megapixel). Writes
``results/resolution_budget_text.json``.

A what-if, not a shipped setting: the detector's finest pass (native resolution for camera
photos) is replaced by one at long side ``cap`` (coarser passes and the edge-face passes as
usual), and the 12 MP mosaics of ``accuracy.py`` (dev faces pasted at native size and 2x into
4096x3072 frames) are run through it, one thread. Reported per cap: CPU seconds per frame and
faces found. It shows what the issue's ">= 0.33x the decode+encode floor" target (about
0.35 CPU s of detection per 12 MP photo here) would cost. Writes results/resolution_budget.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy

import anonymiser.detect.faces as faces
from anonymiser.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results" / "resolution_budget.json"
TEXT_RESULTS = RESULTS.with_name("resolution_budget_text.json")
TEXT_CACHE = Path(__file__).resolve().parent / "out" / "text_budget"
# name -> RapidOcrDetector settings.extra (the shipped defaults where not given).
TEXT_CONFIGS: dict[str, dict[str, float]] = {
    "none": {"ocr_tile": 0},  # the whole-image pass only (long side 2000)
    "tiles": {"ocr_presence": 0},  # + every native 2048 px tile (before)
    "presence": {},  # + native windows where the whole-image pass saw text (shipped)
    # the same with that pass at long side 1280 for these large photos, windows at most 1280
    "presence-1280": {"ocr_large_side": 1280},
}
PLAN = faces.plan_passes  # the shipped plan, before any cap is patched in


def capped_plan(cap: int) -> Callable[..., list]:
    """``faces.plan_passes`` with the finest pass at long side ``cap`` (never upscaled)."""

    def capped(width: int, height: int, sizes: Sequence[int], tile: int, mirror: bool = True):
        long_side = max(width, height)
        fine = min(1.0, cap / long_side)
        passes = [p for p in PLAN(width, height, sizes, tile, mirror) if p.scale * 2 <= fine]
        passes.append(faces._Pass(fine, tile if long_side * fine > tile * 1.25 else 0))
        return passes

    return capped


def text_budget(data: Path, configs: list[str], every: int, sets: list[str]) -> int:
    """Name-line recall and CPU per configuration of the text detector's native passes."""
    import names
    from PIL import Image

    from anonymiser.detect.text import FULL_SIDE, RapidOcrDetector
    from anonymiser.identify.names import DEFAULT_THRESHOLD, RosterNameMatcher
    from anonymiser.results import Box, Detection, Kind

    photos = []
    for dataset in sets:
        truth = json.loads((data / dataset / "truth.json").read_text(encoding="utf-8"))
        big = [i for i in sorted(truth)
               if max(Image.open(data / dataset / "images" / i).size) > FULL_SIDE]  # fmt: skip
        photos += [
            (dataset, i, truth[i]) for i in (big if dataset == "name_text" else big[::every])
        ]
    rows = {}
    for name in configs:
        extra = {**TEXT_CONFIGS[name], "ocr_threads": 1}
        detector = None
        scored, cpu, mpx = [], 0.0, 0.0
        for dataset, image, entries in photos:
            cache = TEXT_CACHE / name / dataset / f"{image}.json"
            if not cache.exists():
                detector = detector or RapidOcrDetector(Settings(extra=extra))
                rgb = np.asarray(Image.open(data / dataset / "images" / image).convert("RGB"))
                start = time.process_time()
                lines = detector.detect(rgb)
                record = {"cpu": time.process_time() - start, "size": [rgb.shape[1], rgb.shape[0]],
                          "lines": [{"text": d.text, "score": d.score, "box": d.box.as_list(),
                                     "polygon": d.polygon} for d in lines]}  # fmt: skip
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_text(json.dumps(record), encoding="utf-8")
                print(f"{name} {dataset}/{image}: {len(lines)} lines, {record['cpu']:.1f} CPU s",
                      file=sys.stderr, flush=True)  # fmt: skip
            record = json.loads(cache.read_text(encoding="utf-8"))
            lines = [Detection(Kind.TEXT, Box(*d["box"]), d["score"], "rapidocr",
                               polygon=tuple(map(tuple, d["polygon"])), text=d["text"])
                     for d in record["lines"]]  # fmt: skip
            roster = names.load_roster(data / dataset / "roster.csv")
            matcher = RosterNameMatcher(roster, DEFAULT_THRESHOLD)
            for s in names.score_image(entries, lines, matcher, tuple(record["size"])):
                scored.append({**s, "photo": f"{dataset}/{image}"})
            cpu += record["cpu"]
            mpx += record["size"][0] * record["size"][1] / 1e6
        summary = names.summarise(scored)
        every_line = [s for s in scored]
        summary["lines"] = len(every_line)
        summary["lines_read"] = round(
            sum(s["all_coverage"] >= names.COVER for s in every_line) / len(every_line), 4
        )
        summary["lines_not_read"] = [f"{s['photo']}: {s['text']}" for s in every_line
                                     if s["all_coverage"] < names.COVER]  # fmt: skip
        summary["photos"], summary["megapixels"] = len(photos), round(mpx, 1)
        summary["cpu_s_per_mpx"] = round(cpu / mpx, 3)
        summary["cpu_s_per_12mp"] = round(12 * cpu / mpx, 2)
        rows[name] = summary
    print(f"{len(photos)} photos larger than {FULL_SIDE} px "
          f"({sum(p[0] == 'name_text' for p in photos)} name_text, rest name_text_b)")  # fmt: skip
    print("| configuration | roster name lines redacted | every name line read | every line read "
          "| other kept | CPU s / Mpx | CPU s / 12 MP |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        roster_n = r["name_lines"]
        every = roster_n + r["not_on_roster_lines"]
        read = round(r["text_all_name_recall"] * roster_n
                     + r["text_all_not_on_roster_recall"] * r["not_on_roster_lines"])  # fmt: skip
        print(f"| {name} | {r['name_recall']:.1%} of {roster_n} | {read}/{every} | "
              f"{r['lines_read']:.1%} of {r['lines']} | {r['other_kept']:.1%} | "
              f"{r['cpu_s_per_mpx']:.2f} | {r['cpu_s_per_12mp']:.1f} |")  # fmt: skip
    TEXT_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    TEXT_RESULTS.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=accuracy.DEFAULT_DATA)
    ap.add_argument("--caps", default="1280,2048,2730,4096")
    ap.add_argument("--text", action="store_true", help="the text detector's budget instead")
    ap.add_argument("--configs", default=",".join(TEXT_CONFIGS))
    ap.add_argument("--every", type=int, default=1, help="every N-th big name_text_b photo")
    ap.add_argument("--sets", default="name_text,name_text_b")
    args = ap.parse_args()
    if args.text:
        return text_budget(args.data, args.configs.split(","), args.every, args.sets.split(","))
    if not (args.data / "face_detection").is_dir():
        print(f"{args.data}: no face_detection data", file=sys.stderr)
        return 0
    s = Settings()
    detector = faces.CenterFaceDetector(s.detect_sizes, s.tile_size, threads=1)
    rows = {}
    try:
        for cap in (int(c) for c in args.caps.split(",")):
            faces.plan_passes = capped_plan(cap)  # type: ignore[assignment]
            cpu: list[float] = []

            def detect(rgb: np.ndarray, cpu: list[float] = cpu) -> list[list[float]]:
                start = time.process_time()
                found = detector.detect(rgb, s.face_threshold)
                cpu.append(time.process_time() - start)
                return [[*d.box.as_list(), d.score] for d in found]

            r = accuracy.eval_mosaics(detect, args.data)
            rows[cap] = {k: v for k, v in r.items() if k.endswith("_counts")}
            rows[cap]["cpu_s_per_frame"] = sum(cpu) / len(cpu)
    finally:
        faces.plan_passes = PLAN
    print("| finest pass, long side | CPU s / 12 MP frame | WIDER hard, native size | "
          "WIDER hard, 2x | dlib, native |")  # fmt: skip
    print("|---|---|---|---|---|")
    for cap, r in rows.items():
        n, d2, dl = (r[f"mosaic_{k}_counts"] for k in ("native_wider_hard", "2x_wider_hard",
                                                        "native_dlib"))  # fmt: skip
        print(f"| {cap} | {r['cpu_s_per_frame']:.2f} | {n[0]}/{n[1]} | {d2[0]}/{d2[1]} | "
              f"{dl[0]}/{dl[1]} |")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
