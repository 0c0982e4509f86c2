"""The ``github`` ledger: the train's questions answered from GitHub Deployments (nothing kept between jobs).

"Did release R succeed in E" is the latest status of a deployment whose payload
carries R's id. Reading a deployment's state costs one request (its statuses), so
the ledger reads each list and each state once per command (a ledger lives for one
command), ``last_success`` stops at the newest success, and ``history`` reads at most
:data:`HISTORY_DEFAULT` deployments unless asked for more (never more than
:data:`HISTORY_MAX`): the job token has 1,000 requests an hour per repository.
What this process writes to the deployments (:func:`note_write`, called by the
target) makes those cached reads stale: they are read again afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ConfigError
from trainmaster.interfaces import Deployment, DeploymentStatus, Release
from trainmaster.model import remote_timestamp
from trainmaster_github._settings import GitHubBound, Settings

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster_github.client import GitHubClient

PAYLOAD_KEY = "trainmaster"
CANCELLED = "cancelled"
DUPLICATE = "duplicate"
"""Description prefix of the ``inactive`` status that retires a second GitHub deployment of one trainmaster
deployment (a create whose answer came after the read timeout, sent again): the ledger skips it."""
"""Description prefix of the ``error`` status posted when the job is cancelled (mapped back to ``cancelled``)."""
HISTORY_DEFAULT = 30
HISTORY_MAX = 100
FINAL: dict[str, DeploymentStatus] = {"success": "succeeded", "failure": "failed", "error": "failed"}
WAITING = ("waiting", "queued", "pending")
_WHERE = "a GitHub deployment"
_writes = [0]


def note_write() -> None:
    """This process created a deployment or posted a status: every ledger's cached reads are stale."""
    _writes[0] += 1


def state_of(client: GitHubClient, deployment_id: int) -> tuple[str, dict[str, Any] | None]:
    """The deployment's effective state (``inactive`` looks through to what it was) and that status."""
    statuses = list(
        client.paginate(
            f"{client.repo_path}/deployments/{deployment_id}/statuses",
            what="list deployment statuses",
            permission="deployments: read",
            limit=100,
        )
    )
    for status in statuses:  # newest first
        if status.get("state") != "inactive":
            return str(status.get("state")), status
    return ("inactive" if statuses else "pending"), (statuses[0] if statuses else None)


def is_duplicate(state: str, status: Mapping[str, Any] | None) -> bool:
    """A deployment retired as the duplicate of another (see :data:`DUPLICATE`)."""
    return state == "inactive" and str((status or {}).get("description") or "").startswith(DUPLICATE)


def mapped_status(state: str, status: Mapping[str, Any] | None) -> DeploymentStatus:
    """trainmaster's deployment status for a GitHub deployment state."""
    if state == "error" and str((status or {}).get("description") or "").startswith(CANCELLED):
        return "cancelled"
    return FINAL.get(state) or ("pending" if state in WAITING else "in_progress")


