"""Finding complete files in ``incoming/``: a walk that never follows symlinks, and a settle
tracker that releases a file only when its size and mtime have been stable for ``settle`` seconds
and (on Linux, where it can be told) no other process has it open for writing.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from anonymiser.inputs import walk_folders
from anonymiser.watch.layout import ignored_path

log = logging.getLogger("anonymiser.watch")

# File systems where inotify does not see changes made by other machines: poll instead.
NETWORK_FS = frozenset(
    {"cifs", "smb3", "smbfs", "nfs", "nfs4", "afs", "9p", "ceph", "glusterfs", "lustre",
     "fuse.sshfs", "fuse.rclone", "fuse.s3fs", "fuse.gcsfuse", "davfs", "fuse.davfs2", "vboxsf",
     "fuse.vmhgfs-fuse", "virtiofs", "drvfs"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Entry:
    path: Path
    rel: PurePosixPath  # relative to incoming/
    size: int
    mtime_ns: int


def walk(incoming: Path) -> tuple[list[Entry], list[Path]]:
    """Regular files under ``incoming`` (ignored names skipped) and the symlinks found.

    Symlinks, to files or folders, are never followed: they could point out of ROOT.
    """
    files: list[Entry] = []
    links: list[Path] = []
    for folder, items in walk_folders(incoming):
        if isinstance(items, OSError):
            if items.errno != errno.ENOENT:
                log.warning("%s: cannot list folder: %s", folder, items.strerror or items)
            continue
        for item in items:
            path = Path(item.path)
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished
            if stat.S_ISLNK(st.st_mode):
                links.append(path)
            elif stat.S_ISREG(st.st_mode):
                rel = PurePosixPath(*path.relative_to(incoming).parts)
                if not ignored_path(rel):
                    files.append(Entry(path, rel, st.st_size, st.st_mtime_ns))
    files.sort(key=lambda e: str(e.rel))
    return files, links


def open_for_writing(path: Path) -> bool | None:
    """Whether another process has ``path`` open for writing; None when it cannot be told.

    Linux only: a read lease (``F_SETLEASE``/``F_RDLCK``) is refused with EAGAIN while any
    process has the file open for writing. It needs the file to be ours (or CAP_LEASE) and a
    local file system; NFS/SMB mounts and other owners give None, and then only the settle
    time protects. (Scanning /proc/*/fd would also work but costs far too much per file.)
    """
    if not sys.platform.startswith("linux"):
        return None
    import fcntl

    set_lease = getattr(fcntl, "F_SETLEASE", 1024)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, set_lease, fcntl.F_RDLCK)
    except OSError as err:
        return True if err.errno in (errno.EAGAIN, errno.EBUSY) else None
    else:
        fcntl.fcntl(fd, set_lease, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


def fs_type(path: Path) -> str | None:
    """The file system type of the mount holding ``path`` (Linux: /proc/self/mounts)."""
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve())
    best, kind = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, parts[2]
    return kind


def is_network_fs(path: Path) -> bool:
    kind = fs_type(path)
    return kind is not None and kind in NETWORK_FS


class SettleTracker:
    """Releases files once stable. ``update`` takes each scan's entries and returns the settled."""

    def __init__(
        self,
        settle: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        writer_check: Callable[[Path], bool | None] = open_for_writing,
    ) -> None:
        self.settle = settle
        self._clock = clock
        self._writer_check = writer_check
        self._seen: dict[Path, tuple[int, int, float]] = {}

    def update(self, entries: Iterable[Entry]) -> list[Entry]:
        now = self._clock()
        settled: list[Entry] = []
        present = set()
        for e in entries:
            present.add(e.path)
            key = (e.size, e.mtime_ns)
            old = self._seen.get(e.path)
            if old is None or old[:2] != key:
                self._seen[e.path] = (*key, now)
                continue
            if now - old[2] < self.settle:
                continue
            if self._writer_check(e.path):
                log.debug("%s: still open for writing", e.path)
                self._seen[e.path] = (*key, now)
                continue
            settled.append(e)
        for gone in set(self._seen) - present:
            del self._seen[gone]
        return settled

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)

    @property
    def waiting(self) -> int:
        return len(self._seen)
