"""Crash safety of the watched folder: SIGKILL the watcher at random moments, restart, verify.

Drops >= 100 small photos (plus a few corrupt files) into a fresh ROOT/incoming, in loose files and
nested folders; starts the real watcher process (``anonymiser watch``), kills it with SIGKILL at a
random moment while it works, restarts it, and repeats; then lets a last run (``--once``) finish.
At the end it checks:

* every input has exactly one safe output (ready/ or review/) or exactly one failed record;
* no original is lost or altered (sha256 of every input is found in originals/ or failed/);
* no output is truncated (every output decodes fully, at the input's size);
* nothing is processed twice (journal: one completion per input; no duplicate outputs);
* no staging or temp file is left behind;
* with several workers (``watch --workers N``), no worker process outlives a killed watcher.

The whole test runs once per worker count (``--workers 1,2``: the watcher processing in its own
process, then two worker processes).

Usage::

    .venv/bin/python benchmarks/crash_safety.py [--photos 120] [--kills 6] [--seed 1] [--workers 1,2]

Results go to ``benchmarks/results/crash_safety.json`` (one entry per worker count in ``runs``;
``lost`` and ``processed_twice`` are what must stay 0).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FACES = REPO / "tests" / "data" / "faces"


def make_photos(n: int, rng: random.Random) -> list[bytes]:
    sources = [Image.open(p).convert("RGB") for p in sorted(FACES.glob("*.jpg"))]
    out: list[bytes] = []
    seen: set[str] = set()
    while len(out) < n:
        im = rng.choice(sources)
        size = rng.choice((96, 128, 160))
        x = rng.randrange(0, im.width - size)
        y = rng.randrange(0, im.height - size)
        crop = im.crop((x, y, x + size, y + size))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        buf = io.BytesIO()
        crop.save(buf, "JPEG", quality=rng.randrange(80, 95))
        data = buf.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(data)
    return out


def layout_names(n: int) -> list[str]:
    """Loose files and nested folders, with unicode, spaces and repeated names."""
    names = []
    for i in range(n):
        group = i % 4
        if group == 0:
            names.append(f"IMG_{i:04d}.jpg")
        elif group == 1:
            names.append(f"Sports Day/Class {i % 3}/photo {i // 12:03d}.jpg")
        elif group == 2:
            names.append(f"Trip – Année 5/naïve {i:04d} ☀.jpg")
        else:
            names.append(f"Trip – Année 5/Day {i % 2}/IMG 0001 ({i}).jpg")
    return names


def command() -> list[str]:
    script = Path(sys.executable).with_name("anonymiser")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from anonymiser.cli import main; main()"]


def journal(root: Path) -> list[dict[str, Any]]:
    con = sqlite3.connect(root / ".anonymiser" / "journal.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM files ORDER BY id")]
    finally:
        con.close()


def count_done(root: Path) -> int:
    try:
        return sum(1 for r in journal(root) if r["state"] in ("done", "failed"))
    except sqlite3.Error:
        return 0


def at_kill(root: Path) -> dict[str, int]:
    """What the journal says right after a kill (before the restart recovers)."""
    try:
        rows = journal(root)
    except sqlite3.Error:
        return {"mid_file": 0, "original_not_moved": 0}
    return {
        "mid_file": sum(1 for r in rows if r["state"] == "processing"),
        "original_not_moved": sum(
            1 for r in rows if r["state"] in ("done", "failed") and not r["finished"]
        ),
    }


def wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            return time.monotonic() - start
        if log.exists() and "watching" in log.read_text(errors="replace"):
            return time.monotonic() - start
        time.sleep(0.05)
    raise RuntimeError("watcher did not start")


def workers_alive(pids: list[int]) -> list[int]:
    import psutil

    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def run(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="crash-safety-"))
    root = work / "root"
    env = {**os.environ, "ANONYMISER_HOME": str(work / "home")}
    incoming = root / "incoming"
    incoming.mkdir(parents=True)
    inputs: dict[str, bytes] = {}
    for name, data in zip(layout_names(args.photos), make_photos(args.photos, rng), strict=True):
        inputs[name] = data
    for i in range(args.corrupt):
        inputs[f"Sports Day/corrupt {i}.jpg"] = make_photos(1, random.Random(i))[0][: 300 + 50 * i]
    for name, data in inputs.items():
        p = incoming / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in inputs.items()}
    print(f"{len(inputs)} inputs in {incoming}", file=sys.stderr)

    kills: list[dict[str, Any]] = []
    outlived = 0
    start_all = time.monotonic()
    n = 0
    while len(kills) < args.kills:
        log = work / f"run-{n}.log"
        mode = ["--poll", "0.3"] if n % 2 else []  # alternate events and polling
        with open(log, "wb") as err:
            proc = subprocess.Popen(
                [*command(), "watch", str(root), "--settle", "0.3", "--workers", str(workers),
                 *mode],
                stdout=subprocess.DEVNULL, stderr=err, env=env,
            )  # fmt: skip
        n += 1
        startup = wait_ready(proc, log)
        before = count_done(root)
        # a random moment: mostly while processing, sometimes during start-up or recovery
        delay = rng.uniform(0.0, 0.3) if rng.random() < 0.2 else rng.uniform(0.3, 3.0)
        time.sleep(delay)
        alive = proc.poll() is None
        kids = children(proc.pid)
        if alive:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        end = time.monotonic() + 10
        while workers_alive(kids) and time.monotonic() < end:
            time.sleep(0.05)
        left = workers_alive(kids)
        outlived += len(left)
        for pid in left:  # do not let them disturb the next run
            os.kill(pid, signal.SIGKILL)
        after = count_done(root)
        states = at_kill(root)
        kills.append(
            {
                "run": n,
                "startup_s": round(startup, 2),
                "killed_after_s": round(delay, 2),
                "completed_before": before,
                "completed_at_kill": after,
                "was_running": alive,
                "worker_processes": len(kids),
                **states,
            }
        )
        print(
            f"kill {len(kills)}: after {delay:.2f} s, {after}/{len(inputs)} done", file=sys.stderr
        )
        if after >= len(inputs):
            print("everything finished before all kills; add photos", file=sys.stderr)
            break
    log = work / "final.log"
    with open(log, "wb") as err:
        final = subprocess.run(
            [*command(), "watch", str(root), "--settle", "0.3", "--once", "--workers",
             str(workers)],
            stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=1800,
        )  # fmt: skip
    total = time.monotonic() - start_all
    result = verify(root, inputs, hashes)
    result.update(
        {
            "workers": workers,
            "workers_outliving_a_kill": outlived,
            "inputs": len(inputs),
            "photos": args.photos,
            "corrupt_inputs": args.corrupt,
            "kills": len(kills),
            "kills_before_all_done": sum(
                1 for k in kills if k["was_running"] and k["completed_at_kill"] < len(inputs)
            ),
            "kills_mid_file": sum(1 for k in kills if k["mid_file"]),
            "kills_before_original_moved": sum(1 for k in kills if k["original_not_moved"]),
            "restarts": len(kills) + 1,
            "final_exit_code": final.returncode,
            "total_seconds": round(total, 1),
            "kill_log": kills,
            "seed": args.seed,
            "workdir": str(work),
        }
    )
    return result


def verify(root: Path, inputs: dict[str, bytes], hashes: dict[str, str]) -> dict[str, Any]:
    rows = journal(root)
    by_rel: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_rel.setdefault(r["rel"], []).append(r)
    problems: list[str] = []
    lost: set[str] = set()  # inputs without their one output or failed record, or original
    done = failed = 0
    outputs_expected: set[str] = set()
    for name, digest in hashes.items():
        mine = [r for r in by_rel.get(name, []) if r["sha256"] == digest]
        if len(mine) != 1:
            problems.append(f"{name}: {len(mine)} journal rows")
            lost.add(name)
            continue
        r = mine[0]
        if r["completions"] != 1 or not r["finished"]:
            problems.append(f"{name}: completions={r['completions']} finished={r['finished']}")
        original = root / r["original"] if r["original"] else None
        if original is None or not original.is_file():
            problems.append(f"{name}: original missing ({r['original']})")
            lost.add(name)
        elif hashlib.sha256(original.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: original altered")
            lost.add(name)
        if r["state"] == "done":
            done += 1
            out = root / r["area"] / r["output"]
            outputs_expected.add(str(out))
            try:
                with Image.open(out) as im:
                    im.load()
                    size = im.size
                with Image.open(io.BytesIO(inputs[name])) as src:
                    want = src.size
                if size != want:
                    problems.append(f"{name}: output size {size} != {want}")
                    lost.add(name)
            except Exception as err:
                problems.append(f"{name}: output does not decode: {err}")
                lost.add(name)
        elif r["state"] == "failed":
            failed += 1
            if not (root / f"{r['original']}.txt").is_file():
                problems.append(f"{name}: failed without a reason file")
        else:
            problems.append(f"{name}: state {r['state']}")
            lost.add(name)
    extra_rows = len(rows) - len(hashes)
    if extra_rows:
        problems.append(f"{extra_rows} journal rows for no input")
    outputs_found = {
        str(p)
        for area in ("ready", "review")
        for p in (root / area).rglob("*")
        if p.is_file() and "reports" not in p.relative_to(root / area).parts[:1]
    }
    stray = sorted(outputs_found - outputs_expected)
    missing = sorted(outputs_expected - outputs_found)
    problems += [f"stray output: {s}" for s in stray] + [f"missing output: {m}" for m in missing]
    kept = [p for area in ("originals", "failed") for p in (root / area).rglob("*") if p.is_file()]
    kept_hashes = sorted(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in kept if p.suffix != ".txt"
    )
    if kept_hashes != sorted(hashes.values()):
        problems.append("originals/ + failed/ do not hold exactly the inputs")
    left = [p for p in (root / "incoming").rglob("*") if p.is_file()]
    work = list((root / ".anonymiser" / "work").iterdir())
    if left:
        problems.append(f"{len(left)} files left in incoming/")
    if work:
        problems.append(f"{len(work)} staged files left in .anonymiser/work")
    attempts = [r["attempts"] for r in rows]
    twice = sum(1 for r in rows if r["completions"] > 1)
    return {
        "ok": not problems,
        "lost": len(lost),
        "processed_twice": twice + len(stray),
        "problems": problems[:50],
        "done": done,
        "failed": failed,
        "outputs_on_disk": len(outputs_found),
        "duplicate_or_stray_outputs": len(stray),
        "originals_verified": len(kept_hashes),
        "processed_more_than_once_to_completion": sum(1 for r in rows if r["completions"] > 1),
        "redone_after_kill": sum(1 for a in attempts if a > 1),
        "max_attempts": max(attempts, default=0),
        "reports_written": len(list((root / "ready" / "reports").glob("*.json"))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--corrupt", type=int, default=3)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="worker counts to test, in turn")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "crash_safety.json")
    args = parser.parse_args()
    runs = []
    for w in args.workers.split(","):
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append(run(args, int(w)))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
        runs[-1]["cpu_s"] = round(spent, 1)  # workers of a killed watcher are not counted
    for r in runs:
        r["ok"] = r["ok"] and not r["workers_outliving_a_kill"]
    ok = all(r["ok"] for r in runs)
    result = {
        "ok": ok,
        "lost": sum(r["lost"] for r in runs),
        "processed_twice": sum(r["processed_twice"] for r in runs),
        "load_avg_before": os.getloadavg(),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    summary = [{k: v for k, v in r.items() if k not in ("kill_log", "problems")} for r in runs]
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    if any(r["problems"] for r in runs):
        problems = [f"workers={r['workers']}: {p}" for r in runs for p in r["problems"]]
        print("PROBLEMS:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