def deployments(
    client: GitHubClient, environment: str | None, ref: str | None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Deployments, newest first, filtered by GitHub environment and ref."""
    params = {k: v for k, v in {"environment": environment, "ref": ref}.items() if v}
    yield from client.paginate(
        f"{client.repo_path}/deployments",
        what="list deployments",
        params=params,
        permission="deployments: read",
        limit=limit,
    )


def check_reviewers(client: GitHubClient, settings: Settings, environment: Environment) -> None:
    """The GitHub environment must have required reviewers, else :class:`ConfigError` (exit 2).

    GitHub's required reviewers need one approval from any of them, so ``approvals`` above 1
    cannot be enforced on GitHub and is refused as well.
    """
    from trainmaster_github.client import GitHubNotFound

    name = settings.environment or environment.name
    where = environment.location

    def error(message: str) -> ConfigError:
        return ConfigError(
            message,
            file=where.file if where else None,
            line=where.line if where else None,
            column=where.column if where else None,
            key="approvals",
        )

    count = environment.approvals.count if environment.approvals else 0
    if count > 1:
        raise error(
            f"environment {environment.name} sets approvals: {count}, but a GitHub environment's "
            "required reviewers let one approval from any reviewer through: set approvals: 1"
        )
    try:
        env = client.call(
            "GET",
            f"{client.repo_path}/environments/{settings.environment_path(name)}",
            what=f"read the environment {name}",
            permission="actions: read",
        )
    except GitHubNotFound:
        env = None
    rules = (env or {}).get("protection_rules") or []
    if not any(rule.get("type") == "required_reviewers" and rule.get("reviewers") for rule in rules):
        raise error(
            f"environment {environment.name} sets approvals, but the GitHub environment "
            f"{name!r} in {client.repository} has no required reviewers: add them under "
            "Settings → Environments (GitHub enforces approvals on the job)"
        )


class GitHubLedger(GitHubBound):
    """Answers the train's questions from GitHub Deployments: nothing has to survive between jobs."""

    def __init__(self, config: Config, local: Any = None, environ: Mapping[str, str] | None = None, scan: int = 100,
                 **client_kw: Any) -> None:
        super().__init__(config, None, environ, client_kw)
        self.local = local
        self.scan = scan
        self._states: dict[int, tuple[str, dict[str, Any] | None]] = {}
        self._lists: dict[tuple[str | None, str | None], list[dict[str, Any]]] = {}
        self._seen = _writes[0]

    def _fresh(self) -> None:
        """Forget cached reads when this process has written to the deployments since."""
        if self._seen != _writes[0]:
            self._states.clear()
            self._lists.clear()
            self._seen = _writes[0]

    def approvals_enforced_remotely(self, environment: Environment | str) -> bool:
        """True for ``target: github``: the GitHub environment's required reviewers hold the job.

        The GitHub target checks, before it deploys, that the environment really has required
        reviewers (exit 2 naming it otherwise), as ``validate`` does.
        """
        env = self.config.environment(environment) if isinstance(environment, str) else environment
        return env is not None and env.target == "github"

    def _state(self, deployment_id: int) -> tuple[str, dict[str, Any] | None]:
        self._fresh()
        if deployment_id not in self._states:
            self._states[deployment_id] = state_of(self.client, deployment_id)
        return self._states[deployment_id]

    def _gh_env(self, environment: str) -> str:
        return Settings.resolve(self.config, environment, self.environ).environment or environment

    def _ours(self, environment: str | None, ref: str | None = None) -> Iterator[dict[str, Any]]:
        gh_env = self._gh_env(environment) if environment else None
        self._fresh()
        key = (gh_env, ref)
        whole = self._lists.get((gh_env, None))
        if key not in self._lists and ref and whole is not None and len(whole) < self.scan:
            self._lists[key] = [d for d in whole if d.get("ref") == ref]  # the complete list holds them all
        if key not in self._lists:  # one page at most (scan <= 100 a page): read whole, once
            self._lists[key] = list(deployments(self.client, gh_env, ref, limit=self.scan))
        for dep in self._lists[key]:
            meta = (dep.get("payload") or {}).get(PAYLOAD_KEY) if isinstance(dep.get("payload"), dict) else None
            if meta and meta.get("project") in (None, self.config.project):
                yield dep

    def succeeded(self, release: Release, environment: str) -> str | None:
        """The finish time of the newest finished deployment of ``release`` there, if it succeeded.

        The environment's newest deployments, when this command already read them, answer first:
        a finished deployment of ``release`` among them is the newest one (the list is newest first).
        """
        tag = self.settings.tag(release.version)
        self._fresh()
        if (self._gh_env(environment), None) in self._lists:
            for dep in self._ours(environment):
                if dep.get("ref") != tag or dep["payload"][PAYLOAD_KEY].get("release_id") != release.id:
                    continue
                state, status = self._state(dep["id"])
                if state in FINAL:
                    return remote_timestamp(status.get("created_at"), _WHERE) if state == "success" and status else None
        for dep in self._ours(environment, tag):
            if dep["payload"][PAYLOAD_KEY].get("release_id") != release.id:
                continue
            state, status = self._state(dep["id"])
            if state in FINAL:
                return remote_timestamp(status.get("created_at"), _WHERE) if state == "success" and status else None
        return None

    def _to_deployment(self, dep: dict[str, Any]) -> Deployment:
        meta = dep["payload"][PAYLOAD_KEY]
        state, status = self._state(dep["id"])
        return Deployment(
            id=int(dep["id"]),  # GitHub's id: unique across jobs and runners
            release_id=str(meta.get("release_id")),
            version=str(meta.get("version")),
            environment=str(meta.get("environment") or dep.get("environment")),
            kind=str(meta.get("kind") or "deploy"),
            status=mapped_status(state, status),
            actor=str(meta.get("actor") or (dep.get("creator") or {}).get("login") or ""),
            started_at=remote_timestamp(dep.get("created_at"), _WHERE) or "",
            finished_at=remote_timestamp(status.get("created_at"), _WHERE) if status and state in FINAL else None,
            remote={
                "github_deployment_id": dep["id"],
                "trainmaster_deployment_id": meta.get("deployment_id"),
                "environment_url": (status or {}).get("environment_url"),
                "log_url": (status or {}).get("log_url"),
            },
        )

    def history(self, environment: str | None, limit: int | None) -> list[Deployment]:
        """Deployments recorded on GitHub, oldest first: the newest ``limit`` (default 30, at most 100).

        Each costs one request (its statuses), so the count is capped.
        """
        cap = min(limit or HISTORY_DEFAULT, HISTORY_MAX)
        found = []
        for dep in self._ours(environment):
            if is_duplicate(*self._state(dep["id"])):
                continue
            found.append(self._to_deployment(dep))
            if len(found) >= cap:
                break
        return list(reversed(found))

    def last_success(self, environment: str, *, exclude_release: str | None = None) -> Deployment | None:
        """The newest succeeded deployment in ``environment`` (of another release than ``exclude_release``).

        Reads the statuses of deployments newest first and stops at the first success (usually 1–2
        reads, however long the history).
        """
        for dep in self._ours(environment):
            if dep["payload"][PAYLOAD_KEY].get("release_id") == (exclude_release or ""):
                continue
            if self._state(dep["id"])[0] == "success":
                return self._to_deployment(dep)
        return None

    def anchors(self, environments: list[str]) -> Iterator[tuple[str, object]]:
        """The audit anchors in the payloads of this project's deployments to ``environments``.

        One paged pass over the repository's deployments (100 a page, no status reads); the core
        validates each text (:func:`trainmaster.anchors.parse`).
        """
        wanted = {self._gh_env(name) for name in environments}
        for dep in deployments(self.client, None, None):
            payload = dep.get("payload")
            meta = payload.get(PAYLOAD_KEY) if isinstance(payload, dict) else None
            if dep.get("environment") not in wanted or not isinstance(meta, dict):
                continue
            if meta.get("project") in (None, self.config.project) and "audit" in meta:
                yield f"GitHub deployment {dep.get('id')} ({dep.get('environment')})", meta["audit"]

    def current(self, environment: str) -> Deployment | None:
        """The newest deployment attempt in ``environment``."""
        for dep in self._ours(environment):
            if not is_duplicate(*self._state(dep["id"])):
                return self._to_deployment(dep)
        return None
