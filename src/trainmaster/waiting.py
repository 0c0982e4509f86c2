"""Deployments queued for an environment's lock (``concurrency: wait``), for ``status``.

A process that waits for a busy environment leaves a small JSON note in
``<state_dir>/queue/`` for as long as it waits; ``status`` lists the notes whose
process is still alive. A note left by a killed process is ignored and removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["queued", "waiting"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@contextmanager
def waiting(state_dir: Path, environment: str, version: str, actor: str) -> Iterator[None]:
    """Leave a note in the queue of ``environment`` while the body runs."""
    from trainmaster.model import timestamp

    folder = state_dir / "queue"
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / f"{os.getpid()}.json"
    note.write_text(json.dumps({"environment": environment, "version": version, "actor": actor,
                                "since": timestamp(), "pid": os.getpid()}))
    try:
        yield
    finally:
        note.unlink(missing_ok=True)


def queued(state_dir: Path) -> list[dict[str, Any]]:
    """The live notes, oldest first: ``{"environment", "version", "actor", "since", "pid"}``."""
    folder = state_dir / "queue"
    notes = []
    for path in folder.glob("*.json") if folder.is_dir() else ():
        try:
            data = json.loads(path.read_text())
            pid = int(data["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid):
            notes.append(data)
        else:
            path.unlink(missing_ok=True)
    return sorted(notes, key=lambda n: str(n.get("since")))
