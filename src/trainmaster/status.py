"""Where the train stands: one typed row per environment (the domain behind ``trainmaster status``).

:func:`environment_status` only reads: it never reaps interrupted deployments nor
writes anything. A command that wants dead deployments shown as ``interrupted``
calls :meth:`trainmaster.app.App.reap_interrupted` first. The CLI renders the rows
(a text table, ``status --json``) and :mod:`trainmaster.summary` renders them as
Markdown for the CI contexts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainmaster.model import parse_time

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.model import Release

__all__ = ["EnvironmentStatus", "ago", "duration", "environment_status"]

RECENT_RELEASES = 20
"""How many of the newest releases are considered when looking for an environment's next one."""


@dataclass(frozen=True)
class EnvironmentStatus:
    """One environment: what it holds, and what could go there next.

    ``status`` is the latest deployment's status, or ``none`` for an environment never
    deployed. ``next`` is the version that could go there next and ``pending`` the gates
    it still waits for. ``url`` is optional presentation data (a link for the summary);
    it is not part of ``status --json``.

    What is really there: ``current`` is the release of the last successful deployment
    (``{"version", "release_id", "deployment", "since"}``, ``since`` the first success of
    its unbroken run); ``packages`` says, per package, which deployment put its bytes
    there (``{"name", "version", "deployment"}``; a skipped package keeps an earlier
    deployment's bytes); ``last_failure`` is the last attempt (not a rollback) when it
    failed (``{"deployment", "version", "status", "reason", "at", "rolled_back_by"}``);
    ``active`` the deployments running or queued (``{"deployment", "version", "actor",
    "since", "state": "running|queued"}``); ``gates`` the next candidate's gates as data
    (:class:`trainmaster.gates.Gate`).
    """

    name: str
    stage: str
    version: str | None = None
    release_id: str | None = None
    status: str = "none"
    pending: list[str] = field(default_factory=list)
    next: str | None = None
    deployment: int | None = None
    actor: str | None = None
    finished_at: str | None = None
    url: str | None = None
    current: dict[str, Any] | None = None
    packages: list[dict[str, Any]] = field(default_factory=list)
    last_failure: dict[str, Any] | None = None
    active: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    verification: str | None = None
    """``passed``/``failed``: the performance verification of the current deployment (``verify:``), if any."""
    rollout: dict[str, Any] | None = None
    """Where its instances stand (:func:`trainmaster.strategies.rollout_status`); None without instances."""

    def waiting(self) -> str:
        """What the next release waits for: ``""``, ``ready: 1.2.0``, or ``1.2.0: gate; gate``."""
        if not self.next:
            return "; ".join(self.pending)
        return f"{self.next}: {'; '.join(self.pending)}" if self.pending else f"ready: {self.next}"

    def to_json(self) -> dict[str, Any]:
        """The ``status --json`` shape (README: "JSON output")."""
        data: dict[str, Any] = {
            "name": self.name,
            "stage": self.stage,
            "version": self.version,
            "release_id": self.release_id,
            "status": self.status,
            "pending": list(self.pending),
            "next": self.next,
            "deployment": self.deployment,
            "actor": self.actor,
            "finished_at": self.finished_at,
            "current": self.current,
            "packages": list(self.packages),
            "last_failure": self.last_failure,
            "active": list(self.active),
            "gates": list(self.gates),
            "verification": self.verification,
        }
        if self.rollout is not None:  # only for an environment with instances
            data["rollout"] = self.rollout
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EnvironmentStatus:
        """A row read back from ``status --json`` (missing keys take their defaults)."""
        deployment = data.get("deployment")
        return cls(
            name=str(data["name"]),
            stage=str(data.get("stage") or data["name"]),
            version=data.get("version"),
            release_id=data.get("release_id"),
            status=str(data.get("status") or "none"),
            pending=[str(p) for p in data.get("pending") or []],
            next=data.get("next"),
            deployment=deployment if isinstance(deployment, int) else None,
            actor=data.get("actor"),
            finished_at=data.get("finished_at"),
            url=data.get("url") or data.get("environment_url"),
            current=data.get("current"),
            packages=list(data.get("packages") or []),
            last_failure=data.get("last_failure"),
            active=list(data.get("active") or []),
            gates=list(data.get("gates") or []),
            verification=data.get("verification"),
            rollout=data.get("rollout") if isinstance(data.get("rollout"), dict) else None,
        )


