"""The ``github`` target (a GitHub Deployment per deploy) and the ``github`` ledger (read from Deployments).

A deployment's ref is the release tag; its payload holds trainmaster's release
id, version, package digests, deployment id and a random attempt key (so a lost
201 is recovered by lookup, never re-posted). ``auto_merge`` is false,
``required_contexts`` is empty and statuses are posted with ``auto_inactive:
false``, so every successful deployment stays in the history for rollback. The
commands themselves run in the job (``job.run_steps()``), as with ``local``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ConfigError, InvalidInput, Refused
from trainmaster.interfaces import DeployJob, Deployment, DeployOutcome, Release
from trainmaster_github._settings import GitHubSettings, warn_if_local_ledger

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster_github.client import GitHubClient

PAYLOAD_KEY = "trainmaster"
_FINAL = {"success": "succeeded", "failure": "failed", "error": "failed"}
_WAITING = ("waiting", "queued", "pending")


def _state_of(client: GitHubClient, deployment_id: int) -> tuple[str, dict[str, Any] | None]:
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


class GitHubTarget:
    """Records each deploy as a GitHub Deployment and runs the environment's commands in the job."""

    def __init__(
        self,
        config: Config,
        environment: Environment,
        environ: Mapping[str, str] | None = None,
        **client_kw: Any,
    ) -> None:
        self.config = config
        self.environment = environment
        self.environ = environ
        self.client_kw = client_kw
        self.settings = GitHubSettings.resolve(config, environment, environ)

    def validate(self) -> None:
        """With ``approvals`` set, the GitHub environment must have required reviewers (exit 2 otherwise)."""
        from trainmaster_github.client import GitHubNotFound

        warn_if_local_ledger(self.config, self.environ)
        client = self.settings.client(self.environ, **self.client_kw)
        name = self.settings.environment or self.environment.name
        if self.environment.approvals is None:
            return
        try:
            env = client.call(
                "GET",
                f"{client.repo_path}/environments/{name}",
                what=f"read the environment {name}",
                permission="actions: read",
            )
        except GitHubNotFound:
            env = None
        rules = (env or {}).get("protection_rules") or []
        if not any(rule.get("type") == "required_reviewers" and rule.get("reviewers") for rule in rules):
            where = self.environment.location
            raise ConfigError(
                f"environment {self.environment.name} sets approvals, but the GitHub environment "
                f"{name!r} in {client.repository} has no required reviewers: add them under "
                "Settings → Environments (GitHub enforces approvals on the job)",
                file=where.file if where else None,
                line=where.line if where else None,
                column=where.column if where else None,
                key="approvals",
            )

    def deploy(self, job: DeployJob) -> DeployOutcome:
        """Create (or resume) the Deployment, post ``in_progress``, run the steps, post the final status."""
        warn_if_local_ledger(self.config, self.environ)
        client = self.settings.client(self.environ, **self.client_kw)
        run_url = _run_url(self.environ, job)
        dep = self._find_waiting(client, job) or self._create(client, job)
        state, _ = _state_of(client, dep["id"])
        if state == "waiting":
            raise Refused(
                f"the GitHub deployment {dep['id']} of {job.release.version} to "
                f"{self.settings.environment} is waiting for a required reviewer; re-run after approval"
            )
        self._status(client, dep["id"], "in_progress", f"deploying {job.release.version}", run_url)
        try:
            outcome = job.run_steps()
        except BaseException:
            self._status(client, dep["id"], "error", "interrupted", run_url)
            raise
        final = {"succeeded": "success", "failed": "failure"}.get(outcome.status, "error")
        self._status(client, dep["id"], final, outcome.message or f"{job.release.version}: {outcome.status}", run_url)
        if self.settings.environment_url:
            job.ci.set_output("environment-url", self.settings.environment_url)
        remote = {
            **outcome.remote,
            "github_deployment_id": dep["id"],
            "github_environment": self.settings.environment,
        }
        if self.settings.environment_url:
            remote["environment_url"] = self.settings.environment_url
        if run_url:
            remote["log_url"] = run_url
        return DeployOutcome(
            status=outcome.status,
            packages=outcome.packages,
            remote=remote,
            message=outcome.message,
            excerpt=outcome.excerpt,
        )

    def _find_waiting(self, client: GitHubClient, job: DeployJob) -> dict[str, Any] | None:
        """A deployment of this release left waiting for review (or approved) by an earlier run."""
        run_id = (self.environ if self.environ is not None else os.environ).get("GITHUB_RUN_ID")
        for dep in _deployments(client, self.settings.environment, self.settings.tag(job.release.version), limit=30):
            meta = dep.get("payload", {}).get(PAYLOAD_KEY) or {}
            if meta.get("release_id") != job.release.id or meta.get("kind") != job.kind:
                continue
            state = _state_of(client, dep["id"])[0]
            if state in _WAITING or (state == "in_progress" and run_id and meta.get("run_id") == run_id):
                return dep
        return None

    def _create(self, client: GitHubClient, job: DeployJob) -> dict[str, Any]:
        tag = self.settings.tag(job.release.version)
        attempt = secrets.token_hex(8)
        payload = {
            PAYLOAD_KEY: {
                "release_id": job.release.id,
                "version": job.release.version,
                "project": job.release.project,
                "environment": self.environment.name,
                "deployment_id": job.deployment_id,
                "kind": job.kind,
                "actor": job.ci.actor(),
                "attempt": attempt,
                "run_id": (self.environ if self.environ is not None else os.environ).get("GITHUB_RUN_ID"),
                "digests": {p.name: p.digest for p in job.release.packages},
            }
        }
        body: dict[str, Any] = {
            "ref": tag,
            "environment": self.settings.environment,
            "auto_merge": False,
            "required_contexts": [],
            "payload": payload,
            "task": "deploy",
            "transient_environment": False,
            "description": f"trainmaster {job.kind} {job.release.version}"[:140],
        }

        def recover() -> dict[str, Any] | None:
            for dep in _deployments(client, self.settings.environment, tag, limit=30):
                if (dep.get("payload", {}).get(PAYLOAD_KEY) or {}).get("attempt") == attempt:
                    return dep
            return None

        from trainmaster_github.client import GitHubError

        try:
            created: dict[str, Any] = client.call(
                "POST",
                f"{client.repo_path}/deployments",
                json=body,
                ok=(201,),
                what=f"create a deployment to {self.settings.environment}",
                permission="deployments: write",
                repo_404=True,
                recover=recover,
            )
        except GitHubError as exc:
            if exc.status_code == 422 and "ref" in (exc.body_excerpt or "").lower():
                raise InvalidInput(
                    f"GitHub has no ref {tag} in {client.repository}: publish the release to GitHub "
                    "first (`publish: [github]` in trainmaster.yaml)"
                ) from None
            raise
        return created

    def _status(
        self, client: GitHubClient, deployment_id: int, state: str, description: str, run_url: str | None
    ) -> None:
        body: dict[str, Any] = {"state": state, "description": description[:140], "auto_inactive": False}
        if run_url:
            body["log_url"] = run_url
        if self.settings.environment_url:
            body["environment_url"] = self.settings.environment_url

        def recover() -> dict[str, Any] | None:
            statuses = client.paginate(
                f"{client.repo_path}/deployments/{deployment_id}/statuses",
                what="list deployment statuses",
                permission="deployments: read",
                limit=1,
            )
            latest = next(iter(statuses), None)
            same = latest and latest.get("state") == state and latest.get("description") == body["description"]
            return latest if same else None

        client.call(
            "POST",
            f"{client.repo_path}/deployments/{deployment_id}/statuses",
            json=body,
            ok=(201,),
            what=f"set deployment {deployment_id} to {state}",
            permission="deployments: write",
            recover=recover,
        )


