"""The watched folder's layout, its permissions, and the rules for which names are ignored.

::

    ROOT/incoming/    staff drop files or whole folders here
    ROOT/ready/       safe copies (folder structure mirrored) and ready/reports/
    ROOT/review/      safe copies that need a human look (ambiguous matches)
    ROOT/failed/      inputs that could not be processed, each with a ``.txt`` reason
    ROOT/originals/   originals, moved here after success (owner-only; never deleted)
    ROOT/approved/    approved copies, the one folder to publish from (the review app)
    ROOT/rejected/    copies a reviewer rejected (the review app)
    ROOT/.anonymiser/ journal.sqlite, watch.log, lock, work/ (staging for outputs)
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from anonymiser.errors import SettingsError
from anonymiser.inputs import is_ignored

# Folders staff use (group may read) and private ones (owner only).
SHARED_DIR_MODE = 0o750
SHARED_FILE_MODE = 0o640
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ignored_path(rel: PurePosixPath) -> bool:
    """True if the file or any folder it is in is ignored (e.g. inside ``.git/`` or ``.Trash``)."""
    return any(part.startswith(".") for part in rel.parts[:-1]) or is_ignored(rel.name)


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def ready(self) -> Path:
        return self.root / "ready"

    @property
    def review(self) -> Path:
        return self.root / "review"

    @property
    def failed(self) -> Path:
        return self.root / "failed"

    @property
    def originals(self) -> Path:
        return self.root / "originals"

    @property
    def approved(self) -> Path:
        """Approved copies: the one folder to publish from (written by the review app only)."""
        return self.root / "approved"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def reports(self) -> Path:
        return self.ready / "reports"

    @property
    def state(self) -> Path:
        return self.root / ".anonymiser"

    @property
    def work(self) -> Path:
        return self.state / "work"

    @property
    def journal(self) -> Path:
        return self.state / "journal.sqlite"

    @property
    def log_file(self) -> Path:
        return self.state / "watch.log"

    @property
    def lock_file(self) -> Path:
        return self.state / "lock"

    @classmethod
    def at(cls, root: str | Path) -> Layout:
        """The layout under ``root`` (resolved, so later containment checks are exact)."""
        p = Path(root)
        if p.is_symlink():
            raise SettingsError(f"{root}: the watched folder must not be a symbolic link")
        return cls(p.resolve())

    def create(self) -> None:
        """Create the folders (refusing symlinked ones) and set their permissions."""
        if self.root.exists() and not self.root.is_dir():
            raise SettingsError(f"{self.root}: not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        shared = (self.incoming, self.ready, self.review, self.failed, self.reports)
        private = (self.originals, self.state, self.work)
        for folder in (*shared, *private):
            if folder.is_symlink():
                raise SettingsError(f"{folder}: must be a real folder, not a symbolic link")
            if folder.exists() and not folder.is_dir():
                raise SettingsError(f"{folder}: exists but is not a folder")
            existed = folder.exists()
            folder.mkdir(exist_ok=True)
            if folder in private:
                os.chmod(folder, PRIVATE_DIR_MODE)
            elif not existed and folder is not self.incoming:
                os.chmod(folder, SHARED_DIR_MODE)

    def inside(self, path: Path, folder: Path) -> bool:
        """True if ``path`` (resolved, no symlink escapes) lies inside ``folder``."""
        try:
            path.resolve().relative_to(folder.resolve())
        except (ValueError, OSError):
            return False
        return True

    def target(self, folder: Path, rel: PurePosixPath) -> Path:
        """``folder / rel`` after checking ``rel`` cannot step outside ``folder``."""
        if rel.is_absolute() or any(part in ("", ".", "..") for part in rel.parts):
            raise SettingsError(f"{rel}: unsafe relative path")
        out = folder.joinpath(*rel.parts)
        if not self.inside(out.parent, folder):
            raise SettingsError(f"{out}: would be outside {folder}")
        return out


def make_dirs(folder: Path, stop: Path, mode: int) -> None:
    """Create ``folder`` and its parents up to ``stop`` with ``mode`` (not following symlinks)."""
    missing = []
    p = folder
    while p != stop and not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=mode)
        os.chmod(d, mode)
    if folder.is_symlink():
        raise SettingsError(f"{folder}: is a symbolic link; refusing to write through it")


def unique_path(path: Path) -> Path:
    """``path`` or, if taken, ``name (2).ext``, ``name (3).ext``..."""
    if not os.path.lexists(path):
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not os.path.lexists(candidate):
            return candidate
        n += 1
