"""Approval rounds: approvals, rejections and revocations of one release in one environment.

The rule (README, "Approvals"):

* The approvals, re-approvals, rejections and revocations of a release in an environment
  form one timeline (the ``approvals`` table holds each person's first approval, the
  ``approval_events`` table everything after it, each event ordered after the approvals
  that existed when it was written).
* ``reject`` ends the current round: every approval given before it stops counting, and
  the approvals gate refuses the release (exit 3, naming who rejected) until enough
  approvals are given *after* the rejection — at least one, even in an environment that
  needs none. The first ``approve`` after a rejection starts the new round; people who
  approved in the old round approve again.
* ``revoke`` withdraws one's own approval of the current round; it no longer counts.
  Approving again later counts again.

Every change is written with its audit event in one transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainmaster.interfaces import Approval

if TYPE_CHECKING:
    from trainmaster.config.model import Environment
    from trainmaster.ledger import SqliteLedger
    from trainmaster.model import Release


@dataclass(frozen=True)
class Action:
    """One entry of the timeline: ``approved``, ``rejected`` or ``revoked``."""

    kind: str
    actor: str
    at: str
    comment: str = ""


@dataclass
class Round:
    """Where a release stands in an environment's approvals."""

    current: list[Action] = field(default_factory=list)  # approvals of the current round, not revoked
    rejection: Action | None = None  # the latest rejection
    withdrawn: list[tuple[Action, str]] = field(default_factory=list)  # approvals that stopped counting, why
    timeline: list[Action] = field(default_factory=list)

    def approved_by(self, actor: str) -> bool:
        return any(a.actor == actor for a in self.current)


def _timeline(ledger: SqliteLedger, release_id: str, environment: str) -> list[Action]:
    """Every approval action, each row checked against its audit event (exit 4 when edited)."""
    from trainmaster.audit import select_sql

    where = "WHERE release_id = ? AND environment = ?"
    firsts = ledger._checked("approvals", ledger.conn.execute(
        select_sql("approvals", where), (release_id, environment)).fetchall())
    events = ledger._checked("approval_events", ledger.conn.execute(
        select_sql("approval_events", where), (release_id, environment)).fetchall())
    keyed: list[tuple[tuple[int, int, int], Action]] = [
        ((r["id"], 0, 0), Action("approved", r["actor"], r["at"], r["comment"])) for r in firsts]
    keyed += [((r["after_approval"], 1, r["id"]), Action(r["kind"], r["actor"], r["at"], r["comment"]))
              for r in events]
    return [action for _, action in sorted(keyed, key=lambda item: item[0])]


def current_round(ledger: SqliteLedger, release_id: str, environment: str) -> Round:
    """Replay the timeline of ``release_id`` in ``environment`` (see the module docstring)."""
    found = Round(timeline=_timeline(ledger, release_id, environment))
    live: dict[str, Action] = {}
    for action in found.timeline:
        if action.kind == "approved":
            live[action.actor] = action
        elif action.kind == "revoked" and action.actor in live:
            found.withdrawn.append((live.pop(action.actor), f"revoked by {action.actor} at {action.at}"))
        elif action.kind == "rejected":
            found.withdrawn += [(a, f"given before {action.actor} rejected it at {action.at}")
                                for a in live.values()]
            live = {}
            found.rejection = action
    found.current = list(live.values())
    return found


def approval_counts(env: Environment, release: Release, actor: str) -> tuple[bool, str]:
    """Whether ``actor``'s approval counts for ``release`` in ``env``, and why not.

    Not the creator (unless ``allow_self_approval``), and among ``approvals.from`` when
    that list is given.
    """
    if actor == release.created_by and not env.allow_self_approval:
        return False, f"{actor} created {release.version} (set allow_self_approval: true to allow this)"
    if env.approvals and env.approvals.from_ and actor not in env.approvals.from_:
        return False, f"{env.name} takes approvals from {', '.join(env.approvals.from_)} only"
    return True, ""


def required(env: Environment, rnd: Round) -> int:
    """How many counted approvals the current round needs: the configured count, at least 1 after a rejection."""
    need = env.approvals.count if env.approvals else 0
    return max(need, 1) if rnd.rejection is not None else need


def counted(env: Environment, release: Release, rnd: Round) -> int:
    return sum(approval_counts(env, release, a.actor)[0] for a in rnd.current)


