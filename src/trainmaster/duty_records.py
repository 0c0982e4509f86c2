"""The ledger records of the release duties (migration 6): runbook runs and their approvals,
quality-gate samples, sign-offs and performance verifications.

Every change is one transaction with its audit event, and every row is bound to the
audit chain like the core's own rows (:data:`trainmaster.audit.BOUND_TABLES`): each read
checks the rows it returns against their latest event (exit 4 on a row edited behind
trainmaster's back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainmaster.audit import select_sql

if TYPE_CHECKING:
    from trainmaster.ledger import SqliteLedger


@dataclass(frozen=True)
class Signoff:
    id: int
    release_id: str
    version: str
    environment: str
    actor: str
    at: str
    comment: str
    counts: bool
    revoked_at: str | None = None
    revoked_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "environment": self.environment, "actor": self.actor,
                "at": self.at, "comment": self.comment, "counts": self.counts, "revoked_at": self.revoked_at,
                "revoked_by": self.revoked_by}


def _rows(ledger: SqliteLedger, table: str, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    rows = ledger.conn.execute(select_sql(table, where), args).fetchall()
    return ledger._checked(table, rows)


def _now() -> str:
    from trainmaster.ledger import now

    return now()


# -- sign-offs -------------------------------------------------------------------------------


def signoffs(ledger: SqliteLedger, release_id: str, environment: str) -> list[Signoff]:
    """Every sign-off of ``release_id`` in ``environment``, revoked ones included, oldest first."""
    found = _rows(ledger, "signoffs", "WHERE release_id = ? AND environment = ? ORDER BY id", (release_id, environment))
    return [Signoff(r["id"], r["release_id"], r["version"], r["environment"], r["actor"], r["at"], r["comment"],
                    bool(r["counts"]), r["revoked_at"], r["revoked_by"]) for r in found]


def record_signoff(ledger: SqliteLedger, release_id: str, version: str, environment: str, actor: str,
                   comment: str, counts: bool) -> bool:
    """Record a sign-off; False if ``actor`` already holds one (not revoked) for this release here."""
    with ledger.transaction() as conn:
        if conn.execute("SELECT 1 FROM signoffs WHERE release_id = ? AND environment = ? AND actor = ? "
                        "AND revoked_at IS NULL", (release_id, environment, actor)).fetchone():
            return False
        cur = conn.execute("INSERT INTO signoffs (release_id, version, environment, actor, at, comment, counts) "
                           "VALUES (?,?,?,?,?,?,?)", (release_id, version, environment, actor, _now(), comment,
                                                      int(counts)))
        ledger._audit(conn, "signoff_recorded", actor, environment,
                      {"release_id": release_id, "version": version, "comment": comment, "counts": counts},
                      bound=("signoffs", int(cur.lastrowid or 0)))
    return True


def revoke_signoff(ledger: SqliteLedger, release_id: str, version: str, environment: str, actor: str) -> bool:
    """Revoke ``actor``'s sign-off of this release here; False if there was none."""
    with ledger.transaction() as conn:
        row = conn.execute("SELECT id FROM signoffs WHERE release_id = ? AND environment = ? AND actor = ? "
                           "AND revoked_at IS NULL", (release_id, environment, actor)).fetchone()
        if row is None:
            return False
        conn.execute("UPDATE signoffs SET revoked_at = ?, revoked_by = ? WHERE id = ?", (_now(), actor, row[0]))
        ledger._audit(conn, "signoff_revoked", actor, environment, {"release_id": release_id, "version": version},
                      bound=("signoffs", int(row[0])))
    return True


# -- quality gates ---------------------------------------------------------------------------


def record_gate_sample(ledger: SqliteLedger, release_id: str, version: str, environment: str, actor: str,
                       passed: bool, results: list[dict[str, Any]]) -> int:
    with ledger.transaction() as conn:
        cur = conn.execute("INSERT INTO gate_samples (release_id, version, environment, actor, at, passed, results) "
                           "VALUES (?,?,?,?,?,?,?)", (release_id, version, environment, actor, _now(), int(passed),
                                                      json.dumps(results, sort_keys=True)))
        sample = int(cur.lastrowid or 0)
        ledger._audit(conn, "gate_sampled", actor, environment,
                      {"release_id": release_id, "version": version, "passed": passed,
                       "failed": [r["gate"] for r in results if not r["ok"]]}, bound=("gate_samples", sample))
    return sample


def gate_samples(ledger: SqliteLedger, release_id: str, environment: str) -> list[dict[str, Any]]:
    found = _rows(ledger, "gate_samples", "WHERE release_id = ? AND environment = ? ORDER BY id",
                  (release_id, environment))
    return [{"id": r["id"], "at": r["at"], "passed": bool(r["passed"]), "results": json.loads(r["results"])}
            for r in found]


# -- performance verification ----------------------------------------------------------------


