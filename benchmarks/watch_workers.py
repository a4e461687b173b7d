"""Photos per hour of the real watcher (``anonymiser watch --once``) with 1 and 2 workers.

The same 12 MP camera-like photos (``throughput.make_batch``: made from samples/ and tests/data
photos, with EXIF and XMP) are dropped into a fresh ``ROOT/incoming`` for each run; the watcher
process is started with ``--once --settle 0 --workers N`` and runs until ``incoming/`` is empty.

Reported per run: start-up (until the log says "watching": the models loaded in every worker),
processing wall seconds (from then to the exit), photos per hour over the processing time, CPU
seconds of the whole process tree (user+sys, workers included), peak RSS (summed over the tree,
sampled with psutil) and the load average before and after. The machine may be shared: the wall
ratio is only meaningful when nothing else runs, so the load average is recorded with it, and
the CPU seconds per photo (robust to load) say whether the workers cost more CPU.

Usage (about 5 minutes on 2 idle cores with the defaults)::

    nice -n 10 .venv/bin/python benchmarks/watch_workers.py [--photos 12] [--workers 1,2]
        [--text off|names|all] [--rounds 1]

``--text names`` runs the default job (a consent log from ``../shared/data/name_text_b``'s
roster, names read in every photo): about 7x the CPU of ``--text off``. ``--rounds 2`` runs the
worker counts twice, in the order 1,2 then 2,1, against drifting load. Writes
``benchmarks/results/watch_workers.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from throughput import consent_csv, machine, make_batch  # noqa: E402


def command() -> list[str]:
    # this checkout's code, whatever the installed script points at
    return [sys.executable, "-c", "from anonymiser.cli import main; main()"]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_run(photos: list[Path], workers: int, text: str, consent: Path | None) -> dict[str, Any]:
    import psutil

    work = Path(tempfile.mkdtemp(prefix="watch-workers-"))
    try:
        root = work / "root"
        incoming = root / "incoming"
        incoming.mkdir(parents=True)
        for p in photos:
            shutil.copy(p, incoming / p.name)
        env = {
            **os.environ,
            "ANONYMISER_HOME": str(work / "home"),
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        log = work / "watch.log"
        cmd = [*command(), "watch", str(root), "--once", "--settle", "0", "--poll", "0.2",
               "--workers", str(workers), "--text", text]  # fmt: skip
        if consent is not None:
            cmd += ["--consent", str(consent)]
        load_before = os.getloadavg()
        cpu_before = children_cpu()
        start = time.monotonic()
        with open(log, "wb") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=work)
        tree = psutil.Process(proc.pid)
        ready: float | None = None
        peak = 0
        while proc.poll() is None:
            if ready is None and "watching" in log.read_text(errors="replace"):
                ready = time.monotonic()
            total = 0
            try:
                members = [tree, *tree.children(recursive=True)]
            except psutil.NoSuchProcess:
                members = []
            for m in members:
                with contextlib.suppress(psutil.Error):
                    total += m.memory_info().rss
            peak = max(peak, total)
            time.sleep(0.05)
        end = time.monotonic()
        cpu = children_cpu() - cpu_before
        load_after = os.getloadavg()
        text_log = log.read_text(errors="replace")
        done = text_log.count(": done -> ")
        if proc.returncode != 0 or done != len(photos):
            tail = " | ".join(text_log.strip().splitlines()[-3:])
            raise SystemExit(f"workers={workers}: exit {proc.returncode}, {done} done: {tail}")
        ready = ready or start
        processing = end - ready
        return {
            "workers": workers,
            "photos": len(photos),
            "startup_s": round(ready - start, 1),
            "processing_wall_s": round(processing, 1),
            "total_wall_s": round(end - start, 1),
            "photos_per_hour": round(len(photos) / processing * 3600),
            "cpu_s": round(cpu, 1),
            "cpu_s_per_photo": round(cpu / len(photos), 2),
            "peak_rss_total_mb": round(peak / 2**20),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in load_after],
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=12, help="number of 12 MP photos")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--text", default="off", choices=("off", "names", "all"))
    ap.add_argument("--rounds", type=int, default=1, help="repeat, alternating the order")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "anonymiser-bench"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results" / "watch_workers.json")
    args = ap.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    folder = make_batch(args.workdir, {"12mp": args.photos})["12mp"]
    photos = sorted(folder.glob("*.jpg"))
    consent = None
    if args.text == "names":
        consent = consent_csv(args.data, args.workdir / "watch-consent.csv")
    info = machine()
    print(f"machine: {info}", file=sys.stderr)
    runs = []
    for r in range(args.rounds):
        for workers in counts if r % 2 == 0 else counts[::-1]:
            print(f"round {r + 1}: {workers} worker(s) ...", file=sys.stderr)
            run = one_run(photos, workers, args.text, consent)
            print(json.dumps(run), file=sys.stderr)
            runs.append(run)
    summary: dict[str, Any] = {}
    for workers in counts:
        mine = [r for r in runs if r["workers"] == workers]
        summary[str(workers)] = {
            "photos_per_hour": round(sum(r["photos_per_hour"] for r in mine) / len(mine)),
            "cpu_s_per_photo": round(sum(r["cpu_s_per_photo"] for r in mine) / len(mine), 2),
        }
    base = summary[str(counts[0])]["photos_per_hour"]
    for workers in counts:
        summary[str(workers)]["vs_first"] = round(
            summary[str(workers)]["photos_per_hour"] / base, 2
        )
    result = {"machine": info, "text": args.text, "photo_size": "12 MP", "summary": summary,
              "runs": runs}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| workers | photos/hour | vs 1 worker | CPU s/photo | start-up s | peak RSS MB | load |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        s = summary[str(run["workers"])]
        print(
            f"| {run['workers']} | {run['photos_per_hour']} | {s['vs_first']} "
            f"| {run['cpu_s_per_photo']} | {run['startup_s']} | {run['peak_rss_total_mb']} "
            f"| {run['load_avg_before'][0]} -> {run['load_avg_after'][0]} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
