"""The release board: what ``trainmaster board`` shows, gathered from the ledgers (reads only).

:func:`collect` builds a :class:`Board` from the status rows (:mod:`trainmaster.status`), the
deployment history of the app's ``view`` (the configured ledger: the local one or a remote one
such as GitHub Deployments, through :class:`trainmaster.interfaces.RemoteLedger`) and the local
ledger for the rest (releases, approvals, the audit log). :mod:`trainmaster._board_html` renders
it as one self-contained HTML page. Remote data is hostile: nothing here formats HTML; the
renderer escapes every datum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.interfaces import Deployment
    from trainmaster.status import EnvironmentStatus

__all__ = ["Board", "Cell", "PendingApproval", "ReleaseRow", "collect"]

RELEASES = 20
"""Releases shown in the matrix (the newest)."""
PER_ENVIRONMENT = 50
"""Deployments read per environment from the view (a remote ledger pays one request for each)."""
LAST_DEPLOYMENTS = 15
AUDIT_EVENTS = 10


@dataclass(frozen=True)
class Cell:
    """One release in one environment.

    ``state``: ``live`` (the environment's current deployment, succeeded), ``deployed`` (succeeded
    there once, replaced since), ``failed``, ``in_progress``, ``pending`` (held by the remote
    system), ``interrupted``, ``cancelled``, ``waiting`` (the environment's next candidate, gates
    pending), ``ready`` (the next candidate, no gate pending) or ``none``.
    """

    state: str
    detail: str = ""
    note: str = ""  # shown in the cell: the gates pending, or why it failed and where it went back to
    deployment: int | None = None


@dataclass(frozen=True)
class ReleaseRow:
    version: str
    release_id: str
    created_at: str
    created_by: str


@dataclass(frozen=True)
class PendingApproval:
    version: str
    environment: str
    needed: int
    approved_by: list[tuple[str, str, str]]  # (actor, at, comment) of the approvals that count
    may_approve: str
    remote: bool = False  # enforced by the remote system (GitHub's required reviewers)
    rejected: str = ""  # the rejection that started the current round


@dataclass
class Board:
    project: str
    ledger: str
    generated_at: str
    rows: list[EnvironmentStatus]
    releases: list[ReleaseRow]
    cells: dict[tuple[str, str], Cell]
    approvals: list[PendingApproval]
    deployments: list[Deployment]
    reasons: dict[int, str] = field(default_factory=dict)
    audit: list[tuple[int, str, str, str, str, str]] = field(default_factory=list)

    def cell(self, release_id: str, environment: str) -> Cell:
        return self.cells.get((release_id, environment), Cell("none"))


def failure_reason(dep: Deployment) -> str:
    """Why ``dep`` failed: its recorded reason when the ledger has one, else the last line of its
    (masked) output excerpt, or ``""``."""
    if dep.reason:
        return dep.reason[:300]
    lines = [line.strip() for line in (dep.excerpt or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _cell(dep: Deployment, row: EnvironmentStatus, later: list[Deployment]) -> Cell:
    when = dep.finished_at or dep.started_at
    detail = f"#{dep.id} {dep.kind} by {dep.actor}, {when}"
    if dep.status == "succeeded":
        return Cell("live" if row.deployment == dep.id else "deployed", detail, deployment=dep.id)
    notes = [failure_reason(dep)] if dep.status == "failed" else []
    if dep.status == "failed" and later and later[0].kind == "rollback":
        notes.append(f"rolled back to {later[0].version}")
    note = "; ".join(n for n in notes if n)
    return Cell(dep.status, f"{detail}; {note}" if note else detail, note, dep.id)


def _matrix(app: App, rows: list[EnvironmentStatus], histories: dict[str, list[Deployment]],
            limit: int) -> tuple[list[ReleaseRow], dict[tuple[str, str], Cell]]:
    known: dict[str, ReleaseRow] = {}
    for rel in app.ledger.recent_releases(app.config.project, limit):
        meta = rel.metadata or {}
        known[rel.id] = ReleaseRow(rel.version, rel.id, str(meta.get("created_at") or ""), rel.created_by or "")
    cells: dict[tuple[str, str], Cell] = {}
    for row in rows:
        history = histories.get(row.name, [])
        for index, dep in enumerate(history):  # oldest first: the latest attempt wins
            if dep.release_id not in known:  # recorded only remotely (another runner created it)
                known[dep.release_id] = ReleaseRow(dep.version, dep.release_id, dep.started_at, "")
            cells[(dep.release_id, row.name)] = _cell(dep, row, history[index + 1:])
    releases = sorted(known.values(), key=lambda r: r.created_at, reverse=True)[:limit]
    by_version = {r.version: r for r in releases}
    for row in rows:
        nxt = by_version.get(row.next or "")
        if nxt is not None and (nxt.release_id, row.name) not in cells:
            cells[(nxt.release_id, row.name)] = Cell("waiting" if row.pending else "ready", "; ".join(row.pending),
                                                    "; ".join(row.pending))
    return releases, cells


def _pending_approval(app: App, env: Environment, row: EnvironmentStatus) -> PendingApproval | None:
    """The approvals ``row``'s next candidate still waits for in ``env`` (:mod:`trainmaster.rounds`' rule)."""
    from trainmaster.rounds import approval_counts, counted, current_round, may_still_approve, required

    if not row.next:
        return None
    enforced = getattr(app.view, "approvals_enforced_remotely", None)
    if enforced is not None and enforced(env):
        if not env.approvals or env.approvals.count <= 0:
            return None
        return PendingApproval(row.next, env.name, env.approvals.count, [],
                               f"the required reviewers of {app.config.ledger}", remote=True)
    rel = app.ledger.get_release(app.config.project, row.next)
    if rel is None:
        return None
    rnd = current_round(app.ledger, rel.id, env.name)
    need = required(env, rnd)
    if need <= 0 or counted(env, rel, rnd) >= need:
        return None
    given = [a for a in rnd.current if approval_counts(env, rel, a.actor)[0]]
    who = may_still_approve(env, rel, rnd)
    if who is not None:
        may = ", ".join(who) or "nobody left"
    else:
        others = sorted({a.actor for a in given} | ({rel.created_by} if rel.created_by and not env.allow_self_approval
                                                     else set()))
        may = "anyone" + (f" except {', '.join(others)}" if others else "")
    rejected = (f"rejected by {rnd.rejection.actor} {rnd.rejection.at}"
                f"{': ' + rnd.rejection.comment if rnd.rejection.comment else ''}") if rnd.rejection else ""
    return PendingApproval(rel.version, env.name, need, [(a.actor, a.at, a.comment) for a in given], may,
                           rejected=rejected)


def collect(app: App, *, releases: int = RELEASES) -> Board:
    """Everything the board shows (reads only; the caller reaps interrupted deployments first)."""
    from trainmaster.model import timestamp
    from trainmaster.status import environment_status

    rows = environment_status(app)
    histories = {row.name: app.view.history(row.name, PER_ENVIRONMENT) for row in rows}
    matrix_releases, cells = _matrix(app, rows, histories, releases)
    pending = [p for env, row in zip(app.config.environments, rows, strict=True)
               if (p := _pending_approval(app, env, row)) is not None]
    everything = [dep for history in histories.values() for dep in history]
    latest = sorted(everything, key=lambda d: (d.started_at, d.id), reverse=True)[:LAST_DEPLOYMENTS]
    return Board(
        project=app.config.project,
        ledger=app.config.ledger,
        generated_at=timestamp(),
        rows=rows,
        releases=matrix_releases,
        cells=cells,
        approvals=pending,
        deployments=latest,
        reasons={d.id: failure_reason(d) for d in latest if d.status == "failed"},
        audit=app.ledger.audit_head(AUDIT_EVENTS),
    )
