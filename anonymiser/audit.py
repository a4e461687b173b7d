"""Append-only audit journal (SQLite, WAL) of every processed file.

One row per run, one per file, one per region: input and output sha256, paths, time, tool version,
settings, consent log hash, and each region's kind/action/reason/pupil_id. No names, no OCR text,
no embeddings. Triggers refuse UPDATE and DELETE, so rows can only be added.

Paths are written with every part (folder or file name) that carries a roster pupil's name
replaced by ``[name hidden]`` (the suffix kept): ``incoming/Sports Day/Ayodele Bolton.jpg`` is
recorded as ``incoming/Sports Day/[name hidden].jpg``; error messages get the same treatment.
The roster is the consent log's (every year's names), or the ``pupils`` given. A file is still
found by its content: ``file_history`` hashes the file it is given.

It answers a subject access request or a withdrawal: ``pupil_outputs("P0042")`` lists every
output in which that pupil was kept sharp. Each file is committed on its own, so a crash part-way
through a batch keeps every file recorded before it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anonymiser import __version__
from anonymiser.errors import StorageError
from anonymiser.files import open_sqlite, sha256_file
from anonymiser.inputs import NAME_HIDDEN, NameHider
from anonymiser.results import Action, BatchResult, ImageResult, Kind
from anonymiser.settings import Settings, default_store

if TYPE_CHECKING:
    from anonymiser.identify.names import PupilName, RosterNameMatcher

JOURNAL_NAME = "audit.sqlite"
SCHEMA_VERSION = 2  # 2: decisions (approvals, rejections, take-downs)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    tool TEXT NOT NULL,
    settings TEXT NOT NULL,
    consent_path TEXT,
    consent_sha256 TEXT,
    consent_date TEXT
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    time TEXT NOT NULL,
    source TEXT NOT NULL,
    input_sha256 TEXT,
    output TEXT,
    output_sha256 TEXT,
    status TEXT NOT NULL,
    needs_review INTEGER NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS regions (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    pupil_id TEXT,
    box TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    action TEXT NOT NULL,
    item TEXT NOT NULL,
    output TEXT,
    output_sha256 TEXT,
    by TEXT NOT NULL,
    reason TEXT,
    pupil_id TEXT
);
CREATE INDEX IF NOT EXISTS decisions_item ON decisions(item);
CREATE INDEX IF NOT EXISTS decisions_output_sha ON decisions(output_sha256);
CREATE INDEX IF NOT EXISTS regions_pupil ON regions(pupil_id, action);
CREATE INDEX IF NOT EXISTS files_source ON files(source);
CREATE INDEX IF NOT EXISTS files_output ON files(output);
CREATE INDEX IF NOT EXISTS files_input_sha ON files(input_sha256);
CREATE INDEX IF NOT EXISTS files_output_sha ON files(output_sha256);
"""


def _append_only_triggers() -> str:
    sql = []
    for table in ("runs", "files", "regions", "decisions"):
        for op in ("UPDATE", "DELETE"):
            sql.append(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit journal is append-only'); END;"
            )
    return "\n".join(sql)


