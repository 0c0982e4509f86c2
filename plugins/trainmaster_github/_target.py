"""The ``github`` target: a GitHub Deployment per deploy (the ``github`` ledger is in ``_ledger``).

A deployment's ref is the release tag; its payload holds trainmaster's release
id, version, package digests, deployment id, the audit chain's head after the
deployment's first ledger event (``audit``, see :mod:`trainmaster.anchors`) and a
random attempt key (so a lost 201 is recovered by lookup, never re-posted blindly).
A create whose answer does not come (a read timeout, a 5xx) is looked up by its
attempt key with backoff, up to :data:`LATE_LOOKUPS` times, and the deployment found
is adopted; only then is it sent again. If the first create still lands later, two
GitHub deployments carry the same attempt: the one this run did not use is retired
with an ``inactive`` status described ``duplicate of deployment N: …`` (after the
run's final status, or by the next deploy of that release that lists it), and the
``github`` ledger skips it. ``auto_merge`` is false,
``required_contexts`` is empty and statuses are posted with ``auto_inactive:
false``, so every successful deployment stays in the history for rollback. The
commands themselves run in the job (``job.run_steps()``), as with ``local``.
When the job is cancelled (SIGINT/SIGTERM reach the CLI as KeyboardInterrupt)
the deployment gets a final ``error`` status described ``cancelled: …``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import InvalidInput, Refused
from trainmaster.interfaces import DeployJob, DeployOutcome
from trainmaster_github._ledger import (
    CANCELLED,
    DUPLICATE,
    PAYLOAD_KEY,
    WAITING,
    check_reviewers,
    deployments,
    note_write,
    state_of,
)
from trainmaster_github._settings import GitHubBound, warn_if_local_ledger

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.model import Release
    from trainmaster_github.client import GitHubClient

__all__ = ["GitHubTarget"]

LATE_LOOKUPS = 5
"""Lookups (with the client's backoff) for a create whose answer did not come, before it is sent again."""


class GitHubTarget(GitHubBound):
    """Records each deploy as a GitHub Deployment and runs the environment's commands in the job."""

    def __init__(self, config: Config, environment: Environment, environ: Mapping[str, str] | None = None,
                 **client_kw: Any) -> None:
        super().__init__(config, environment, environ, client_kw)
        self.environment = environment
        self._listed: tuple[str, list[dict[str, Any]]] | None = None  # (tag, deployments) read by preflight
        self._resent = False  # the create was sent again after its answer did not come

    def preflight(self, release: Release) -> None:
        """The token works: list this release's deployments to the environment (exit 2 on a rejected token).

        The list is the one :meth:`deploy` reads first (a deployment left waiting by an earlier run),
        so it is kept for it: the check costs no request.
        """
        tag = self.settings.tag(release.version)
        self._listed = (tag, list(deployments(self.client, self.settings.environment, tag, limit=30)))

    def _approvals_on_github(self) -> bool:
        """With ``ledger: github`` the environment's approvals are GitHub's required reviewers."""
        return self.config.ledger == "github" and self.environment.approvals is not None

    def validate(self) -> None:
        """With approvals enforced on GitHub, the environment must have required reviewers (exit 2 otherwise).

        No token is needed (and no client is made) when there is nothing to check on GitHub.
        """
        warn_if_local_ledger(self.config, self.environ)
        if self._approvals_on_github():
            check_reviewers(self.client, self.settings, self.environment)

    def deploy(self, job: DeployJob) -> DeployOutcome:
        """Create (or resume) the Deployment, post ``in_progress``, run the steps, post the final status."""
        warn_if_local_ledger(self.config, self.environ)
        client = self.client
        if self._approvals_on_github():  # the core's gate left the approvals to GitHub: make sure it has them
            check_reviewers(client, self.settings, self.environment)
        run_url = _run_url(self.environ, job)
        dep = self._find_waiting(client, job) or self._create(client, job)
        state, _ = state_of(client, dep["id"])
        if state == "waiting":
            raise Refused(
                f"the GitHub deployment {dep['id']} of {job.release.version} to "
                f"{self.settings.environment} is waiting for a required reviewer; re-run after approval"
            )
        self._status(client, dep["id"], "in_progress", f"deploying {job.release.version}", run_url)
        try:
            outcome = job.run_steps()
        except KeyboardInterrupt:
            self._status(client, dep["id"], "error", f"{CANCELLED}: the job was cancelled", run_url)
            raise
        except BaseException:
            self._status(client, dep["id"], "error", "interrupted", run_url)
            raise
        final = {"succeeded": "success", "failed": "failure"}.get(outcome.status, "error")
        self._status(client, dep["id"], final, outcome.message or f"{job.release.version}: {outcome.status}", run_url)
        if self._resent:
            self._retire_duplicates(client, job, dep)
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
        tag = self.settings.tag(job.release.version)
        listed, self._listed = self._listed, None
        found = listed[1] if listed and listed[0] == tag else None
        found = found if found is not None else list(deployments(client, self.settings.environment, tag, limit=30))
        attempts = [_meta(dep).get("attempt") for dep in found]
        for dep in found:
            meta = _meta(dep)
            if meta.get("release_id") != job.release.id or meta.get("kind") != job.kind:
                continue
            state = state_of(client, dep["id"])[0]
            if state == "pending" and meta.get("attempt") and attempts.count(meta.get("attempt")) > 1:
                twin = next(d for d in found if d is not dep and _meta(d).get("attempt") == meta.get("attempt"))
                self._retire(client, dep, twin)  # a create that landed late, after it was sent again
                attempts.remove(meta.get("attempt"))
                continue
            if state in WAITING or (state == "in_progress" and run_id and meta.get("run_id") == run_id):
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
                **({"audit": job.audit_anchor} if job.audit_anchor else {}),
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

        lookups = [0]
        window = max(1, min(LATE_LOOKUPS, client.http.policy.attempts))

        def recover() -> Any:
            """The deployment this create made, UNKNOWN while it may still land, None to send it again."""
            lookups[0] += 1
            for dep in deployments(client, self.settings.environment, tag, limit=30):
                if _meta(dep).get("attempt") == attempt:
                    return dep
            if lookups[0] < window:
                return UNKNOWN
            self._resent = True
            return None

        from trainmaster.http import UNKNOWN
        from trainmaster_github.client import GitHubError

        try:
            return _write(client, "deployments", body, f"create a deployment to {self.settings.environment}",
                          repo_404=True, recover=recover)
        except GitHubError as exc:
            if exc.status_code == 422 and "ref" in (exc.body_excerpt or "").lower():
                raise InvalidInput(
                    f"GitHub has no ref {tag} in {client.repository}: publish the release to GitHub "
                    "first (`publish: [github]` in trainmaster.yaml)"
                ) from None
            raise

    def _retire_duplicates(self, client: GitHubClient, job: DeployJob, used: dict[str, Any]) -> None:
        """After a create sent twice: retire every other deployment of the same attempt that has landed."""
        attempt = _meta(used).get("attempt")
        for dep in deployments(client, self.settings.environment, self.settings.tag(job.release.version), limit=30):
            if dep["id"] != used["id"] and _meta(dep).get("attempt") == attempt:
                self._retire(client, dep, used)

    def _retire(self, client: GitHubClient, duplicate: dict[str, Any], used: dict[str, Any]) -> None:
        """Mark ``duplicate`` inactive, saying which deployment it duplicates and why."""
        why = (f"{DUPLICATE} of deployment {used['id']}: its create was answered after the read timeout "
               "and sent again")
        _write(client, f"deployments/{duplicate['id']}/statuses",
               {"state": "inactive", "description": why[:140], "auto_inactive": False},
               f"mark the duplicate deployment {duplicate['id']} inactive", idempotent=True)

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

        _write(client, f"deployments/{deployment_id}/statuses", body, f"set deployment {deployment_id} to {state}",
               recover=recover)


def _write(client: GitHubClient, path: str, body: dict[str, Any], what: str, **kw: Any) -> dict[str, Any]:
    """POST a deployment or a deployment status (201 expected); afterwards every ledger's cached reads
    are stale (:func:`note_write`), whatever the outcome."""
    try:
        created: dict[str, Any] = client.call("POST", f"{client.repo_path}/{path}", json=body, ok=(201,), what=what,
                                              permission="deployments: write", **kw)
        return created
    finally:
        note_write()


def _meta(dep: Mapping[str, Any]) -> dict[str, Any]:
    """The trainmaster part of a deployment's payload (``{}`` when it has none: data, not trusted)."""
    payload = dep.get("payload")
    meta = payload.get(PAYLOAD_KEY) if isinstance(payload, dict) else None
    return meta if isinstance(meta, dict) else {}


def _run_url(environ: Mapping[str, str] | None, job: DeployJob) -> str | None:
    from trainmaster_github.context import GitHubActionsContext

    return GitHubActionsContext(os.environ if environ is None else environ).run_url()