def _deployments(
    client: GitHubClient, environment: str | None, ref: str | None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    params = {k: v for k, v in {"environment": environment, "ref": ref}.items() if v}
    yield from client.paginate(
        f"{client.repo_path}/deployments",
        what="list deployments",
        params=params,
        permission="deployments: read",
        limit=limit,
    )


def _run_url(environ: Mapping[str, str] | None, job: DeployJob) -> str | None:
    from trainmaster_github.context import GitHubActionsContext

    return GitHubActionsContext(os.environ if environ is None else environ).run_url()


class GitHubLedger:
    """Answers the train's questions from GitHub Deployments: nothing has to survive between jobs."""

    def __init__(
        self,
        config: Config,
        local: Any = None,
        environ: Mapping[str, str] | None = None,
        scan: int = 100,
        **client_kw: Any,
    ) -> None:
        self.config = config
        self.local = local
        self.environ = environ
        self.client_kw = client_kw
        self.scan = scan
        self.settings = GitHubSettings.resolve(config, None, environ)
        self._client: GitHubClient | None = None

    @property
    def client(self) -> GitHubClient:
        if self._client is None:
            self._client = self.settings.client(self.environ, **self.client_kw)
        return self._client

    def _gh_env(self, environment: str) -> str:
        return GitHubSettings.resolve(self.config, environment, self.environ).environment or environment

    def _ours(self, environment: str | None, ref: str | None = None) -> Iterator[dict[str, Any]]:
        gh_env = self._gh_env(environment) if environment else None
        for dep in _deployments(self.client, gh_env, ref, limit=self.scan):
            meta = (dep.get("payload") or {}).get(PAYLOAD_KEY) if isinstance(dep.get("payload"), dict) else None
            if meta and meta.get("project") in (None, self.config.project):
                yield dep

    def succeeded(self, release: Release, environment: str) -> str | None:
        """The finish time of the newest finished deployment of ``release`` there, if it succeeded."""
        for dep in self._ours(environment, self.settings.tag(release.version)):
            if dep["payload"][PAYLOAD_KEY].get("release_id") != release.id:
                continue
            state, status = _state_of(self.client, dep["id"])
            if state in _FINAL:
                return str(status.get("created_at")) if state == "success" and status else None
        return None

    def _to_deployment(self, dep: dict[str, Any]) -> Deployment:
        meta = dep["payload"][PAYLOAD_KEY]
        state, status = _state_of(self.client, dep["id"])
        mapped = _FINAL.get(state) or ("pending" if state in _WAITING else "in_progress")
        return Deployment(
            id=int(meta.get("deployment_id") or 0),
            release_id=str(meta.get("release_id")),
            version=str(meta.get("version")),
            environment=str(meta.get("environment") or dep.get("environment")),
            kind=str(meta.get("kind") or "deploy"),
            status=mapped,
            actor=str(meta.get("actor") or (dep.get("creator") or {}).get("login") or ""),
            started_at=str(dep.get("created_at")),
            finished_at=str(status.get("created_at")) if status and state in _FINAL else None,
            remote={
                "github_deployment_id": dep["id"],
                "environment_url": (status or {}).get("environment_url"),
                "log_url": (status or {}).get("log_url"),
            },
        )

    def history(self, environment: str | None, limit: int | None) -> list[Deployment]:
        """Deployments recorded on GitHub, oldest first (the newest ``limit``, default the newest 100)."""
        found = []
        for dep in self._ours(environment):
            found.append(self._to_deployment(dep))
            if limit is not None and len(found) >= limit:
                break
        return list(reversed(found))

    def current(self, environment: str) -> Deployment | None:
        """The newest deployment attempt in ``environment``."""
        for dep in self._ours(environment):
            return self._to_deployment(dep)
        return None