def may_still_approve(env: Environment, release: Release, rnd: Round) -> list[str] | None:
    """Who may still give a counted approval; ``None`` for anyone (but the creator, unless allowed)."""
    if not env.approvals or not env.approvals.from_:
        return None
    return [name for name in env.approvals.from_
            if not rnd.approved_by(name) and approval_counts(env, release, name)[0]]


def _after(conn: sqlite3.Connection, release_id: str, environment: str) -> int:
    row = conn.execute("SELECT MAX(id) FROM approvals WHERE release_id = ? AND environment = ?",
                       (release_id, environment)).fetchone()
    return int(row[0] or 0)


def _event(conn: sqlite3.Connection, kind: str, release: Release, env: str, actor: str,
           at: str, comment: str) -> tuple[str, Any]:
    cur = conn.execute(
        "INSERT INTO approval_events (release_id, environment, actor, kind, at, comment, after_approval) "
        "VALUES (?,?,?,?,?,?,?)", (release.id, env, actor, kind, at, comment, _after(conn, release.id, env)))
    return "approval_events", cur.lastrowid


def _audit(ledger: SqliteLedger, conn: sqlite3.Connection, kind: str, actor: str, env: str,
           data: dict[str, Any], bound: tuple[str, Any]) -> None:
    ledger._audit(conn, kind, actor, env, data, bound=bound)


def record_approval(ledger: SqliteLedger, approval: Approval, release: Release) -> bool:
    """Record an approval of the current round; False if ``approval.actor`` already approved in it."""
    env = approval.environment
    with ledger.transaction() as conn:
        rnd = current_round(ledger, release.id, env)
        if rnd.approved_by(approval.actor):
            return False
        again = any(a.kind == "approved" and a.actor == approval.actor for a in rnd.timeline)
        if again:
            bound = _event(conn, "approved", release, env, approval.actor, approval.at, approval.comment)
        else:
            cur = conn.execute(
                "INSERT INTO approvals (release_id, environment, actor, at, comment, counts) VALUES (?,?,?,?,?,?)",
                (release.id, env, approval.actor, approval.at, approval.comment, int(approval.counts)))
            bound = ("approvals", cur.lastrowid)
        data = {"release_id": release.id, "version": release.version, "comment": approval.comment,
                "counts": approval.counts}
        if again:
            data["again"] = True
        _audit(ledger, conn, "approval_recorded", approval.actor, env, data, bound)
    return True


def reject(ledger: SqliteLedger, release: Release, env: str, actor: str, at: str, comment: str) -> Round:
    """Reject ``release`` in ``env``: the round ends; returns the round as it was before."""
    with ledger.transaction() as conn:
        before = current_round(ledger, release.id, env)
        bound = _event(conn, "rejected", release, env, actor, at, comment)
        _audit(ledger, conn, "approval_rejected", actor, env,
               {"release_id": release.id, "version": release.version, "comment": comment,
                "withdrawn": sorted(a.actor for a in before.current)}, bound)
    return before


def revoke(ledger: SqliteLedger, release: Release, env: str, actor: str, at: str, comment: str = "") -> bool:
    """Withdraw ``actor``'s approval of the current round; False if there is none."""
    with ledger.transaction() as conn:
        if not current_round(ledger, release.id, env).approved_by(actor):
            return False
        bound = _event(conn, "revoked", release, env, actor, at, comment)
        _audit(ledger, conn, "approval_revoked", actor, env,
               {"release_id": release.id, "version": release.version, "comment": comment}, bound)
    return True


def rounds_in(ledger: SqliteLedger, project: str, environment: str | None) -> list[tuple[str, str, str]]:
    """``(release_id, version, environment)`` of every release with an approval action, oldest first."""
    where = " AND x.environment = ?" if environment else ""
    sql = ("SELECT DISTINCT x.release_id, r.version, x.environment, r.created_at FROM "
           "(SELECT release_id, environment FROM approvals UNION "
           "SELECT release_id, environment FROM approval_events) AS x "
           f"JOIN releases r ON r.id = x.release_id WHERE r.project = ?{where} ORDER BY r.created_at, x.environment")
    args = [project] + ([environment] if environment else [])
    return [(r[0], r[1], r[2]) for r in ledger.conn.execute(sql, args).fetchall()]
