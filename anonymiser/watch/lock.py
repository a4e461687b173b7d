"""The watcher's one-per-folder lock: ``flock`` on Linux and macOS, a byte-range lock on Windows.

Either way the lock goes when the process does, even if it is killed.
"""

from __future__ import annotations

import os
import sys

_WINDOWS_BYTE = (
    1 << 20
)  # Windows locks a byte range: one far past the pid text, which stays readable


def try_lock(fd: int, *, shared: bool = False) -> bool:
    """Take the lock on ``fd`` without waiting; False if another process holds it.

    ``shared`` (a reader's check) is exclusive on Windows, which has no shared lock here: release
    it with ``unlock`` at once.
    """
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return True
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        finally:
            os.lseek(fd, 0, os.SEEK_SET)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)
