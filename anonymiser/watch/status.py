"""``anonymiser watch ROOT --status``: queue, counts, last error, read from the journal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from anonymiser.watch.journal import Journal
from anonymiser.watch.layout import Layout
from anonymiser.watch.lock import try_lock, unlock
from anonymiser.watch.scanner import is_network_fs, walk


def status(root: str | Path) -> dict[str, Any]:
    """Queue, counts, last error and whether a watcher is running, read from the journal."""
    layout = Layout.at(root)
    with Journal(layout.journal, create=False, wal=not is_network_fs(layout.root)) as journal:
        counts = journal.counts()
        last = journal.last_error()
        pid = journal.meta("pid")
        consent_error = journal.meta("consent_error") or None
        unreported = len(journal.unreported())
        in_progress = [f"incoming/{r.rel}" for r in journal.in_progress()]
        workers = journal.meta("workers")
    running = False
    with contextlib.suppress(OSError):
        fd = os.open(layout.lock_file, os.O_RDWR if sys.platform == "win32" else os.O_RDONLY)
        try:
            running = not try_lock(fd, shared=True)
            if not running:
                unlock(fd)
        finally:
            os.close(fd)
    queue = len(walk(layout.incoming)[0])
    return {
        "root": str(layout.root),
        "running": running,
        "pid": int(pid) if running and pid and pid.isdigit() else None,
        "queue": queue,
        "done": counts["done"],
        "failed": counts["failed"],
        "in_progress": counts["processing"],
        "in_progress_files": in_progress,  # one per busy worker while running
        "workers": int(workers) if running and workers and workers.isdigit() else None,
        "reports_pending": unreported,
        "last_error": None
        if last is None
        else {
            "file": f"incoming/{last.rel}",
            "moved_to": last.original,
            "error": last.error,
            "time": datetime.fromtimestamp(last.updated_at).isoformat(timespec="seconds"),
        },
        "consent_error": consent_error,
    }


def format_status(info: dict[str, Any]) -> Iterator[str]:
    yield f"watched folder: {info['root']}"
    state = f"running (pid {info['pid']})" if info["running"] else "not running"
    if info.get("workers"):
        state += f", {info['workers']} worker(s)"
    yield f"watcher:        {state}"
    yield f"queue:          {info['queue']} file(s) waiting in incoming/"
    yield f"done:           {info['done']}"
    yield f"failed:         {info['failed']}"
    if info["in_progress"]:
        running = "" if info["running"] else " (redone when the watcher starts)"
        yield f"in progress:    {info['in_progress']}{running}"
        for name in info.get("in_progress_files", []):
            yield f"                {name}"
    last = info["last_error"]
    if last:
        yield f"last error:     {last['time']} {last['file']}: {last['error']}"
    else:
        yield "last error:     none"
    if info["consent_error"]:
        yield f"CONSENT LOG:    {info['consent_error']}"
