"""Per-environment OS locks held by the deploying process.

The lock is a ``flock`` on ``.trainmaster/locks/<env>.lock``. The kernel
releases it when the process dies (``kill -9``, a lost runner), which is how an
``in_progress`` deployment whose process is gone is found: its lock is free.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

if os.name == "posix":
    import fcntl
else:  # pragma: no cover - exercised on Windows runners only
    import msvcrt


def _lock_path(lock_dir: Path, environment: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in environment)
    tag = hashlib.sha256(environment.encode()).hexdigest()[:8]
    return lock_dir / f"{safe}-{tag}.lock"


class EnvironmentLock:
    """An exclusive lock on one environment."""

    def __init__(self, lock_dir: Path, environment: str) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        self.path = _lock_path(lock_dir, environment)
        self.environment = environment
        self._fd: int | None = None

    def acquire(self, *, wait: bool, timeout: float | None = None, poll: float = 0.1) -> bool:
        """Take the lock; with ``wait`` block (up to ``timeout``), else try once."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if _try_lock(fd):
                self._fd = fd
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                return True
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                os.close(fd)
                return False
            time.sleep(poll)

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def is_free(self) -> bool:
        """True when no process holds the lock (checked by taking and dropping it)."""
        if not self.path.exists():
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if _try_lock(fd):
                _unlock(fd)
                return True
            return False
        finally:
            os.close(fd)

    def __enter__(self) -> EnvironmentLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "posix":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    if os.name == "posix":
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
