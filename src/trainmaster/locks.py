"""Per-environment OS locks held by the deploying process.

The lock is a ``flock`` on ``.trainmaster/locks/<env>.lock``. The kernel
releases it when the process dies (``kill -9``, a lost runner), which is how an
``in_progress`` deployment whose process is gone is found: its lock is free.
"""

from __future__ import annotations

import hashlib
import os
import secrets
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
        self.previous_groups: list[int] = []
        self.previous_token = ""
        self.token = ""  # this holder's run token: in its commands' environment (see :func:`stop_orphans`)
        self.waited = False

    def acquire(self, *, wait: bool, timeout: float | None = None, poll: float = 0.1) -> bool:
        """Take the lock; with ``wait`` block (up to ``timeout``), else try once."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if _try_lock(fd):
                self._fd = fd
                self.previous_groups = self.recorded_groups()
                self.previous_token = self.recorded_token()
                self.token = secrets.token_hex(12)
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\ntoken {self.token}\n".encode())
                return True
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                os.close(fd)
                return False
            time.sleep(poll)

    def note_command(self, pgid: int) -> None:
        """Record the process group of a command this deployment started (see :func:`stop_orphans`)."""
        if self._fd is not None:
            os.write(self._fd, f"pgid {pgid}\n".encode())

    def note_deployment(self, dep_id: int) -> None:
        """Record the deployment this process runs, so that ``trainmaster cancel`` can find it."""
        if self._fd is not None:
            os.write(self._fd, f"deployment {dep_id}\n".encode())

    def holder(self) -> tuple[int, list[int]] | None:
        """The process holding the lock and the deployments it recorded; None when the lock is free."""
        if self.is_free():
            return None
        try:
            lines = self.path.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid, [int(line.split()[1]) for line in lines if line.startswith("deployment ")]

    def recorded_token(self) -> str:
        """The run token of the last holder ("" when none was recorded)."""
        try:
            text = self.path.read_text()
        except OSError:
            return ""
        found = [line.split()[1] for line in text.splitlines() if line.startswith("token ") and len(line.split()) == 2]
        return found[0] if found else ""

    def recorded_groups(self) -> list[int]:
        try:
            text = self.path.read_text()
        except OSError:
            return []
        return [int(line.split()[1]) for line in text.splitlines() if line.startswith("pgid ")]

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
        else:  # pragma: no cover - msvcrt locks from the current position: always byte 0
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    if os.name == "posix":
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


def stop_orphans(groups: list[int], deployment_id: int, environment: str = "", project: str = "",
                 token: str = "") -> int:
    """Kill the command process groups a dead deployer left behind; return how many were stopped.

    A group is only touched when one of its processes still carries this deployment's
    ``TRAINMASTER_DEPLOYMENT_ID``, ``TRAINMASTER_ENVIRONMENT`` and ``TRAINMASTER_PROJECT``
    in its environment (read from ``/proc``), so a reused process group id is never hit.
    With the dead holder's ``token``, a group that was never recorded is found too, by its
    ``TRAINMASTER_RUN_TOKEN`` (the deployer can die between starting a command and recording it).
    Linux only; elsewhere nothing is stopped.
    """
    import signal

    proc = "/proc"
    if not os.path.isdir(proc):
        return 0
    markers = {f"TRAINMASTER_DEPLOYMENT_ID={deployment_id}".encode()}
    if environment:
        markers.add(f"TRAINMASTER_ENVIRONMENT={environment}".encode())
    if project:
        markers.add(f"TRAINMASTER_PROJECT={project}".encode())
    run_marker = f"TRAINMASTER_RUN_TOKEN={token}".encode() if token else None
    stopped = 0
    wanted = set(groups)
    found: set[int] = set()
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            pgrp = int(fields[2])
            if pgrp in found or (pgrp not in wanted and run_marker is None):
                continue
            with open(f"{proc}/{entry}/environ", "rb") as fh:
                environ = set(fh.read().split(b"\0"))
            if markers <= environ and (pgrp in wanted or run_marker in environ):
                found.add(pgrp)
        except (OSError, ValueError, IndexError):
            continue
    for pgrp in found:
        try:
            os.killpg(pgrp, signal.SIGKILL)
            stopped += 1
        except OSError:
            pass
    return stopped


class Cancelled(BaseException):
    """``trainmaster cancel`` asked this process to stop its deployment (SIGUSR1).

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` of a
    target swallows it; the running command's process group is stopped on the way out.
    """


class CancelSignal:
    """SIGUSR1 handling while a deployment runs: only an *armed* deployment is interrupted.

    A request that arrives after the deployment was recorded but before its commands start is
    raised when they start; one that arrives after the deployment ended is ignored.
    """

    def __init__(self) -> None:
        self.armed = False
        self.requested = False
        self._previous: object = None

    def install(self) -> None:
        import signal

        if not hasattr(signal, "SIGUSR1"):  # pragma: no cover - Windows: cancel is not available
            return
        try:
            self._previous = signal.signal(signal.SIGUSR1, self._handle)
        except ValueError:  # not the main thread (embedded use)
            self._previous = None

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.armed:
            self.armed = False
            raise Cancelled

    def arm(self) -> None:
        if self.requested:
            self.requested = False
            raise Cancelled
        self.armed = True

    def disarm(self) -> None:
        """The deployment is over: a request that comes now is for nothing that runs (ignored)."""
        self.armed = False
        self.requested = False

    def restore(self) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGUSR1, self._previous)  # type: ignore[arg-type]
            self._previous = None
