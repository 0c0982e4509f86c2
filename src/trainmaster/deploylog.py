"""A deployment's log: exactly what it printed (already masked), kept in the store.

While a deployment runs, every piece of text it prints through its ``out`` callable is
also appended to ``<state_dir>/logs/<id>.log`` and flushed, so ``trainmaster logs N
--follow`` can tail it from another shell. When the deployment is recorded, that file
becomes a content-addressed blob of the store (:class:`trainmaster.store.Store`) whose
digest the deployment row keeps (``log``), and the file is removed.

The text is masked where it is produced (the runner's :class:`~trainmaster.masking.MaskingStream`),
so the log holds no secret that was not also on the screen: it stores what was printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.interfaces import Deployment
    from trainmaster.store import Store

__all__ = ["DeploymentLog", "follow", "log_path", "read_log"]

POLL = 0.2
"""Seconds between two looks at a followed deployment."""


def log_path(state_dir: Path, dep_id: int) -> Path:
    """Where the log of a running deployment grows."""
    return state_dir / "logs" / f"{dep_id}.log"


class DeploymentLog:
    """The growing log file of one running deployment."""

    def __init__(self, state_dir: Path, dep_id: int) -> None:
        self.path = log_path(state_dir, dep_id)
        self._fd: int | None = None
        try:  # a log that cannot be written never stops the deployment
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            import sys

            sys.stderr.write(f"warning: cannot write the log of deployment #{dep_id}: {exc.strerror or exc}\n")

    def write(self, text: str) -> None:
        """Append ``text``; a log that cannot be written never fails the deployment."""
        if self._fd is None or not text:
            return
        try:
            os.write(self._fd, text.encode("utf-8", errors="replace"))
        except OSError:
            self.close()

    def tee(self, out: Callable[[str], None]) -> Callable[[str], None]:
        """``out`` that also appends to the log."""

        def both(text: str) -> None:
            self.write(text)
            out(text)

        return both

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def store(self, store: Store) -> str:
        """Close the file, keep it as a blob of ``store`` and remove it; its digest ("" if it cannot be kept)."""
        if self._fd is None:
            return ""
        self.close()
        try:
            staged = store.stage(self.path)
            store.commit(staged)
        except Exception as exc:  # the deployment's outcome matters more than its log
            import sys

            sys.stderr.write(f"warning: cannot keep the log of this deployment in the store: {exc}\n")
            return ""
        self.path.unlink(missing_ok=True)
        return staged.digest


def read_log(app: App, dep: Deployment) -> bytes | None:
    """The log of ``dep``: its verified blob, or the file of a deployment still running (or killed)."""
    if dep.log:
        return app.store.verify(dep.log, name=f"log of deployment #{dep.id}").read_bytes()
    path = log_path(app.state_dir, dep.id)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def follow(app: App, dep_id: int, write: Callable[[bytes], None], *, poll: float = POLL,
           sleep: Callable[[float], None] = time.sleep) -> Deployment:
    """Write the log of deployment ``dep_id`` as it grows, until the deployment is recorded finished.

    Offsets are the same in the growing file and in the blob it becomes, so the end is
    read from the blob once the row names it; nothing is written twice or skipped.
    """
    offset = 0
    idle = 0
    path = log_path(app.state_dir, dep_id)
    while True:
        dep = app.ledger.get_deployment(dep_id)
        assert dep is not None
        if dep.status != "in_progress" or dep.log:
            data = read_log(app, dep) or b""
            if len(data) > offset:
                write(data[offset:])
            return dep
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            write(chunk)
            offset += len(chunk)
            continue
        idle += 1
        if idle % 10 == 0:  # a deployer killed without a trace: recorded interrupted, and the loop ends
            app.reap_interrupted(wait=False)
        sleep(poll)
