"""The review app's own state: ``ROOT/.anonymiser/review.sqlite`` (WAL, 0600).

* ``decisions``: approve / reject per item (a journal row of the watcher), who, when, the
  sha256 of the file decided on and where it went. Append-only (triggers), like the audit journal.
* ``versions``: each "blur more" re-render: every reviewer box so far, the new per-file record,
  the new output's sha256.
* ``checks``: flagged regions confirmed by a person (by box, so they carry over to a re-render
  that finds the same region).
* ``takedowns``: after a withdrawal, "taken down" marked per approved item and pupil.
* ``sessions`` (token hashes only) and ``failures`` (for login throttling).

A connection is opened per operation, so the web server's threads never share one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from anonymiser.approval.errors import ReviewError
from anonymiser.files import open_sqlite
from anonymiser.results import Box

DB_NAME = "review.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL,          -- the watcher journal's row id
    item TEXT NOT NULL,                -- 'ready/...' or 'review/...' as it was decided on
    action TEXT NOT NULL CHECK (action IN ('approved', 'rejected')),
    by TEXT NOT NULL,
    time REAL NOT NULL,
    sha256 TEXT NOT NULL,              -- of the file decided on (= of the approved copy)
    target TEXT NOT NULL,              -- 'approved/...' or 'rejected/...'
    reason TEXT,
    version INTEGER NOT NULL DEFAULT 0 -- versions.id shown when decided (0: the watcher's)
);
CREATE INDEX IF NOT EXISTS decisions_item ON decisions (item_id);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL,
    by TEXT NOT NULL,
    time REAL NOT NULL,
    boxes TEXT NOT NULL,               -- JSON [[x, y, w, h], ...]: every reviewer box so far
    record TEXT NOT NULL,              -- the new per-file record (JSON, as the watcher keeps it)
    sha256 TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS versions_item ON versions (item_id);
CREATE TABLE IF NOT EXISTS checks (
    id INTEGER PRIMARY KEY,
    item_id INTEGER NOT NULL,
    box TEXT NOT NULL,                 -- JSON [x, y, w, h] of the region confirmed
    by TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS takedowns (
    id INTEGER PRIMARY KEY,
    decision_id INTEGER NOT NULL REFERENCES decisions(id),
    pupil_id TEXT NOT NULL,
    by TEXT NOT NULL,
    time REAL NOT NULL,
    UNIQUE (decision_id, pupil_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    addr TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_time ON failures (time);
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END;
"""


class Verdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class DecisionRow:
    id: int
    item_id: int
    item: str
    action: Verdict
    by: str
    time: float
    sha256: str
    target: str
    reason: str | None
    version: int


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    item_id: int
    by: str
    time: float
    boxes: tuple[Box, ...]
    record: dict[str, Any]
    sha256: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    user: str
    csrf: str
    created: float
    seen: float


def _box(data: Any) -> Box:
    x, y, w, h = (int(v) for v in data)
    return Box(x, y, w, h)


