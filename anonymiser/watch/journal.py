"""Restart-safe journal of the watched folder: SQLite in WAL mode, one row per input.

A row is keyed by the input's path under ``incoming/`` and its content hash and moves through
``seen -> processing -> done | failed``. ``finished`` records that the original has been moved
out of ``incoming/`` (to ``originals/`` or ``failed/``); ``reported`` that the per-batch report
listing it has been written. Every change is its own committed transaction (synchronous=FULL),
so after a crash the journal says exactly how far each file got:

* ``processing``: redo it (its planned output name is kept, so a redo replaces, never duplicates);
* ``done``/``failed`` but not ``finished``: only move the original;
* ``done`` and ``finished``: the same content at the same path is never processed again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from anonymiser.errors import StorageError
from anonymiser.files import open_sqlite

SCHEMA_VERSION = 1


class JournalState(StrEnum):
    """Where a file is: ``seen -> processing -> done | failed`` (stored as these values)."""

    SEEN = "seen"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


STATES = tuple(JournalState)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    rel TEXT NOT NULL,                 -- path under incoming/, '/'-separated
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    batch TEXT NOT NULL,               -- top-level folder it was dropped in ('' = loose file)
    state TEXT NOT NULL CHECK (state IN ('seen', 'processing', 'done', 'failed')),
    output TEXT,                       -- planned/actual output under ready/ or review/
    area TEXT,                         -- 'ready' or 'review' once done
    original TEXT,                     -- where the original went, relative to ROOT
    error TEXT,
    record TEXT,                       -- the per-file report record (JSON)
    attempts INTEGER NOT NULL DEFAULT 0,   -- times processing started
    completions INTEGER NOT NULL DEFAULT 0,  -- times it reached done/failed
    finished INTEGER NOT NULL DEFAULT 0,
    reported INTEGER NOT NULL DEFAULT 0,
    seen_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (rel, sha256)
);
CREATE INDEX IF NOT EXISTS files_state ON files (state);
CREATE INDEX IF NOT EXISTS files_output ON files (output);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class JournalError(StorageError):
    """The journal cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    rel: str
    size: int
    sha256: str
    batch: str
    state: JournalState
    output: str | None
    area: str | None
    original: str | None
    error: str | None
    record: str | None
    attempts: int
    completions: int
    finished: bool
    reported: bool
    seen_at: float
    updated_at: float

    @property
    def report_record(self) -> dict[str, Any] | None:
        return json.loads(self.record) if self.record else None


_COLUMNS = ", ".join(f.name for f in fields(Row))


def _row(values: tuple[Any, ...]) -> Row:
    row = Row(*values)
    return replace(row, state=JournalState(row.state), finished=bool(row.finished),
                   reported=bool(row.reported))  # fmt: skip


