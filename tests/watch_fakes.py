"""Fake engines for the watcher's worker tests, at module level so that worker processes can
unpickle them (the factory travels to each worker like ``default_factory`` does).

Every ``process_file`` call appends ``pid<TAB>source`` to ``$ANONYMISER_TEST_CALLS`` (one file
shared by all processes, O_APPEND). Contents steer the fake: ``CRASH`` kills its process (as the
kernel's out-of-memory killer would), ``RAISE`` raises (a bug), ``CORRUPT`` fails the file,
``WAIT:name`` waits until a call for a file called ``name`` has started (so two files are only
done if two workers hold them at once), ``GATE:name`` until a file ``name`` exists beside the
calls file. ``$ANONYMISER_TEST_DELAY`` seconds pass in each call.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from anonymiser import Action, Box, ImageResult, Kind, Reason, Region, Settings, Status

CALLS = "ANONYMISER_TEST_CALLS"
DELAY = "ANONYMISER_TEST_DELAY"


def drop(root: Path, rel: str, data: bytes) -> Path:
    """Put ``data`` in the watched folder's incoming/ as ``rel``, as office staff would."""
    p = root / "incoming" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def journal_rows(root: Path) -> dict[str, tuple[str, int, int]]:
    """The journal's files as rel -> (state, attempts, completions)."""
    con = sqlite3.connect(root / ".anonymiser" / "journal.sqlite")
    try:
        got = con.execute("SELECT rel, state, attempts, completions FROM files").fetchall()
    finally:
        con.close()
    return {rel: (state, attempts, done) for rel, state, attempts, done in got}


def calls(path: Path) -> list[tuple[int, str]]:
    """(pid, source) of every call so far."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        pid, src = line.split("\t", 1)
        out.append((int(pid), src))
    return out


class FakeLog:
    """A consent log as the watcher uses it (picklable: it travels to the workers)."""

    def __init__(self, sha256: str) -> None:
        self.sha256 = sha256

    def year_warning(self, on_date: Any) -> str | None:
        return None


class FakeEngine:
    """Copies the input as ``SAFE:<consent sha>:<input>``; see the module docstring."""

    def __init__(self, settings: Settings, consent: Any, previous: Any) -> None:
        self.settings = settings
        self.consent = consent
        self.pupils: list[Any] = []
        self.face_detector = previous.face_detector if previous is not None else object()

    def warnings(self) -> list[str]:
        return []

    def check_models(self) -> None:
        """No model files: nothing to check."""

    def process_file(self, src: Path, dst: Path) -> ImageResult:
        src = Path(src)
        log = os.environ.get(CALLS)
        if log:
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, f"{os.getpid()}\t{src}\n".encode())
            finally:
                os.close(fd)
        data = src.read_bytes()
        if b"CRASH" in data:
            os.kill(os.getpid(), signal.SIGKILL)
        if b"RAISE" in data:
            raise RuntimeError("a bug in the engine")
        if b"CORRUPT" in data:
            return ImageResult(str(src), None, Status.FAILED, error=f"{src}: truncated JPEG")
        wait = re.search(rb"WAIT:(\S+)", data)
        if wait and log:
            name = "/" + wait.group(1).decode()
            end = time.monotonic() + 20
            while not any(s.endswith(name) for _, s in calls(Path(log))):
                if time.monotonic() > end:
                    return ImageResult(str(src), None, Status.FAILED, error=f"{src}: alone")
                time.sleep(0.02)
        gate = re.search(rb"GATE:(\S+)", data)
        if gate and log:
            opened = Path(log).parent / gate.group(1).decode()
            end = time.monotonic() + 20
            while not opened.exists():
                if time.monotonic() > end:
                    return ImageResult(str(src), None, Status.FAILED, error=f"{src}: gate shut")
                time.sleep(0.02)
        time.sleep(float(os.environ.get(DELAY, "0")))
        sha = getattr(self.consent, "sha256", "none")
        Path(dst).write_bytes(f"SAFE:{sha}:".encode() + data)
        face = Region(Kind.FACE, Box(1, 2, 3, 4), 0.9, Action.BLURRED, Reason.NOT_IDENTIFIED)
        return ImageResult(str(src), str(dst), Status.OK, 8, 8, False, (), (face,))


def main() -> None:
    """``python -c 'from tests.watch_fakes import main; main()' ROOT WORKERS [--once]``: the real
    watcher with the fake engine, as a process the crash tests can kill."""
    import sys

    from anonymiser.watch import Layout, Watcher, WatchOptions, setup_logging

    root, workers = Path(sys.argv[1]), int(sys.argv[2])
    setup_logging(Layout.at(root))
    options = WatchOptions(
        root, Settings(workers=workers), settle=0.0, poll=0.1, once="--once" in sys.argv
    )
    sys.exit(int(Watcher(options, factory=FakeEngine).run()))