class ReviewDB:
    """The review state of one watched folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._open(create=True).close()

    def _open(self, *, create: bool = False) -> sqlite3.Connection:
        return open_sqlite(self.path, schema=_SCHEMA, version=SCHEMA_VERSION, error=ReviewError,
                           what="review database", create=create)  # fmt: skip

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(self._open()) as con:
            try:
                yield con
            except sqlite3.Error as err:
                raise ReviewError(f"{self.path}: review database: {err}") from None

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        """One statement on its own connection (autocommit): ``lastrowid`` and ``rowcount``."""
        with self._connect() as con:
            return con.execute(sql, args)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Every row ``sql`` selects."""
        with self._connect() as con:
            return con.execute(sql, args).fetchall()

    # -- decisions --------------------------------------------------------------------------
    def add_decision(
        self,
        item_id: int,
        item: str,
        action: Verdict,
        by: str,
        sha256: str,
        target: str,
        reason: str | None = None,
        version: int = 0,
    ) -> DecisionRow:
        now = time.time()
        cur = self._run(
            "INSERT INTO decisions (item_id, item, action, by, time, sha256, target, reason, "
            "version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item_id, item, str(action), by, now, sha256, target, reason, version),
        )
        return DecisionRow(int(cur.lastrowid or 0), item_id, item, action, by, now, sha256,
                           target, reason, version)  # fmt: skip

    def decisions(self) -> dict[int, DecisionRow]:
        """The latest decision per item."""
        rows = self._rows(
            "SELECT id, item_id, item, action, by, time, sha256, target, reason, version "
            "FROM decisions ORDER BY id"
        )
        out: dict[int, DecisionRow] = {}
        for i, item_id, item, action, by, t, sha, target, reason, version in rows:
            out[item_id] = DecisionRow(i, item_id, item, Verdict(action), by, t, sha, target,
                                       reason, version)  # fmt: skip
        return out

    # -- versions (blur more) ---------------------------------------------------------------
    def add_version(
        self, item_id: int, by: str, boxes: tuple[Box, ...], record: dict[str, Any], sha256: str
    ) -> VersionRow:
        now = time.time()
        cur = self._run(
            "INSERT INTO versions (item_id, by, time, boxes, record, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (item_id, by, now, json.dumps([b.as_list() for b in boxes]), json.dumps(record),
             sha256),
        )  # fmt: skip
        return VersionRow(int(cur.lastrowid or 0), item_id, by, now, boxes, record, sha256)

    def latest_versions(self) -> dict[int, VersionRow]:
        rows = self._rows(
            "SELECT id, item_id, by, time, boxes, record, sha256 FROM versions ORDER BY id"
        )
        out: dict[int, VersionRow] = {}
        for i, item_id, by, t, boxes, record, sha in rows:
            out[item_id] = VersionRow(
                i, item_id, by, t, tuple(_box(b) for b in json.loads(boxes)), json.loads(record),
                sha,
            )  # fmt: skip
        return out

    # -- checks of flagged regions ----------------------------------------------------------
    def add_check(self, item_id: int, box: Box, by: str) -> None:
        self._run(
            "INSERT INTO checks (item_id, box, by, time) VALUES (?, ?, ?, ?)",
            (item_id, json.dumps(box.as_list()), by, time.time()),
        )

    def checks(self) -> dict[int, list[Box]]:
        out: dict[int, list[Box]] = {}
        for item_id, box in self._rows("SELECT item_id, box FROM checks ORDER BY id"):
            out.setdefault(item_id, []).append(_box(json.loads(box)))
        return out

    # -- take-downs -------------------------------------------------------------------------
    def add_takedown(self, decision_id: int, pupil_id: str, by: str) -> bool:
        """Mark one take-down done; False if it already was."""
        cur = self._run(
            "INSERT OR IGNORE INTO takedowns (decision_id, pupil_id, by, time) VALUES (?, ?, ?, ?)",
            (decision_id, pupil_id, by, time.time()),
        )
        return cur.rowcount == 1

    def takedowns(self) -> dict[tuple[int, str], tuple[str, float]]:
        """(decision id, pupil id) -> (who marked it done, when)."""
        rows = self._rows("SELECT decision_id, pupil_id, by, time FROM takedowns")
        return {(d, p): (by, t) for d, p, by, t in rows}

    # -- sessions and login failures --------------------------------------------------------
    def add_session(self, token_sha256: str, user: str, csrf: str, now: float) -> None:
        self._run(
            "INSERT INTO sessions (token_sha256, user, csrf, created, seen) VALUES (?, ?, ?, ?, ?)",
            (token_sha256, user, csrf, now, now),
        )

    def session(self, token_sha256: str) -> SessionRow | None:
        rows = self._rows(
            "SELECT user, csrf, created, seen FROM sessions WHERE token_sha256 = ?",
            (token_sha256,),
        )
        return SessionRow(*rows[0]) if rows else None

    def touch_session(self, token_sha256: str, now: float) -> None:
        self._run("UPDATE sessions SET seen = ? WHERE token_sha256 = ?", (now, token_sha256))

    def end_session(self, token_sha256: str) -> None:
        self._run("DELETE FROM sessions WHERE token_sha256 = ?", (token_sha256,))

    def end_sessions_before(self, created: float, seen: float) -> None:
        """Forget sessions created before ``created`` or idle since before ``seen``."""
        self._run("DELETE FROM sessions WHERE created < ? OR seen < ?", (created, seen))

    def add_failure(self, name: str, addr: str, now: float) -> None:
        self._run("INSERT INTO failures (name, addr, time) VALUES (?, ?, ?)", (name, addr, now))

    def failures_since(self, since: float, *, name: str | None = None,
                       addr: str | None = None) -> int:  # fmt: skip
        """Failed logins since ``since`` for this name (or, if no name, from this address)."""
        column, value = ("name", name) if name is not None else ("addr", addr or "")
        with self._connect() as con:
            con.execute("DELETE FROM failures WHERE time < ?", (since - 86400,))
            row = con.execute(
                f"SELECT COUNT(*) FROM failures WHERE time >= ? AND {column} = ?", (since, value)
            ).fetchone()
        return int(row[0])

    def clear_failures(self, name: str) -> None:
        self._run("DELETE FROM failures WHERE name = ?", (name,))