class Journal:
    """The watcher's journal. ``wal=False`` for network file systems, where WAL cannot work."""

    def __init__(self, path: Path, *, wal: bool = True, create: bool = True) -> None:
        self.path = path
        if not create and not path.exists():
            raise JournalError(f"{path}: no journal here (the watcher has not run in this folder)")
        self._con = open_sqlite(
            path,
            schema=_SCHEMA,
            version=SCHEMA_VERSION,
            error=JournalError,
            what="journal",
            wal=wal,
            create=create,
        )

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing: each call is one committed transaction
    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        try:
            return self._con.execute(sql, args)
        except sqlite3.Error as err:
            raise JournalError(f"{self.path}: journal write failed: {err}") from None

    def recover(self) -> int:
        """After a crash: rows left ``processing`` go back to ``seen`` (to be redone)."""
        cur = self._exec(
            "UPDATE files SET state = 'seen', updated_at = ? WHERE state = 'processing'",
            (time.time(),),
        )
        return cur.rowcount

    def add(self, rel: str, size: int, sha256: str, batch: str) -> Row:
        """The row for this content at this path, created as ``seen`` if new."""
        now = time.time()
        self._exec(
            "INSERT OR IGNORE INTO files (rel, size, sha256, batch, state, seen_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'seen', ?, ?)",
            (rel, size, sha256, batch, now, now),
        )
        row = self.find(rel, sha256)
        assert row is not None
        return row

    def start(self, row_id: int, output: str | None) -> None:
        self._exec(
            "UPDATE files SET state = 'processing', output = ?, attempts = attempts + 1, "
            "updated_at = ? WHERE id = ?",
            (output, time.time(), row_id),
        )

    def done(
        self, row_id: int, output: str, area: str, original: str, record: dict[str, Any]
    ) -> None:
        self._exec(
            "UPDATE files SET state = 'done', output = ?, area = ?, original = ?, error = NULL, "
            "record = ?, completions = completions + 1, updated_at = ? WHERE id = ?",
            (output, area, original, json.dumps(record), time.time(), row_id),
        )

    def failed(self, row_id: int, error: str, original: str, record: dict[str, Any]) -> None:
        self._exec(
            "UPDATE files SET state = 'failed', output = NULL, area = NULL, original = ?, "
            "error = ?, record = ?, completions = completions + 1, updated_at = ? WHERE id = ?",
            (original, error, json.dumps(record), time.time(), row_id),
        )

    def set_original(self, row_id: int, original: str) -> None:
        self._exec(
            "UPDATE files SET original = ?, updated_at = ? WHERE id = ?",
            (original, time.time(), row_id),
        )

    def finish(self, row_id: int) -> None:
        self._exec(
            "UPDATE files SET finished = 1, updated_at = ? WHERE id = ?", (time.time(), row_id)
        )

    def forget(self, row_id: int) -> None:
        """Drop a row that never completed (its file changed while it was being processed)."""
        self._exec("DELETE FROM files WHERE id = ? AND completions = 0", (row_id,))

    def mark_reported(self, ids: list[int]) -> None:
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        self._exec(f"UPDATE files SET reported = 1 WHERE id IN ({marks})", tuple(ids))

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- reading
    def _rows(self, where: str, args: tuple[Any, ...] = (), order: str = "id") -> list[Row]:
        try:
            cur = self._con.execute(
                f"SELECT {_COLUMNS} FROM files WHERE {where} ORDER BY {order}", args
            )
            return [_row(r) for r in cur.fetchall()]
        except sqlite3.Error as err:
            raise JournalError(f"{self.path}: journal read failed: {err}") from None

    def find(self, rel: str, sha256: str) -> Row | None:
        rows = self._rows("rel = ? AND sha256 = ?", (rel, sha256))
        return rows[0] if rows else None

    def get(self, row_id: int) -> Row:
        return self._rows("id = ?", (row_id,))[0]

    def output_under(self, folder: str, row_id: int) -> str | None:
        """The output planned for the first other row whose input lies under ``folder`` (a
        '/'-separated path under incoming/), or None."""
        rows = self._rows(
            "id != ? AND output IS NOT NULL AND substr(rel, 1, length(?) + 1) = ? || '/'",
            (row_id, folder, folder),
        )
        return rows[0].output if rows else None

    def output_taken(self, output: str, row_id: int) -> bool:
        return bool(self._rows("output = ? AND id != ?", (output, row_id)))

    def unfinished(self) -> list[Row]:
        """Rows completed (done/failed) whose original has not been moved yet."""
        return self._rows("state IN ('done', 'failed') AND finished = 0")

    def in_progress(self) -> list[Row]:
        """Rows a worker is processing now (or was, when the watcher was killed)."""
        return self._rows("state = 'processing'")

    def unreported(self) -> list[Row]:
        return self._rows("state IN ('done', 'failed') AND reported = 0")

    def all(self) -> list[Row]:
        return self._rows("1")

    def meta(self, key: str) -> str | None:
        try:
            row = self._con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(STATES, 0)
        for state, n in self._con.execute("SELECT state, COUNT(*) FROM files GROUP BY state"):
            out[state] = n
        return out

    def last_error(self) -> Row | None:
        rows = self._rows("state = 'failed'", (), order="updated_at DESC LIMIT 1")
        return rows[0] if rows else None
