"""The watcher with several worker processes (fake engines from tests/watch_fakes.py, no
models): every file exactly once, files at the same time, a dying worker fails only its file,
consent changes reach every worker, a stop finishes the files in progress."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from anonymiser import Settings
from anonymiser.settings import available_cores
from anonymiser.watch import Watcher, WatchOptions, format_status, status
from anonymiser.watch.workers import ProcessPool
from tests.watch_fakes import CALLS, FakeEngine, FakeLog, calls, drop
from tests.watch_fakes import journal_rows as rows


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "calls.txt"
    monkeypatch.setenv(CALLS, str(path))  # the workers inherit it when spawned
    return path


def watcher(root: Path, workers: int = 2, **kw: Any) -> Watcher:
    settings = kw.pop("settings", Settings()).replace(workers=workers)
    w = Watcher(WatchOptions(root, settings, settle=0.0, **kw), factory=FakeEngine)
    w.start()
    return w


def until_idle(w: Watcher) -> None:
    """Cycle until nothing is settling or in progress."""
    for _ in range(500):
        if not w.cycle() and not w._flight:
            return
        w._complete(w._collect(0.5))
    raise AssertionError("the watcher never went idle")


def outputs(root: Path) -> list[str]:
    ready = root / "ready"
    return sorted(
        p.relative_to(ready).as_posix()
        for p in ready.rglob("*")
        if p.is_file() and p.relative_to(ready).parts[0] != "reports"
    )


def test_default_is_one_worker_per_core() -> None:
    assert Settings().worker_count == available_cores()
    assert Settings(workers=2, threads=0).worker_threads(2) == max(1, available_cores() // 2)
    assert Settings(threads=3).worker_threads(2) == 3


def test_two_workers_process_every_file_exactly_once_and_at_the_same_time(
    tmp_path: Path, log: Path
) -> None:
    root = tmp_path / "root"
    w = watcher(root)
    assert isinstance(w._pool, ProcessPool) and len(set(w._pool.pids)) == 2
    drop(root, "a.jpg", b"WAIT:b.jpg")  # done only if b.jpg is started while a.jpg is held
    drop(root, "b.jpg", b"WAIT:a.jpg")
    names = [f"Day {i % 3}/IMG {i:02d}.jpg" for i in range(10)]
    for i, name in enumerate(names):
        drop(root, name, f"photo {i}".encode())
    until_idle(w)
    info = status(root)
    assert info["workers"] == 2 and "2 worker(s)" in "\n".join(format_status(info))
    w.close()
    expected = sorted(["a.jpg", "b.jpg", *names])
    assert outputs(root) == expected
    assert (root / "ready" / "a.jpg").read_bytes() == b"SAFE:none:WAIT:b.jpg"
    assert not list((root / "failed").rglob("*"))
    assert set(rows(root).values()) == {("done", 1, 1)}
    made = calls(log)
    assert sorted(Path(src).relative_to(root / "incoming").as_posix() for _, src in made) == (
        expected
    )  # one call per file
    assert len({pid for pid, _ in made}) == 2  # both workers worked
    originals = sorted(p.relative_to(root / "originals").as_posix()
                       for p in (root / "originals").rglob("*") if p.is_file())  # fmt: skip
    assert originals == expected
    assert not list((root / ".anonymiser" / "work").iterdir())
    assert len(list((root / "ready" / "reports").glob("*.json"))) == 4  # 3 folders + loose


def test_a_dying_worker_fails_only_its_file_and_the_rest_go_on(tmp_path: Path, log: Path) -> None:
    root = tmp_path / "root"
    w = watcher(root)
    assert isinstance(w._pool, ProcessPool)
    first = set(w._pool.pids)
    drop(root, "Trip/crash.jpg", b"CRASH")  # killed as the out-of-memory killer would
    for i in range(6):
        drop(root, f"Trip/IMG {i}.jpg", f"photo {i}".encode())
    drop(root, "Trip/bug.jpg", b"RAISE")  # process_file raising: left for a redo
    until_idle(w)
    assert len(set(w._pool.pids)) == 2 and set(w._pool.pids) != first  # a new worker
    w.close()
    assert outputs(root) == [f"Trip/IMG {i}.jpg" for i in range(6)]
    reason = (root / "failed" / "Trip" / "crash.jpg.txt").read_text()
    assert "NOT made safe" in reason and "worker process died" in reason
    assert "SIGKILL" in reason
    assert (root / "failed" / "Trip" / "crash.jpg").read_bytes() == b"CRASH"
    assert (root / "incoming" / "Trip" / "bug.jpg").exists()  # stays, tried again later
    journal = rows(root)
    assert journal.pop("Trip/crash.jpg") == ("failed", 1, 1)
    state, attempts, done = journal.pop("Trip/bug.jpg")
    assert (state, done) == ("processing", 0)
    assert set(journal.values()) == {("done", 1, 1)}
    made = [Path(src).name for _, src in calls(log)]
    assert len(made) == 7 + attempts and made.count("crash.jpg") == 1


def test_consent_changes_reach_every_worker(
    tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anonymiser.consent

    def load(path: Path, on_date: Any = None) -> FakeLog:
        return FakeLog(Path(path).read_text())

    monkeypatch.setattr(anonymiser.consent.ConsentLog, "load", staticmethod(load))
    consent = tmp_path / "consent.csv"
    consent.write_text("v1")
    root = tmp_path / "root"
    w = watcher(root, consent_path=consent)
    for i in range(4):
        drop(root, f"one/{i}.jpg", b"x%d" % i)
    until_idle(w)
    consent.write_text("v2")  # a withdrawal: from the next file on, in every worker
    for i in range(4):
        drop(root, f"two/{i}.jpg", b"y%d" % i)
    until_idle(w)
    w.close()
    for i in range(4):
        assert (root / "ready" / "one" / f"{i}.jpg").read_bytes().startswith(b"SAFE:v1:")
        assert (root / "ready" / "two" / f"{i}.jpg").read_bytes().startswith(b"SAFE:v2:")
    assert len({pid for pid, src in calls(log) if "/two/" in src}) == 2
    con = sqlite3.connect(root / ".anonymiser" / "journal.sqlite")
    records = dict(con.execute("SELECT rel, record FROM files").fetchall())
    con.close()
    judged = {rel: json.dumps(json.loads(rec)["result"]) for rel, rec in records.items()}
    assert all('"v2"' in judged[f"two/{i}.jpg"] for i in range(4))  # the log each was judged by
    assert all('"v1"' in judged[f"one/{i}.jpg"] for i in range(4))


def test_once_finishes_every_file_in_progress(tmp_path: Path, log: Path) -> None:
    root = tmp_path / "root"
    for i in range(8):
        drop(root, f"IMG {i}.jpg", f"photo {i}".encode())
    w = Watcher(
        WatchOptions(root, Settings(workers=2), settle=0.0, poll=0.1, once=True),
        factory=FakeEngine,
    )
    assert w.run() == 0
    assert outputs(root) == [f"IMG {i}.jpg" for i in range(8)]
    assert set(rows(root).values()) == {("done", 1, 1)}
    assert not list((root / "incoming").rglob("*.jpg"))


def test_stop_waits_for_the_files_in_progress(tmp_path: Path, log: Path) -> None:
    root = tmp_path / "root"
    w = watcher(root)
    drop(root, "a.jpg", b"GATE:open")
    drop(root, "b.jpg", b"GATE:open")
    w.cycle()
    w.cycle()  # both handed out, held at the gate
    assert len(w._flight) == 2
    assert status(root)["in_progress_files"] == ["incoming/a.jpg", "incoming/b.jpg"]
    w.stop()
    (tmp_path / "open").touch()
    w.drain()
    w.close()
    assert outputs(root) == ["a.jpg", "b.jpg"]
    assert set(rows(root).values()) == {("done", 1, 1)}


def test_closing_with_files_in_progress_leaves_them_for_the_next_start(
    tmp_path: Path, log: Path
) -> None:
    root = tmp_path / "root"
    w = watcher(root)
    drop(root, "a.jpg", b"WAIT:never.jpg")  # held until its worker is killed
    w.cycle()
    w.cycle()
    assert len(w._flight) == 1
    w.close()  # abandons it: the worker is killed
    assert rows(root) == {"a.jpg": ("processing", 1, 0)}
    assert "redone when the watcher starts" in "\n".join(format_status(status(root)))
    drop(root, "never.jpg", b"now")  # lets a.jpg through this time
    w = watcher(root)  # recovery: redone
    until_idle(w)
    w.close()
    assert outputs(root) == ["a.jpg", "never.jpg"]
    assert rows(root) == {"a.jpg": ("done", 2, 1), "never.jpg": ("done", 1, 1)}