def record_verification(ledger: SqliteLedger, deployment_id: int, release_id: str, version: str, environment: str,
                        actor: str, passed: bool, metrics: dict[str, float], results: list[dict[str, Any]]) -> None:
    with ledger.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO verifications (deployment_id, release_id, version, environment, at, passed, metrics, results) "
            "VALUES (?,?,?,?,?,?,?,?)", (deployment_id, release_id, version, environment, _now(), int(passed),
                                         json.dumps(metrics, sort_keys=True), json.dumps(results, sort_keys=True)))
        ledger._audit(conn, "deployment_verified", actor, environment,
                      {"deployment": deployment_id, "release_id": release_id, "passed": passed, "metrics": metrics},
                      bound=("verifications", int(cur.lastrowid or 0)))


def verification(ledger: SqliteLedger, *, deployment_id: int | None = None, release_id: str | None = None,
                 environment: str, passed_only: bool = False) -> dict[str, Any] | None:
    """The newest verification of a deployment (or of a release in ``environment``), or None."""
    where, args = "WHERE environment = ?", [environment]  # type: tuple[str, list[Any]]
    if deployment_id is not None:
        where, args = where + " AND deployment_id = ?", [*args, deployment_id]
    if release_id is not None:
        where, args = where + " AND release_id = ?", [*args, release_id]
    if passed_only:
        where += " AND passed = 1"
    found = _rows(ledger, "verifications", where + " ORDER BY id DESC LIMIT 1", tuple(args))
    if not found:
        return None
    r = found[0]
    return {"deployment": r["deployment_id"], "version": r["version"], "passed": bool(r["passed"]), "at": r["at"],
            "metrics": json.loads(r["metrics"]), "results": json.loads(r["results"])}


# -- runbooks --------------------------------------------------------------------------------


def start_run(ledger: SqliteLedger, runbook: str, release_id: str, version: str, environment: str,
              deployment_id: int | None, actor: str) -> int:
    with ledger.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO runbook_runs (runbook, release_id, version, environment, deployment_id, actor, started_at, "
            "status) VALUES (?,?,?,?,?,?,?,?)",
            (runbook, release_id, version, environment, deployment_id, actor, _now(), "in_progress"))
        run_id = int(cur.lastrowid or 0)
        ledger._audit(conn, "runbook_started", actor, environment,
                      {"run": run_id, "runbook": runbook, "release_id": release_id, "version": version},
                      bound=("runbook_runs", run_id))
    return run_id


def finish_run(ledger: SqliteLedger, run_id: int, status: str, excerpt: str, *, wait: bool = True) -> None:
    with ledger.transaction(wait=wait) as conn:
        row = conn.execute("SELECT environment, actor, runbook FROM runbook_runs WHERE id = ?", (run_id,)).fetchone()
        conn.execute("UPDATE runbook_runs SET status = ?, finished_at = ?, excerpt = ? WHERE id = ?",
                     (status, _now(), excerpt[-4000:], run_id))
        ledger._audit(conn, "runbook_finished", row[1], row[0], {"run": run_id, "runbook": row[2], "status": status},
                      bound=("runbook_runs", run_id))


def runs(ledger: SqliteLedger, environment: str | None = None, runbook: str | None = None) -> list[dict[str, Any]]:
    """Runbook runs, oldest first."""
    where, args = "WHERE 1 = 1", []  # type: tuple[str, list[Any]]
    if environment:
        where, args = where + " AND environment = ?", [*args, environment]
    if runbook:
        where, args = where + " AND runbook = ?", [*args, runbook]
    found = _rows(ledger, "runbook_runs", where + " ORDER BY id", tuple(args))
    return [{"id": r["id"], "runbook": r["runbook"], "version": r["version"], "release_id": r["release_id"],
             "environment": r["environment"], "deployment": r["deployment_id"], "actor": r["actor"],
             "started_at": r["started_at"], "finished_at": r["finished_at"], "status": r["status"],
             "excerpt": r["excerpt"]} for r in found]


def record_run_approval(ledger: SqliteLedger, runbook: str, release_id: str, environment: str, actor: str,
                        comment: str, counts: bool) -> bool:
    """Record an approval to run ``runbook`` against ``release_id`` in ``environment``; False if a repeat."""
    with ledger.transaction() as conn:
        cur = conn.execute(
            "INSERT OR IGNORE INTO runbook_approvals (runbook, release_id, environment, actor, at, comment, counts) "
            "VALUES (?,?,?,?,?,?,?)", (runbook, release_id, environment, actor, _now(), comment, int(counts)))
        if cur.rowcount == 0:
            return False
        ledger._audit(conn, "runbook_approved", actor, environment,
                      {"runbook": runbook, "release_id": release_id, "comment": comment, "counts": counts},
                      bound=("runbook_approvals", int(cur.lastrowid or 0)))
    return True


def run_approvals(ledger: SqliteLedger, runbook: str, release_id: str, environment: str) -> list[tuple[str, bool]]:
    found = _rows(ledger, "runbook_approvals", "WHERE runbook = ? AND release_id = ? AND environment = ? ORDER BY id",
                  (runbook, release_id, environment))
    return [(r["actor"], bool(r["counts"])) for r in found]
