"""Durable, atomic small-file writes (report, review page, watcher) and the folder walk (blur,
watcher)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from anonymiser.errors import MediaError


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


def write_text_atomic(
    path: Path, text: str, *, mode: int | None = None, what: str = "file"
) -> None:
    """Write ``text`` via a temp file in the same folder, fsync, rename: old or new, never half.

    The file is owner-only (0600) unless ``mode`` says otherwise. Raises MediaError naming the
    path and ``what`` it is on failure.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
    except OSError as err:
        raise MediaError(f"{path}: cannot write {what}: {err.strerror or err}") from None


def walk_folders(root: Path) -> Iterator[tuple[Path, list[os.DirEntry[str]] | OSError]]:
    """Each folder under ``root`` (``root`` too) with its entries, or the error listing it.

    Never enters hidden (dot) folders or symlinked ones (they could lead anywhere); the caller
    decides what to do with the entries, including symlinks. Not sorted.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as err:
            yield folder, err
            continue
        for entry in entries:
            try:
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
            except OSError:
                continue  # vanished
        yield folder, entries
