"""One process per data directory: the embedded store is single-instance.

Two `ticketbot serve` on one directory would both poll and post every alert twice, and write the
same sqlite tables from two processes. An OS lock (``flock``) on a file in the directory says who
owns it; the kernel drops the lock when its holder exits in any way, ``kill -9`` included, so a
crash never leaves a stale lock behind. The file holds the owner's pid only so the refusal can name
it; the lock, not the pid, is what counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from bot.errors import DataDirInUseError

LOCK_NAME = "ticketbot.lock"


class DataDirLock:
    """An exclusive lock on ``directory``, held from ``acquire`` until ``release``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        """Take the lock, or raise DataDirInUseError naming the directory and the holder's pid."""
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUseError(
                f"the data directory {self.directory} is in use by another ticketbot "
                f"(pid {holder}); stop that one first, or give this one its own "
                "TICKETBOT_DATA_DIR. (Several instances need the shared-database mode.)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the directory up (idempotent). The file stays: deleting it would race a starter."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock
