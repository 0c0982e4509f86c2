"""Read-only questions of the operator's view (``status``, ``deployment show``, ``audit log``).

Functions over a :class:`~trainmaster.ledger.SqliteLedger`, kept apart from its writes.
Each uses an index (``deployments_by_environment``, ``deployments_by_release``,
``deployments_in_progress``, ``audit_by_kind``) and walks back from the newest row, so
its cost does not grow with the ledger (``bench/bench_core_ledger.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainmaster.interfaces import Deployment
    from trainmaster.ledger import SqliteLedger

__all__ = ["AuditEvent", "audit_events", "bytes_from", "last_attempt", "rolled_back_by", "since"]


def _one(ledger: SqliteLedger, where: str, args: tuple[Any, ...], order: str = "id DESC") -> Deployment | None:
    found = ledger._deployments(f"WHERE {where} ORDER BY {order} LIMIT 1", args)  # each row checked (exit 4)
    return found[0] if found else None


def since(ledger: SqliteLedger, current: Deployment) -> str | None:
    """When ``current``'s release came to its environment: the first success of its unbroken run there.

    A forced redeploy of the same release does not reset it; a rollback to it after another
    release does.
    """
    other = ledger.conn.execute(
        "SELECT id FROM deployments WHERE environment = ? AND id < ? AND status = 'succeeded' AND release_id != ? "
        "ORDER BY id DESC LIMIT 1", (current.environment, current.id, current.release_id)).fetchone()
    first = _one(ledger, "release_id = ? AND environment = ? AND status = 'succeeded' AND id > ?",
                 (current.release_id, current.environment, other[0] if other else 0), order="id")
    return (first or current).finished_at


def bytes_from(ledger: SqliteLedger, environment: str, package: str, upto: int) -> Deployment | None:
    """The newest deployment (up to #``upto``) in ``environment`` that put ``package``'s bytes there.

    A skipped package (its desired state unchanged) still holds what an earlier deployment
    put there: this walks back past the skips to the one whose outcome was ``deployed``.
    """
    return _one(ledger, "environment = ? AND id <= ? AND json_extract(packages, ?) = 'deployed'",
                (environment, upto, f'$."{package}"'))


def last_attempt(ledger: SqliteLedger, environment: str) -> Deployment | None:
    """The newest deployment in ``environment`` that was not a rollback (what someone last tried)."""
    return _one(ledger, "environment = ? AND kind != 'rollback'", (environment,))


def rolled_back_by(ledger: SqliteLedger, dep: Deployment) -> Deployment | None:
    """The rollback that followed ``dep`` in its environment (the next deployment there, if a rollback)."""
    after = _one(ledger, "environment = ? AND id > ?", (dep.environment, dep.id), order="id")
    return after if after is not None and after.kind == "rollback" and dep.status != "succeeded" else None


def rolled_back(ledger: SqliteLedger, dep: Deployment) -> Deployment | None:
    """For a rollback: the failed deployment just before it in its environment, if any."""
    if dep.kind != "rollback":
        return None
    before = _one(ledger, "environment = ? AND id < ?", (dep.environment, dep.id))
    return before if before is not None and before.status in ("failed", "cancelled", "interrupted") else None


@dataclass(frozen=True)
class AuditEvent:
    """One event of the audit log, as ``audit log`` prints it."""

    seq: int
    at: str
    actor: str
    kind: str
    subject: str
    data: dict[str, Any]
    prev: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "actor": self.actor, "kind": self.kind, "subject": self.subject,
                "data": self.data, "prev": self.prev, "hash": self.hash}


def audit_events(ledger: SqliteLedger, *, since_seq: int = 0, since_time: str | None = None,
                 kind: str | None = None) -> Iterator[AuditEvent]:
    """Audit events in order, after ``since_seq`` and at or after ``since_time``, of one ``kind`` if given."""
    where, args = ["seq > ?"], [since_seq]
    if since_time:
        where.append("at >= ?")
        args.append(since_time)  # type: ignore[arg-type]
    if kind:
        where.append("kind = ?")
        args.append(kind)  # type: ignore[arg-type]
    sql = (f"SELECT seq, at, actor, kind, subject, data, prev, hash FROM audit WHERE {' AND '.join(where)} "
           "ORDER BY seq")
    for seq, at, actor, kind_, subject, data, prev, digest in ledger.conn.execute(sql, args):
        yield AuditEvent(seq, at, actor, kind_, subject, json.loads(data), prev, digest)
