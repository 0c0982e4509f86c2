"""What an attacker with plain ``sqlite3`` does to the audit chain, for the remote-anchor tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from trainmaster.audit import event_hash


def rewrite_from(root: Path, seq: int) -> None:
    """Change event ``seq``'s actor and recompute every hash after it (the append-only trigger is
    dropped for the rewrite and put back afterwards), so the local chain verifies on its own."""
    conn = sqlite3.connect(root / ".trainmaster" / "ledger.db")
    (trigger,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'audit_no_update'").fetchone()
    with conn:
        conn.execute("DROP TRIGGER audit_no_update")
        events = conn.execute("SELECT seq, at, actor, kind, subject, data, prev FROM audit WHERE seq >= ? "
                              "ORDER BY seq", (seq,)).fetchall()
        prev = events[0][6]
        for number, at, actor, kind, subject, data, _ in events:
            actor = "mallory" if number == seq else actor
            digest = event_hash(number, at, actor, kind, subject, data, prev)
            conn.execute("UPDATE audit SET actor = ?, prev = ?, hash = ? WHERE seq = ?", (actor, prev, digest, number))
            prev = digest
        conn.execute(trigger)
    conn.close()