def _candidate(app: App, env: Environment, releases: list[Release]) -> Release | None:
    """The newest release that could go to ``env`` next: never tried there, and past the previous stage."""
    from trainmaster.train import previous_stage_passed_at

    for rel in reversed(releases):
        if app.ledger.attempted(rel.id, env.name):
            return None
        if env.stage_index == 0 or previous_stage_passed_at(app.config, env, rel, app.view)[0]:
            return rel
    return None


def ago(moment: str | None, now: dt.datetime | None = None) -> str:
    """``2h ago``, ``5m ago``, ``just now`` (``-`` for no time); a future time is ``in 3m``."""
    if not moment:
        return "-"
    now = now or dt.datetime.now(dt.UTC)
    try:
        seconds = (now - parse_time(moment)).total_seconds()
    except (ValueError, TypeError):
        return moment
    if abs(seconds) < 5:
        return "just now"
    text = duration(abs(seconds))
    return f"{text} ago" if seconds > 0 else f"in {text}"


def duration(seconds: float) -> str:
    """The largest unit or two: ``45s``, ``25m``, ``2h10m``, ``3d4h``."""
    seconds = int(seconds)
    for unit, size, small, small_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "", 1)):
        if seconds >= size:
            rest = (seconds % size) // small_size if small else 0
            return f"{seconds // size}{unit}" + (f"{rest}{small}" if rest else "")
    return f"{seconds}s"


def _failure(app: App, env: Environment) -> dict[str, Any] | None:
    from trainmaster.ledger_queries import last_attempt, rolled_back_by

    tried = last_attempt(app.ledger, env.name)
    if tried is None or tried.status not in ("failed", "cancelled", "interrupted"):
        return None
    rollback = rolled_back_by(app.ledger, tried)
    lines = tried.excerpt.strip().splitlines()
    reason = tried.reason or (lines[-1] if lines else "")
    return {"deployment": tried.id, "version": tried.version, "status": tried.status, "reason": reason,
            "at": tried.finished_at, "rolled_back_by": rollback.id if rollback else None}


def _truth(app: App, env: Environment, queue: list[dict[str, Any]]) -> dict[str, Any]:
    """What is really in ``env``: its release, each package's bytes, the last failure, what runs or waits."""
    from trainmaster.ledger_queries import bytes_from, since

    good = app.ledger.last_success(env.name)
    current = packages = None
    if good is not None:
        current = {"version": good.version, "release_id": good.release_id, "deployment": good.id,
                   "since": since(app.ledger, good)}
        packages = []
        for name in good.packages:
            put = bytes_from(app.ledger, env.name, name, good.id)
            packages.append({"name": name, "version": put.version if put else None,
                             "deployment": put.id if put else None})
    active = [{"deployment": d.id, "version": d.version, "actor": d.actor, "since": d.started_at,
               "state": "running"} for d in app.ledger.in_progress() if d.environment == env.name]
    active += [{"deployment": None, "version": q.get("version"), "actor": q.get("actor"), "since": q.get("since"),
                "state": "queued"} for q in queue if q.get("environment") == env.name]
    return {"current": current, "packages": packages or [], "last_failure": _failure(app, env), "active": active}


def _verification(app: App, env: Environment, deployment: int) -> str | None:
    from trainmaster.duty_records import verification

    found = verification(app.ledger, deployment_id=deployment, environment=env.name)
    return None if found is None else ("passed" if found["passed"] else "failed")


def environment_status(app: App) -> list[EnvironmentStatus]:
    """Every environment of the config, in train order (read only)."""
    from trainmaster.gates import describe_gates
    from trainmaster.strategies import rollout_status
    from trainmaster.train import pending_gates
    from trainmaster.waiting import queued

    releases = app.ledger.recent_releases(app.config.project, RECENT_RELEASES)
    queue = queued(app.state_dir)
    now = app.clock()
    rows = []
    for env in app.config.environments:
        current = app.view.current(env.name)
        candidate = _candidate(app, env, releases)
        gates = describe_gates(app.config, env, candidate, app.view, app.ledger, now) if candidate else []
        rows.append(EnvironmentStatus(
            name=env.name,
            stage=env.stage,
            version=current.version if current else None,
            release_id=current.release_id if current else None,
            status=current.status if current else "none",
            pending=pending_gates(app.config, env, candidate, app.view, app.ledger, now) if candidate else [],
            next=candidate.version if candidate else None,
            deployment=current.id if current else None,
            actor=current.actor if current else None,
            finished_at=current.finished_at if current else None,
            gates=[g.to_json() for g in gates if not g.met],
            **_truth(app, env, queue),
            verification=_verification(app, env, current.id) if current and env.verify else None,
            rollout=rollout_status(app, env, current),
        ))
    return rows
