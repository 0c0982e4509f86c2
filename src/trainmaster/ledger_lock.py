"""Waiting for the ledger's write lock: bounded, announced, never silent.

SQLite lets one connection write at a time (``BEGIN IMMEDIATE``); in WAL mode
readers never wait for it. A writer that is stopped (``kill -STOP``, Ctrl-Z, a
debugger, a paused CI runner) or just slow keeps the lock for as long as it
likes, so every wait for it is:

* announced: after :data:`NOTICE_AFTER` seconds, one line on stderr naming the
  ledger, the bound and the setting (and, on Linux, the process holding it);
* bounded by ``TRAINMASTER_LEDGER_TIMEOUT`` (seconds, default 120): then
  :class:`LedgerBusy` (exit 5) and nothing of the change was written;
* or skipped: an opportunistic write (marking dead deployments ``interrupted``
  during a read-only command) tries for :data:`SHORT_BUSY` seconds only, then
  :class:`LedgerBusy` at once, and the command answers from what it can read.

SQLite's own busy handler (``busy_timeout``) waits silently and Python's
``sqlite3`` cannot replace it, so the connection keeps a short ``busy_timeout``
and :func:`retrying` loops around it with the deadline and the notice.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainmaster.errors import Unavailable

SETTING = "TRAINMASTER_LEDGER_TIMEOUT"
SHORT_BUSY = 0.25
"""Seconds SQLite's own busy handler waits per attempt (and all an opportunistic write waits)."""
NOTICE_AFTER = 1.0
"""Seconds of waiting before the one-line notice on stderr."""

_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_WAL_WRITE_LOCK = 120  # byte of the -shm file SQLite locks while a connection writes (WALINDEX_LOCK_OFFSET)


class LedgerBusy(Unavailable):
    """The ledger's write lock stayed taken by another process (exit 5); nothing was written.

    ``reason`` is what happened without the advice, for a caller that knows more (a deployment that ran).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}; nothing was written. Run the command again once that process has finished "
                         "(a process stopped with Ctrl-Z or SIGSTOP keeps the lock until it is continued or ended)")
        self.reason = reason


def ledger_timeout(environ: Any = None) -> float:
    """``TRAINMASTER_LEDGER_TIMEOUT`` from ``environ`` (default ``os.environ``); exit 2 naming it if invalid."""
    from trainmaster.config._values import env_number

    return env_number(os.environ if environ is None else environ, SETTING)


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds a lock (not a damaged or unreadable file)."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    return code in _BUSY_CODES or "locked" in str(exc) or "busy" in str(exc)


def retrying(fn: Callable[[], Any], path: Path, timeout: float, *, wait: bool = True) -> Any:
    """``fn()``, tried again while the ledger is busy, until ``timeout`` seconds have passed.

    Each attempt already waits up to :data:`SHORT_BUSY` inside SQLite. After :data:`NOTICE_AFTER`
    seconds, one line on stderr says so. Without ``wait``, one attempt only.

    :raises LedgerBusy: when the lock is still taken at the deadline (or at once without ``wait``).
    """
    start = time.monotonic()
    noticed = False
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            waited = time.monotonic() - start
            if not wait:
                raise LedgerBusy(f"the ledger at {path} is busy: another trainmaster process is writing to it"
                                 ) from None
            if not noticed and waited >= NOTICE_AFTER:  # before giving up: a bound of 1 s or more always says so
                from trainmaster._output import echo

                noticed = True
                echo(f"waiting for the ledger at {path}: another trainmaster process{_holder(path)} is writing "
                     f"to it (up to {timeout:g} s; {SETTING})", err=True)
            if waited >= timeout:
                held = f"the ledger at {path} {'stayed' if timeout else 'is'} locked by another trainmaster process"
                raise LedgerBusy(f"{held}{_holder(path)} " + (f"for {timeout:g} s ({SETTING})" if timeout else
                                                             f"and {SETTING} is 0 (no wait)")) from None
            time.sleep(min(0.05, max(0.0, timeout - waited)))


def _holder(path: Path) -> str:
    """`` (pid N, stopped)``: the process holding the write lock, from ``/proc/locks``; empty when unknown."""
    try:
        inode = os.stat(f"{path}-shm").st_ino
        with open("/proc/locks") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ""
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 8 or fields[1] not in ("POSIX", "OFDLCK") or fields[3] != "WRITE":
            continue
        try:
            pid, ino, first, last = int(fields[4]), int(fields[5].rsplit(":", 1)[1]), int(fields[6]), fields[7]
            end = int(last) if last != "EOF" else _WAL_WRITE_LOCK
        except (ValueError, IndexError):
            continue
        if ino == inode and first <= _WAL_WRITE_LOCK <= end and pid > 0 and pid != os.getpid():
            return f" (pid {pid}{', stopped' if _stopped(pid) else ''})"
    return ""


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_OS_CODES = {3: "EPERM", 8: "EROFS", 10: "EIO", 13: "ENOSPC", 14: "EACCES"}  # PERM READONLY IOERR FULL CANTOPEN


def explain_error(exc: sqlite3.DatabaseError, folder: Path | None) -> Exception:
    """The user-facing error for a failing ledger: the machine's state (exit 5) unless it is corruption.

    A lock held by another process is :class:`LedgerBusy` (exit 5). For a refusal by the operating
    system (full, read-only, no permission, cannot open) the real cause is found by trying to write
    a byte into ``folder``; only a damaged file says "restore it from a backup" (exit 4).
    """
    import errno

    from trainmaster.errors import IntegrityError, from_os_error

    where = folder if folder is not None else "the ledger"
    if is_busy(exc):
        return LedgerBusy(f"the ledger in {where} is locked by another trainmaster process ({exc})")
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in _CORRUPT_CODES or code not in _OS_CODES:
        return IntegrityError(f"the ledger cannot be read ({exc}); restore it from a backup")
    if folder is not None:
        probe = folder / f".write-probe-{os.getpid()}"
        try:
            fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"\0" * 4096)
            finally:
                os.close(fd)
                probe.unlink(missing_ok=True)
        except OSError as found:
            return from_os_error(found, where)
    name = _OS_CODES[code]
    return from_os_error(OSError(getattr(errno, name), os.strerror(getattr(errno, name))), where)
