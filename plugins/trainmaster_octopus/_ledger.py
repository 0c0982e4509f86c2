"""The ``octopus`` ledger: what is deployed where, read from Octopus (cli #305).

One ``GET /progression/{projectId}`` per project answers ``status`` and
``history``: for each release, the latest deployment to each environment with
its task state and times. trainmaster environments are matched to Octopus ones
through the ``octopus`` settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import IntegrityError
from trainmaster.interfaces import Deployment, DeploymentStatus
from trainmaster.model import Release, remote_timestamp
from trainmaster_octopus._resources import RELEASE_ID_PATTERN, Octopus
from trainmaster_octopus._settings import Settings, client_for

if TYPE_CHECKING:
    from trainmaster.config.model import Config

__all__ = ["OctopusLedger"]

_WHERE = "an Octopus deployment"
_STATUS: dict[str, DeploymentStatus] = {
    "Success": "succeeded",
    "Failed": "failed",
    "TimedOut": "failed",
    "Canceled": "cancelled",
    "Cancelling": "in_progress",
    "Executing": "in_progress",
    "Queued": "pending",
}


_PROGRESSION: dict[tuple[int, str, int], dict[str, Any]] = {}
"""Progressions read in this process (one command), until a deployment changes them: ``status`` and the
train's checks ask the same question several times (up to 150 KB each)."""


def progression(octo: Octopus, project_id: str, take: int) -> dict[str, Any]:
    """``GET /progression/{projectId}`` once per command (until :func:`forget_progression`)."""
    key = (id(octo.client), project_id, take)
    if key not in _PROGRESSION:
        path = octo.client.space_path(f"progression/{project_id}")
        _PROGRESSION[key] = octo.client.get(path, {"releaseHistoryCount": take}) or {}
        for env in _PROGRESSION[key].get("Environments") or []:  # ids by name: no lookup needed later
            if env.get("Id") and env.get("Name"):
                octo.cache.setdefault(f"environments:{env['Name']}", dict(env))
    return _PROGRESSION[key]


def forget_progression() -> None:
    """A deployment was made (or the process starts a new command, in tests): read progressions again."""
    _PROGRESSION.clear()


class OctopusLedger:
    """Answers the train's questions from Octopus's progression and deployments."""

    def __init__(self, config: Config, local: Any = None, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.local = local
        self.settings = Settings.resolve(config)
        self.environ = environ

    def _octo(self) -> Octopus:
        return Octopus(client_for(self.settings, self.environ))

    def _env_names(self) -> dict[str, str]:
        """Octopus environment name → trainmaster environment name."""
        out = {}
        for env in self.config.environments:
            out[Settings.resolve(self.config, env).environment_name(env.name)] = env.name
        return out

    def _rows(self, take: int = 50) -> list[Deployment]:
        octo = self._octo()
        names = self._env_names()
        rows: list[Deployment] = []
        for project in self.settings.projects:
            proj = octo.project(project)
            prog = progression(octo, str(proj["Id"]), take)
            env_by_id = {str(e.get("Id")): str(e.get("Name")) for e in prog.get("Environments") or []}
            for entry in prog.get("Releases") or []:
                rel = entry.get("Release") or {}
                m = RELEASE_ID_PATTERN.search(str(rel.get("ReleaseNotes") or ""))
                for env_id, items in (entry.get("Deployments") or {}).items():
                    octo_env = env_by_id.get(str(env_id), str(env_id))
                    for item in items or []:
                        rows.append(
                            self._row(
                                item,
                                rel,
                                m.group(1) if m else "",
                                names.get(octo_env, octo_env),
                                project,
                                octo,
                            )
                        )
        rows.sort(key=lambda d: (d.started_at or "", d.id))
        return rows

    @staticmethod
    def _row(
        item: dict[str, Any], rel: dict[str, Any], release_id: str, env: str, project: str, octo: Octopus
    ) -> Deployment:
        state = str(item.get("State") or "")
        status: DeploymentStatus = _STATUS.get(state, "in_progress")
        if item.get("HasPendingInterruptions"):
            status = "pending"
        dep_id = str(item.get("DeploymentId") or item.get("Id") or "")
        num = re.fullmatch(r"Deployments-(\d{1,18})", dep_id)
        if num is None:  # answers are data: an id trainmaster cannot number is not taken as #0
            raise IntegrityError(f"{_WHERE} has an id that is not Deployments-N: {dep_id[:40]!r}")
        return Deployment(
            id=int(num.group(1)),
            release_id=release_id,
            version=str(item.get("ReleaseVersion") or rel.get("Version") or ""),
            environment=env,
            kind="deploy",
            status=status,
            actor="octopus",
            started_at=remote_timestamp(item.get("StartTime") or item.get("QueueTime") or item.get("Created"),
                                        _WHERE) or "",
            finished_at=remote_timestamp(item.get("CompletedTime"), _WHERE),
            remote={
                "project": project,
                "deployment": dep_id,
                "task": item.get("TaskId"),
                "state": state,
                "url": octo.client.web_link(f"tasks/{item.get('TaskId')}") if item.get("TaskId") else None,
            },
        )

    def succeeded(self, release: Release, environment: str) -> str | None:
        """When ``release`` last succeeded in ``environment`` (by version, in every project), else None."""
        wanted = {Settings.resolve(self.config).project_for(p.name) for p in release.packages}
        ok = [
            d
            for d in self._rows()
            if d.environment == environment
            and d.version == release.version
            and d.status == "succeeded"
            and (not d.release_id or d.release_id == release.id)
        ]
        if not ok or not wanted <= {d.remote.get("project") for d in ok}:
            return None
        return max(d.finished_at or d.started_at for d in ok)

    def history(self, environment: str | None, limit: int | None) -> list[Deployment]:
        rows = [d for d in self._rows() if environment is None or d.environment == environment]
        return rows[-limit:] if limit else rows

    def current(self, environment: str) -> Deployment | None:
        rows = self.history(environment, None)
        return rows[-1] if rows else None

    def anchors(self, environments: list[str]) -> Iterator[tuple[str, object]]:
        """The audit anchors in the notes of the projects' releases for ``environments`` (one paged pass
        over each project's releases; the core validates each line, see :mod:`trainmaster_octopus._anchor`)."""
        from trainmaster_octopus._anchor import read_anchors

        return read_anchors(self._octo(), list(self.settings.projects), environments)
