"""The ``azure-devops`` ledger: "what is where" answered from release environments and deployments."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.interfaces import Deployment, DeploymentStatus
from trainmaster.model import remote_timestamp, semver_key
from trainmaster_azure import _remote
from trainmaster_azure._remote import Bound, Remote
from trainmaster_azure._settings import Settings

if TYPE_CHECKING:
    from trainmaster.config.model import Config
    from trainmaster.model import Release

STATUS_PAGE = 50
"""Deployments read at once when one stage's latest is asked for: the other stages' are usually among them."""

STATUS: dict[str, DeploymentStatus] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "inProgress": "in_progress",
    "notDeployed": "pending",
    "undefined": "pending",
}


def _iso(value: Any) -> str | None:
    return remote_timestamp(value, "an Azure DevOps release")


def mark_rollbacks(history: list[Deployment]) -> None:
    """Mark as ``rollback`` each deployment (oldest first) of a version older than one deployed before
    it to the same environment.

    Azure keeps no comment on a deployment (the one trainmaster sends with the PATCH is not returned
    by ``Deployments_List``), so the kind is told from the order of versions: going back to an older
    version is what ``trainmaster rollback`` does (and what a manual redeploy of an older build is).
    """
    highest: dict[str, tuple[Any, ...]] = {}
    for dep in history:
        key = semver_key(dep.version)
        top = highest.get(dep.environment)
        if top is not None and key < top:
            dep.kind = "rollback"
        if dep.status != "pending" and (top is None or key > top):
            highest[dep.environment] = key


class AzureLedger(Bound):
    """:class:`trainmaster.interfaces.RemoteLedger` over one release definition.

    :param config: the configuration (its ``azure-devops:`` block names the definition).
    :param local: the local SQLite ledger (unused: Azure answers; the audit log stays local).
    """

    def __init__(
        self,
        config: Config,
        local: Any = None,
        *,
        environ: Mapping[str, str] | None = None,
        http: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(config, None, environ, http)
        self.local = local
        self._remote: Remote | None = None

    @property
    def remote(self) -> Remote:
        if self._remote is None:
            self._remote = self._open()
        return self._remote

    def anchors(self, environments: list[str]) -> Iterator[tuple[str, object]]:
        """The audit anchors kept in the classic releases' properties for the stages of ``environments``.

        One paged pass over the definition's releases (100 a page, ``propertyFilters`` naming just
        those properties and the project mark); the core validates each text.
        """
        from trainmaster_azure.client import properties_of

        remote = self.remote
        stages = sorted({self._stage(name) for name in environments})
        keys = [f"{_remote.MARK_AUDIT}.{stage}" for stage in stages]
        query = {"definitionId": str(remote.definition().id), "$top": str(_remote.PAGE_SIZE),
                 "queryOrder": "descending", "propertyFilters": ",".join([_remote.MARK_PROJECT, *keys])}
        for _ in range(_remote.MAX_PAGES):
            items, token = remote._release_page(query)
            for classic in items:
                props = properties_of(classic)
                if props.get(_remote.MARK_PROJECT) not in (None, self.config.project):
                    continue
                for stage, key in zip(stages, keys, strict=True):
                    if key in props:
                        yield f"classic release {getattr(classic, 'name', classic.id)} (stage {stage})", props[key]
            if not token:
                return
            query["continuationToken"] = token
        from trainmaster.errors import Unavailable

        raise Unavailable(f"release definition {remote.definition().name!r} has more than "
                          f"{_remote.MAX_PAGES * _remote.PAGE_SIZE} classic releases: not every audit anchor was read")

    def _stage(self, environment: str) -> str:
        env = self.config.environment(environment)
        s = Settings.resolve(self.config, env, self.environ) if env is not None else self.remote.s
        wanted = s.stage_for(environment)
        return self.remote.stage(wanted) or wanted

    def _environment_of(self, stage: str) -> str:
        for env in self.config.environments:
            if self._stage(env.name) == stage:
                return env.name
        return stage

    def succeeded(self, release: Release, environment: str) -> str | None:
        from trainmaster_azure._publish import pinned_build

        environ = os.environ if self.environ is None else self.environ
        match, _ = self.remote.find(release, pinned_build(release, environ))
        if match is None:
            return None
        full = self.remote.release_of(match.id)
        stage = self._stage(environment)
        for env in full.environments or []:
            if env.name == stage and env.status == "succeeded":
                return _iso(env.modified_on) or ""
        return None

    def _deployments(self, env_id: int | None, top: int) -> list[Any]:
        """``Deployments_List`` of the definition (one stage's when ``env_id``), newest first; read once per
        command until a stage is started. A stage's latest deployment is taken from the definition-wide
        list already read when it is there, so ``status`` needs one list for all stages."""
        remote = self.remote
        cache: dict[tuple[int | None, int], list[Any]] = remote.shared.setdefault("deployments", {})
        if (env_id, top) in cache:
            return cache[(env_id, top)]
        if env_id is not None and top == 1:
            wide = self._deployments(None, STATUS_PAGE)
            mine = [d for d in wide if d.definition_environment_id == env_id]
            if mine or len(wide) < STATUS_PAGE:
                return mine[:1]
        kwargs: dict[str, Any] = {"definition_id": remote.definition().id, "query_order": "descending", "top": top}
        if env_id is not None:
            kwargs["definition_environment_id"] = env_id
        page = remote.client.release.get_deployments(remote.s.project, **kwargs)
        items = list(page.value if hasattr(page, "value") else page or [])
        cache[(env_id, top)] = items
        return items

    def history(self, environment: str | None, limit: int | None) -> list[Deployment]:
        """Deployments of the definition's stages, oldest first."""
        remote = self.remote
        definition = remote.definition()
        env_id: int | None = None
        if environment is not None:
            stage = self._stage(environment)
            env_ids = [e.id for e in definition.environments or [] if e.name == stage]
            if not env_ids:
                return []
            env_id = env_ids[0]
        items = self._deployments(env_id, min(limit or 100, 100))
        found = remote.marks_of([dep.release.id for dep in items])
        out: list[Deployment] = []
        for dep in items:
            rid, version = found[dep.release.id]
            if rid is None:
                continue  # not a trainmaster release
            status: DeploymentStatus = STATUS.get(dep.deployment_status or "undefined", "pending")
            if dep.deployment_status == "partiallySucceeded":
                status = "succeeded" if remote.s.partially_succeeded == "succeeded" else "failed"
            requested = dep.requested_for or dep.requested_by
            out.append(
                Deployment(
                    id=dep.id,
                    release_id=rid,
                    version=version or "",
                    kind="deploy",
                    status=status,
                    environment=self._environment_of(dep.release_environment.name),
                    actor=getattr(requested, "unique_name", None) or getattr(requested, "display_name", None) or "",
                    started_at=_iso(dep.started_on or dep.queued_on) or "",
                    finished_at=_iso(dep.completed_on),
                    remote={"system": "azure-devops", "release_id": dep.release.id, "deployment_id": dep.id},
                )
            )
        out.reverse()
        mark_rollbacks(out)
        return out[-limit:] if limit else out

    def current(self, environment: str) -> Deployment | None:
        found = self.history(environment, 1)
        return found[-1] if found else None
