"""Kill the watcher (SIGKILL) while two workers are busy, restart it, and again: 0 files lost,
0 processed twice; the workers die with it (fake engines, tests/watch_fakes.py)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.watch_fakes import CALLS, DELAY, calls

REPO = Path(__file__).resolve().parents[2]


def start(root: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-c", "from tests.watch_fakes import main; main()", str(root), "2",
             *args],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


def journal(root: Path) -> list[tuple[str, str, str, int, int, int]]:
    con = sqlite3.connect(root / ".anonymiser" / "journal.sqlite")
    try:
        return con.execute(
            "SELECT rel, sha256, state, attempts, completions, finished FROM files"
        ).fetchall()
    finally:
        con.close()


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with it on Linux")
def test_kill_and_restart_with_two_workers_loses_nothing_and_does_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CALLS, str(tmp_path / "calls.txt"))
    monkeypatch.setenv(DELAY, "0.1")
    root = tmp_path / "root"
    inputs = {}
    for i in range(30):
        rel = f"IMG {i:02d}.jpg" if i % 3 == 0 else f"Day {i % 2}/Class {i % 3}/IMG {i:02d}.jpg"
        inputs[rel] = f"photo {i}".encode()
        if i == 7:
            inputs[rel] = b"CORRUPT"
        p = root / "incoming" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(inputs[rel])
    rng = random.Random(3)
    log = tmp_path / "watch.log"
    mid_file = 0
    for _ in range(3):
        proc = start(root, log)
        end = time.monotonic() + 60
        while "watching" not in log.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < end, log.read_text()
            time.sleep(0.05)
        time.sleep(rng.uniform(0.3, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        mid_file += any(state == "processing" for _, _, state, *_ in journal(root))
        workers = {pid for pid, _ in calls(tmp_path / "calls.txt")}
        end = time.monotonic() + 10
        while any(alive(pid) for pid in workers):  # they die with the watcher
            assert time.monotonic() < end, "a worker outlived the watcher"
            time.sleep(0.05)
    assert mid_file  # at least one kill caught files in progress
    final = start(root, log, "--once")
    assert final.wait(timeout=120) == 1  # one file failed (the corrupt one)
    rows = journal(root)
    assert sorted(r[0] for r in rows) == sorted(inputs)  # one row per input
    for rel, sha, state, _attempts, completions, finished in rows:
        assert sha == hashlib.sha256(inputs[rel]).hexdigest()
        assert (completions, finished) == (1, 1), rel  # done once
        assert state == ("failed" if inputs[rel] == b"CORRUPT" else "done")
    assert any(attempts > 1 for *_, attempts, _, _ in rows)  # a file killed mid-way was redone
    ready = root / "ready"
    outputs = sorted(
        p.relative_to(ready).as_posix()
        for p in ready.rglob("*")
        if p.is_file() and p.relative_to(ready).parts[0] != "reports"
    )
    good = sorted(rel for rel, data in inputs.items() if data != b"CORRUPT")
    assert outputs == good  # no output lost, none duplicated
    for rel in good:
        assert (ready / rel).read_bytes() == b"SAFE:none:" + inputs[rel]
    kept = sorted(
        hashlib.sha256(p.read_bytes()).hexdigest()
        for area in ("originals", "failed")
        for p in (root / area).rglob("*")
        if p.is_file() and p.suffix != ".txt"
    )
    assert kept == sorted(hashlib.sha256(d).hexdigest() for d in inputs.values())
    assert not list((root / "incoming").rglob("*.jpg"))
    assert not os.listdir(root / ".anonymiser" / "work")
