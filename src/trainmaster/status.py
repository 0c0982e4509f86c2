"""Where the train stands: one typed row per environment (the domain behind ``trainmaster status``).

:func:`environment_status` only reads: it never reaps interrupted deployments nor
writes anything. A command that wants dead deployments shown as ``interrupted``
calls :meth:`trainmaster.app.App.reap_interrupted` first. The CLI renders the rows
(a text table, ``status --json``) and :mod:`trainmaster.summary` renders them as
Markdown for the CI contexts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.model import Release

__all__ = ["EnvironmentStatus", "environment_status"]

RECENT_RELEASES = 20
"""How many of the newest releases are considered when looking for an environment's next one."""


@dataclass(frozen=True)
class EnvironmentStatus:
    """One environment: what it holds, and what could go there next.

    ``status`` is the latest deployment's status, or ``none`` for an environment never
    deployed. ``next`` is the version that could go there next and ``pending`` the gates
    it still waits for. ``url`` is optional presentation data (a link for the summary);
    it is not part of ``status --json``.
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


def environment_status(app: App) -> list[EnvironmentStatus]:
    """Every environment of the config, in train order (read only)."""
    from trainmaster.strategies import rollout_status
    from trainmaster.train import pending_gates

    releases = app.ledger.recent_releases(app.config.project, RECENT_RELEASES)
    rows = []
    for env in app.config.environments:
        current = app.view.current(env.name)
        candidate = _candidate(app, env, releases)
        rows.append(EnvironmentStatus(
            name=env.name,
            stage=env.stage,
            version=current.version if current else None,
            release_id=current.release_id if current else None,
            status=current.status if current else "none",
            pending=pending_gates(app.config, env, candidate, app.view, app.ledger) if candidate else [],
            next=candidate.version if candidate else None,
            deployment=current.id if current else None,
            actor=current.actor if current else None,
            finished_at=current.finished_at if current else None,
            rollout=rollout_status(app, env, current),
        ))
    return rows
