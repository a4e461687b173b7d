"""Durable files on disk, one way each: atomic writes (text, images, videos, reports, the
watcher's files), file hashes, and the SQLite databases (audit journal, watcher journal,
embeddings store).

Lowest layer with ``errors``: it knows nothing of images, consent or models.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from anonymiser.errors import AnonymiserError, MediaError


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's content, read in chunks. Raises OSError when it cannot be read."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def temp_beside(path: Path, suffix: str = ".tmp") -> Path:
    """A new, empty, hidden temporary file in ``path``'s folder (created; the folder too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def commit(tmp: Path, path: Path, mode: int) -> None:
    """Flush ``tmp`` to disk, give it ``mode`` and rename it onto ``path`` (old or new, never
    half); the rename is made durable too."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    fsync_dir(path.parent)


@contextmanager
def atomic_path(path: Path, *, mode: int = 0o600, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on a clean exit it is fsynced, given
    ``mode`` and renamed onto ``path``; on any error it is removed and ``path`` is untouched.

    The one atomic-write rule of the package: text files, images, videos all go through it.
    """
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        commit(tmp, path, mode)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(
    path: Path, text: str, *, mode: int | None = None, what: str = "file"
) -> None:
    """Write ``text`` atomically (``atomic_path``).

    The file is owner-only (0600) unless ``mode`` says otherwise. Raises MediaError naming the
    path and ``what`` it is on failure.
    """
    path = Path(path)
    try:
        with atomic_path(path, mode=0o600 if mode is None else mode) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        raise MediaError(f"{path}: cannot write {what}: {err.strerror or err}") from None


def private_dir(folder: Path) -> None:
    """Create ``folder`` (and parents) owner-only (0700) if it does not exist yet."""
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def open_sqlite(
    path: Path,
    *,
    schema: str,
    version: int,
    error: Callable[[str], AnonymiserError],
    what: str,
    wal: bool = True,
    create: bool = True,
    autocommit: bool = True,
) -> sqlite3.Connection:
    """Open one of our SQLite files the one way: autocommit, ``synchronous=FULL``, WAL (unless
    ``wal`` is off: network file systems, or biometrics that must not linger in a WAL file),
    foreign keys on, owner-only files. ``autocommit=False`` leaves transactions to ``with con:``.

    With ``create`` the schema is applied and ``version`` written as ``user_version``; a file
    written by a newer version of the tool (a higher ``user_version``) is refused rather than
    misread. Every failure is ``error(message)``, the message naming the file and ``what``.
    """
    if not create and not path.exists():
        raise error(f"{path}: no {what} here")
    try:
        con = sqlite3.connect(
            path, timeout=30.0, isolation_level=None if autocommit else "DEFERRED"
        )
    except (OSError, sqlite3.Error) as err:
        raise error(f"{path}: cannot open {what}: {err}") from None
    try:
        con.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        found = int(con.execute("PRAGMA user_version").fetchone()[0])
        if found > version:
            raise error(
                f"{path}: {what} written by a newer anonymiser (schema {found}, this one "
                f"reads {version}); upgrade anonymiser"
            )
        if create:
            con.executescript(schema)
            con.execute(f"PRAGMA user_version={version}")
    except sqlite3.Error as err:
        con.close()
        raise error(f"{path}: cannot use {what}: {err}") from None
    except BaseException:
        con.close()
        raise
    if create:
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            with suppress(OSError):
                os.chmod(p, 0o600)
    return con