class AuditError(StorageError):
    """The audit journal cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class RegionRecord:
    kind: str
    action: str
    reason: str
    pupil_id: str | None
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One processed file as the journal remembers it."""

    id: int
    run_id: int
    time: str
    source: str
    input_sha256: str | None
    output: str | None
    output_sha256: str | None
    status: str
    needs_review: bool
    error: str | None
    tool: str
    consent_sha256: str | None
    regions: tuple[RegionRecord, ...] = ()
    # what people decided about this output since (review app): approved, rejected, ...
    decisions: tuple[DecisionRecord, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Decision(StrEnum):
    """What a person decided about a safe copy (the review app, policy 8.1.8 and 7.4)."""

    APPROVED = "approved"  # copied to approved/: may be published
    REJECTED = "rejected"  # moved to rejected/: not to be published
    RE_RENDERED = "re-rendered"  # blurred more from the original (a reviewer's box)
    REGION_CONFIRMED = "region-confirmed"  # a flagged region looked at and found right
    TAKEN_DOWN = "taken-down"  # after a withdrawal: removed from where it was posted


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision as the journal remembers it. Paths are absolute."""

    id: int
    time: str
    action: Decision
    item: str  # the safe copy decided on (under ready/ or review/)
    output: str | None  # where it went (approved/ or rejected/), if anywhere
    output_sha256: str | None
    by: str
    reason: str | None = None
    pupil_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "action": str(self.action)}


def journal_path(settings: Settings | None = None) -> Path:
    """``$ANONYMISER_HOME/audit.sqlite``, else next to the embeddings store."""
    home = os.environ.get("ANONYMISER_HOME")
    if home:
        return Path(home) / JOURNAL_NAME
    store = settings.store_path if settings is not None else default_store()
    return store.parent / JOURNAL_NAME


def sha256_of(path: str | Path) -> str | None:
    """Hex sha256 of a file, or None when it cannot be read."""
    try:
        return sha256_file(path)
    except OSError:
        return None


@contextmanager
def connect(path: str | Path | None = None, *, create: bool = True) -> Iterator[sqlite3.Connection]:
    """Open (and if needed create) the journal in WAL mode with full fsync on commit."""
    p = Path(path) if path is not None else journal_path()
    if not create and not p.exists():
        raise AuditError(f"{p}: no audit journal here yet (nothing has been processed)")
    if create:
        try:
            p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise AuditError(f"{p}: cannot open audit journal: {err}") from None
    con = open_sqlite(
        p,
        schema=_SCHEMA + _append_only_triggers(),
        version=SCHEMA_VERSION,
        error=AuditError,
        what="audit journal",
        create=create,
    )
    with closing(con):
        yield con


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _settings_json(settings: Settings) -> str:
    data = {}
    for f in dataclasses.fields(settings):
        if f.name == "extra":
            continue
        data[f.name] = getattr(settings, f.name)
    return json.dumps(data, default=str, sort_keys=True)


def _abs(path: str | None) -> str | None:
    return None if path is None else str(Path(path).absolute())


def _hider(pupils: Sequence[PupilName] | RosterNameMatcher) -> NameHider:
    """The hider for a roster (or a matcher already built for it)."""
    from anonymiser.identify.names import RosterNameMatcher

    if isinstance(pupils, RosterNameMatcher):
        return NameHider(pupils)
    return NameHider(RosterNameMatcher(pupils) if pupils else None)


def _roster_of(consent: Any, settings: Settings) -> list[Any]:
    """Every name on the consent log (all years), or none if it has no roster."""
    roster = getattr(consent, "roster", None)
    if roster is None:
        return []
    return list(roster(settings.consent_date))


def start_run(
    con: sqlite3.Connection,
    settings: Settings,
    consent: Any = None,
    *,
    pupils: Sequence[PupilName] | RosterNameMatcher = (),
) -> int:
    """Record a run (settings, consent log hash); returns its id.

    A part of the consent log's path that carries one of ``pupils``' names is hidden.
    """
    consent_path = getattr(consent, "path", None)
    consent_sha = getattr(consent, "sha256", None)
    cur = con.execute(
        "INSERT INTO runs (time, tool, settings, consent_path, consent_sha256, consent_date) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            _now(),
            f"anonymiser {__version__}",
            _settings_json(settings),
            _hider(pupils).path(_abs(str(consent_path))) if consent_path else None,
            consent_sha,
            settings.consent_date.isoformat(),
        ),
    )
    return int(cur.lastrowid or 0)


def record_image(
    con: sqlite3.Connection,
    run_id: int,
    result: ImageResult,
    *,
    pupils: Sequence[PupilName] | RosterNameMatcher = (),
) -> int:
    """Record one file and its regions in one transaction; returns the file's id.

    Every part of the source and output paths (and every word of the error) that carries one
    of ``pupils``' names is written as ``NAME_HIDDEN``; the sha256 of both files is kept.
    """
    hider = _hider(pupils)
    source = _abs(result.source) or result.source
    output = _abs(result.output)
    error = hider.text(result.error, (result.source, source, result.output, output))
    con.execute("BEGIN IMMEDIATE")
    try:
        cur = con.execute(
            "INSERT INTO files (run_id, time, source, input_sha256, output, output_sha256, "
            "status, needs_review, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                _now(),
                hider.path(source),
                sha256_of(result.source),
                hider.path(output),
                sha256_of(result.output) if result.output else None,
                str(result.status),
                int(result.needs_review),
                error,
            ),
        )
        file_id = int(cur.lastrowid or 0)
        con.executemany(
            "INSERT INTO regions (file_id, idx, kind, action, reason, pupil_id, box) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    file_id,
                    i,
                    str(r.kind),
                    str(r.action),
                    str(r.reason),
                    r.pupil_id,
                    json.dumps(r.box.as_list()),
                )
                for i, r in enumerate(result.regions)
            ],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return file_id


def record_batch(
    batch: BatchResult,
    settings: Settings,
    consent: Any = None,
    path: str | Path | None = None,
    *,
    pupils: Sequence[PupilName] | None = None,
) -> int:
    """Append a run and every file of ``batch`` to the journal; returns the run id.

    ``path`` defaults to ``journal_path(settings)``. Each file is its own transaction. Path
    parts carrying a name of ``pupils`` (default: every name on ``consent``) are hidden.
    """
    from anonymiser.identify.names import RosterNameMatcher

    target = Path(path) if path is not None else journal_path(settings)
    roster = list(pupils) if pupils is not None else _roster_of(consent, settings)
    matcher = RosterNameMatcher(roster) if roster else ()
    try:
        with connect(target) as con:
            run_id = start_run(con, settings, consent, pupils=matcher)
            for result in batch.images:
                record_image(con, run_id, result, pupils=matcher)
    except sqlite3.Error as err:
        raise AuditError(f"{target}: cannot write audit journal: {err}") from None
    return run_id


def record_decision(
    action: Decision,
    item: str | Path,
    by: str,
    *,
    output: str | Path | None = None,
    output_sha256: str | None = None,
    reason: str | None = None,
    pupil_id: str | None = None,
    path: str | Path | None = None,
    pupils: Sequence[PupilName] = (),
) -> DecisionRecord:
    """Append one decision (who, what, when, the sha256 of what was published).

    ``path`` defaults to ``journal_path()``. Words of ``reason`` (free text a person typed)
    that carry a name of ``pupils`` are written as ``NAME_HIDDEN``, as are such path parts.
    """
    hider = _hider(pupils)
    target = Path(path) if path is not None else journal_path()
    row = (
        _now(),
        str(Decision(action)),
        hider.path(_abs(str(item))) or str(item),
        hider.path(_abs(str(output))) if output is not None else None,
        output_sha256,
        by,
        hider.text(reason),
        pupil_id,
    )
    try:
        with connect(target) as con:
            cur = con.execute(
                "INSERT INTO decisions (time, action, item, output, output_sha256, by, reason, "
                "pupil_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
    except sqlite3.Error as err:
        raise AuditError(f"{target}: cannot write audit journal: {err}") from None
    when, act, item_s, out_s, sha, who, why, pupil = row
    return DecisionRecord(int(cur.lastrowid or 0), when, Decision(act), item_s, out_s, sha, who,
                          why, pupil)  # fmt: skip


def _decisions(con: sqlite3.Connection, where: str, args: Sequence[Any]) -> list[DecisionRecord]:
    try:
        rows = con.execute(
            "SELECT id, time, action, item, output, output_sha256, by, reason, pupil_id "
            f"FROM decisions WHERE {where} ORDER BY id",
            tuple(args),
        ).fetchall()
    except sqlite3.OperationalError:  # a journal from before decisions were recorded
        return []
    return [
        DecisionRecord(i, t, Decision(a), it, o, sha, by, why, pupil)
        for i, t, a, it, o, sha, by, why, pupil in rows
    ]


_FILE_COLUMNS = (
    "f.id, f.run_id, f.time, f.source, f.input_sha256, f.output, f.output_sha256, f.status, "
    "f.needs_review, f.error, r.tool, r.consent_sha256"
)


def _records(con: sqlite3.Connection, where: str, args: Sequence[Any]) -> list[FileRecord]:
    rows = con.execute(
        f"SELECT {_FILE_COLUMNS} FROM files f JOIN runs r ON r.id = f.run_id "
        f"WHERE {where} ORDER BY f.id",
        tuple(args),
    ).fetchall()
    out = []
    for row in rows:
        regions = tuple(
            RegionRecord(kind, action, reason, pupil, tuple(json.loads(box)))
            for kind, action, reason, pupil, box in con.execute(
                "SELECT kind, action, reason, pupil_id, box FROM regions "
                "WHERE file_id = ? ORDER BY idx",
                (row[0],),
            )
        )
        fid, run, when, source, in_sha, output, out_sha, status, review, error, tool, c_sha = row
        out.append(
            FileRecord(fid, run, when, source, in_sha, output, out_sha, status, bool(review),
                       error, tool, c_sha, regions)
        )  # fmt: skip
    return out


def pupil_outputs(pupil_id: str, path: str | Path | None = None) -> list[FileRecord]:
    """Every recorded output in which ``pupil_id``'s face was kept sharp, oldest first."""
    with connect(path, create=False) as con:
        return _records(
            con,
            "f.output IS NOT NULL AND f.status = 'ok' AND f.id IN (SELECT file_id FROM regions "
            "WHERE pupil_id = ? AND kind = ? AND action = ?)",
            (pupil_id, str(Kind.FACE), str(Action.KEPT)),
        )


def file_history(path: str | Path, journal: str | Path | None = None) -> list[FileRecord]:
    """Every record whose source or output is ``path``, or whose input or output has the same
    content (sha256) as the file at ``path`` now; each with the decisions people made about its
    output (by the output's path or content: an approved copy is the output, byte for byte).

    A source path that carried a pupil's name is recorded with the name hidden, so such an
    input is found by its content (hashed here) rather than by its path."""
    p = Path(path)
    absolute = str(p.absolute())
    resolved = str(p.resolve())
    digest = sha256_of(p) if p.is_file() else None
    with connect(journal, create=False) as con:
        records = _records(
            con,
            "f.source IN (?, ?) OR f.output IN (?, ?) OR "
            "(? IS NOT NULL AND (f.input_sha256 = ? OR f.output_sha256 = ?))",
            (absolute, resolved, absolute, resolved, digest, digest, digest),
        )
        out = []
        for r in records:
            decided = _decisions(
                con,
                "item = ? OR (? IS NOT NULL AND output_sha256 = ?)",
                (r.output or "", r.output_sha256, r.output_sha256),
            )
            out.append(dataclasses.replace(r, decisions=tuple(decided)))
    return out


__all__ = [
    "NAME_HIDDEN",
    "AuditError",
    "Decision",
    "DecisionRecord",
    "FileRecord",
    "RegionRecord",
    "connect",
    "file_history",
    "journal_path",
    "pupil_outputs",
    "record_batch",
    "record_decision",
    "record_image",
    "sha256_of",
    "start_run",
]
