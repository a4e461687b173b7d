"""Photos/s and 1080p video frames/s on a GPU (onnxruntime execution providers), and the outputs
compared with the CPU's.

    python benchmarks/gpu.py [--device cuda] [--photos 20] [--frames 120] [--compare 3]
    python benchmarks/gpu.py --quick        # smoke run anywhere: 2 small photos, 10 frames

Needs ``pip install -e '.[gpu,bench]'`` on a machine with an NVIDIA GPU (``--device cuda``);
everything it reads is in the repository (the throughput batch is generated from samples/ and
tests/data, the 1080p clip is tests/data/video's sample upscaled). Reported:

* 12 MP photos/s, faces only (``--text off``) and the full job (faces + names against a roster
  with a consent log), one process (``process_file`` one photo after another, models loaded
  first) and ``--workers`` processes sharing the GPU (``process_batch``); wall time is the figure
  here, CPU seconds are given too (the CPU parts: decode, encode, tiling, matching);
* 1080p video frames/s (every frame detected, ``video_detect_every = 1``);
* ``--compare N``: the regions of N photos on ``--device`` against ``--device cpu``: same count,
  boxes within 2 px, same actions (the "same outputs within tolerance" check).

Targets (issue 15): >= 20 photos/s at 12 MP and >= 60 frames/s at 1080p on one data-centre GPU.
Writes ``benchmarks/results/gpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput

from anonymiser import Anonymiser, ConsentLog, Settings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "gpu.json"


def _cpu() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def providers_used(anon: Anonymiser) -> dict[str, str]:
    """The provider each model session really runs on (first in its list)."""
    out = {"centerface": anon.face_detector._session.get_providers()[0]}  # type: ignore[attr-defined]
    text = anon.text_detector
    if text is not None:
        det = text._engine._load_det_model().session  # type: ignore[attr-defined]
        out["rapidocr"] = det._session.session.get_providers()[0]
    return out


def photos_per_second(
    photos: list[Path], settings: Settings, consent: ConsentLog | None, out: Path
) -> dict:
    anon = Anonymiser(settings, consent, threads=os.cpu_count())
    used = providers_used(anon)
    anon.process_file(photos[0], out / "warm-up.jpg")  # CUDA kernels and arenas set up
    start, cpu = time.perf_counter(), _cpu()
    for p in photos:
        r = anon.process_file(p, out / p.name)
        if r.status != "ok":
            raise SystemExit(f"{p}: {r.error}")
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    return {"photos": len(photos), "photos_per_s": round(len(photos) / wall, 3),
            "wall_s": round(wall, 2), "cpu_s_per_photo": round(cpu / len(photos), 3),
            "providers": used}  # fmt: skip


def batch_per_second(
    photos: list[Path], settings: Settings, consent: ConsentLog | None, out: Path
) -> dict:
    anon = Anonymiser(settings, consent)
    start = time.perf_counter()  # includes each worker loading its models
    result = anon.process_batch(photos, out)
    wall = time.perf_counter() - start
    bad = [r.error for r in result.images if r.status != "ok"]
    if bad:
        raise SystemExit(f"batch failed: {bad[:3]}")
    return {"photos": len(photos), "workers": settings.worker_count,
            "photos_per_s": round(len(photos) / wall, 3), "wall_s": round(wall, 2)}  # fmt: skip


def video_frames_per_second(settings: Settings, frames: int, work: Path) -> dict:
    import video

    clip = video.upscale(
        ROOT / "tests" / "data" / "video" / "short_hamilton_clip.mp4", work / "1080p.mp4", frames
    )
    anon = Anonymiser(settings.replace(text="off", media="video", video_detect_every=1))
    anon.process_file(clip, work / "warm-up.mp4")  # load models, set up CUDA
    start, cpu = time.perf_counter(), _cpu()
    r = anon.process_file(clip, work / "out.mp4")
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    if r.status != "ok":
        raise SystemExit(f"video: {r.error}")
    return {"frames": frames, "frames_per_s": round(frames / wall, 2), "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2)}  # fmt: skip


def compare(photos: list[Path], settings: Settings, consent: ConsentLog | None) -> dict:
    """Regions on ``settings.device`` against the CPU, photo by photo."""
    import numpy as np

    from anonymiser import media

    here = Anonymiser(settings, consent)
    cpu = Anonymiser(settings.replace(device="cpu"), consent)
    rows = []
    for p in photos:
        rgb = media.load_image(p, max_pixels=settings.max_pixels).rgb
        a, b = here.analyse(rgb)[0], cpu.analyse(rgb)[0]
        worst = 0.0
        same = len(a) == len(b)
        for ra, rb in zip(sorted(a, key=_key), sorted(b, key=_key), strict=False):
            d = np.abs(np.array(ra.box.as_list()) - np.array(rb.box.as_list())).max()
            worst = max(worst, float(d))
            same = same and ra.action == rb.action and ra.kind == rb.kind
        rows.append({"photo": p.name, "regions": [len(a), len(b)], "max_box_px": worst,
                     "same": same and worst <= 2})  # fmt: skip
    return {"photos": rows, "all_same": all(r["same"] for r in rows)}


def _key(r: object) -> tuple:
    return (r.kind, r.box.y, r.box.x)  # type: ignore[attr-defined]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cuda", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--photos", type=int, default=20, help="12 MP photos per run")
    ap.add_argument("--frames", type=int, default=120, help="1080p video frames")
    ap.add_argument("--compare", type=int, default=3, help="photos compared with the CPU")
    ap.add_argument("--workers", type=int, default=4, help="processes sharing the GPU")
    ap.add_argument("--quick", action="store_true", help="1600x1200 photos, 2 of them, 10 frames")
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "anonymiser-bench"
    )
    args = ap.parse_args()
    info = throughput.machine()
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
        info["providers_available"] = onnxruntime.get_available_providers()
    except ImportError:
        pass
    print(f"machine: {info}", file=sys.stderr, flush=True)
    size = "quick" if args.quick else "12mp"
    if args.quick:
        args.photos, args.frames, args.workers = 2, 10, 2
    folder = throughput.make_batch(args.workdir, {size: args.photos})[size]
    photos = sorted(folder.glob("*.jpg"))
    # samples/consent.csv is for 2025/26: its roster makes the full job read every photo's text.
    consent = ConsentLog.load(ROOT / "samples" / "consent.csv")
    base = Settings(device=args.device, store=args.workdir / "no-store.sqlite",
                    on_date=date(2026, 3, 2), quiet=True)  # fmt: skip
    rows: dict[str, object] = {"machine": info, "device": args.device, "photo_size": size}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        for name, settings, log in (
            ("faces only, 1 process", base.replace(text="off"), None),
            ("full job, 1 process", base, consent),
        ):
            (work / name).mkdir()
            rows[name] = photos_per_second(photos, settings, log, work / name)
            print(name, rows[name], file=sys.stderr, flush=True)
        for name, settings, log in (
            (f"faces only, {args.workers} workers", base.replace(text="off"), None),
            (f"full job, {args.workers} workers", base, consent),
        ):
            rows[name] = batch_per_second(
                photos, settings.replace(workers=args.workers), log, work / name
            )
            print(name, rows[name], file=sys.stderr, flush=True)
        rows["video 1080p"] = video_frames_per_second(base, args.frames, work)
        print("video 1080p", rows["video 1080p"], file=sys.stderr, flush=True)
        if args.compare and args.device != "cpu":
            rows["same as cpu"] = compare(photos[: args.compare], base, consent)
            print("same as cpu", rows["same as cpu"], file=sys.stderr, flush=True)
    print(f"| run ({args.device}) | photos/s or frames/s | wall s | CPU s per photo |")
    print("|---|---|---|---|")
    for name, r in rows.items():
        if isinstance(r, dict) and ("photos_per_s" in r or "frames_per_s" in r):
            rate = r.get("photos_per_s", r.get("frames_per_s"))
            print(f"| {name} | {rate} | {r['wall_s']} | {r.get('cpu_s_per_photo', '')} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
