"""Per-image cache of the OCR text lines, so name matching and decisions can be re-scored cheaply.

OCR is the expensive part (a 12 MP photo costs 15–30 CPU s); matching and the decision rules
cost milliseconds. ``lines(set, image)`` returns the detector's lines for one photo, read from
``benchmarks/out/ocr/<set>/<params>/<image>.json`` when a run with the same detector parameters
already made them. The cache holds only what the detector returned (text, score, polygon) and
the CPU seconds it took; it is git-ignored and never leaves the machine.

Fill it in the background (two processes, one OCR thread each)::

    nice -n 10 .venv/bin/python benchmarks/ocr_cache.py --set name_text_b --part 0/2 &
    nice -n 10 .venv/bin/python benchmarks/ocr_cache.py --set name_text_b --part 1/2 &
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anonymiser.results import Box, Detection, Kind  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "benchmarks" / "out" / "ocr"


def tag(params: dict[str, Any]) -> str:
    """Folder name for one set of detector parameters (``default`` for the shipped ones)."""
    return "-".join(f"{k}{v}" for k, v in sorted(params.items())) or "default"


def cache_path(dataset: str, image: str, params: dict[str, Any]) -> Path:
    return CACHE / dataset / tag(params) / (image + ".json")


def to_json(lines: list[Detection], cpu: float, size: tuple[int, int]) -> dict[str, Any]:
    return {
        "cpu": cpu,
        "size": list(size),
        "lines": [
            {"text": d.text, "score": d.score, "box": d.box.as_list(),
             "polygon": [list(p) for p in d.polygon], "source": d.source,
             "alternatives": list(d.alternatives)}
            for d in lines
        ],
    }  # fmt: skip


def from_json(data: dict[str, Any], key: str = "lines") -> list[Detection]:
    """The cached lines: ``lines`` (first reading) or ``reread`` (what ``detect`` returns)."""
    return [
        Detection(Kind.TEXT, Box(*d["box"]), float(d["score"]), d["source"],
                  polygon=tuple((float(x), float(y)) for x, y in d["polygon"]), text=d["text"],
                  alternatives=tuple(d.get("alternatives", ())))
        for d in data[key if key in data else "lines"]
    ]  # fmt: skip


def load_rgb(dataset: str, image: str) -> np.ndarray:
    return np.asarray(Image.open(DATA / dataset / "images" / image).convert("RGB"))


def cached(dataset: str, image: str, params: dict[str, Any]) -> dict[str, Any] | None:
    path = cache_path(dataset, image, params)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def fill(dataset: str, images: list[str], params: dict[str, Any], threads: int) -> None:
    from anonymiser.detect.text import RapidOcrDetector
    from anonymiser.settings import OcrSettings, Settings

    todo = [i for i in images if cached(dataset, i, params) is None]
    if not todo:
        return
    # Cache tags keep ocr_ keys; "v" is the cache's own version, no detector setting.
    fields = {k.removeprefix("ocr_"): v for k, v in params.items() if k != "v"}
    detector = RapidOcrDetector(Settings(ocr=OcrSettings(**fields, threads=threads)))
    for image in todo:
        rgb = load_rgb(dataset, image)
        c = time.process_time()
        lines = detector.detect_lines(rgb)
        cpu = time.process_time() - c
        size = (rgb.shape[1], rgb.shape[0])
        data = to_json(lines, cpu, size)
        if params.get("v", 1) >= 2:  # also the re-read lines (what detect() returns)
            c = time.process_time()
            final = detector.reread(rgb, lines)
            data["reread_cpu"] = time.process_time() - c
            data["reread"] = to_json(final, 0.0, size)["lines"]
        path = cache_path(dataset, image, params)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), "utf-8")
        tmp.replace(path)
        print(f"{dataset}/{image} {size[0]}x{size[1]}: {len(lines)} lines, "
              f"{cpu:.1f} CPU s, re-read {data.get('reread_cpu', 0):.2f} s",
              file=sys.stderr, flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="dataset", default="name_text_b")
    ap.add_argument("--part", default="0/1", help="k/n: every n-th image from the k-th")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--version", type=int, default=2, help="1: first readings only")
    ap.add_argument(
        "--ocr",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="an OcrSettings field other than the shipped one (own cache folder)",
    )
    args = ap.parse_args()
    k, n = (int(v) for v in args.part.split("/"))
    images = sorted(json.loads((DATA / args.dataset / "truth.json").read_text("utf-8")))
    # Smallest photos first, so a partly filled cache already covers many photos.
    pixels = {i: Image.open(DATA / args.dataset / "images" / i).size for i in images}
    images.sort(key=lambda i: (pixels[i][0] * pixels[i][1], i))
    fill(args.dataset, images[k::n], params(args.version, args.ocr), args.threads)


def params(version: int = 2, ocr: list[str] | None = None) -> dict[str, Any]:
    """Cache parameters: version 1 holds first readings, version 2 also the re-read lines;
    ``ocr``: ``FIELD=VALUE`` OcrSettings fields that differ from the shipped ones."""
    out: dict[str, Any] = {} if version == 1 else {"v": version}
    for item in ocr or ():
        field, _, value = item.partition("=")
        out["ocr_" + field] = float(value) if "." in value else int(value)
    return out


if __name__ == "__main__":
    main()
