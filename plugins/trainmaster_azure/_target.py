"""The ``azure-devops`` target: deploy a classic release stage, or run inside one.

Outside a release stage it starts the stage (PATCH status ``inProgress``) and polls it,
one GET per interval, attaching to a stage that is already queued or running. Before that it keeps
the audit chain's head (``DeployJob.audit_anchor``) in the classic release's properties as
``trainmaster.audit.<stage>`` (one PUT), for ``audit verify --against azure-devops``. Inside a
classic release stage (``RELEASE_*`` variables) it never starts a stage, so it can never
trigger itself: it checks ``release.json`` and every package digest among the artefacts
the agent downloaded, then runs the environment's commands like the local target.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.errors import DigestMismatch, IntegrityError, InvalidInput, Refused, Unavailable
from trainmaster.interfaces import DeployOutcome
from trainmaster.store import hash_file
from trainmaster_azure import _remote
from trainmaster_azure._publish import (
    create,
    find_record,
    inside_pinned_build,
    locate,
    pin,
    pinned_build,
)
from trainmaster_azure._remote import Bound, Remote
from trainmaster_azure._settings import Settings

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import Approval, DeployJob
    from trainmaster.model import Release

RUNNING = ("queued", "inProgress", "scheduled")


class AzureTarget(Bound):
    """:class:`trainmaster.interfaces.Target` for a classic release stage.

    ``sleep`` and ``clock`` drive the polling; tests replace them.
    """

    environment: Environment
    environ: Mapping[str, str]

    def __init__(
        self,
        config: Config,
        environment: Environment,
        environ: Mapping[str, str] | None = None,
        *,
        http: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(config, environment, os.environ if environ is None else environ, http)
        self.sleep: Callable[[float], None] = time.sleep
        self.clock: Callable[[], float] = time.monotonic

    def _remote(self) -> Remote:
        return self._open()

    def approve(self, approval: Approval, release: Release) -> str:
        """``Target.approve``: carry a counted approval into the stage's pending pre-deployment approval."""
        from trainmaster_azure._approve import approve

        return approve(approval, release, self.environment, self.config)

    def validate(self) -> None:
        """The definition exists and has a stage for this environment (exit 2 otherwise)."""
        remote = self._remote()
        stage_name(remote, self.environment.name)

    def preflight(self, release: Release) -> None:
        """The token works: read the release definition and its stage (exit 2 when rejected or missing).

        The definition is kept for the command (``_remote``'s shared reads), so :meth:`deploy` reads
        it from there. Inside a classic release stage nothing remote is called, so nothing is checked.
        """
        from trainmaster_azure.context import detect

        ctx = detect(self.environ)
        if ctx is None or not ctx.in_release_stage:
            stage_name(self._remote(), self.environment.name)

    # -- deploy ------------------------------------------------------------------------------
    def deploy(self, job: DeployJob) -> DeployOutcome:
        from trainmaster_azure.context import detect

        ctx = detect(self.environ)
        if ctx is not None and ctx.in_release_stage:
            return self._in_stage(job, ctx.environ)
        remote = self._remote()
        stage = stage_name(remote, self.environment.name)
        classic = classic_release(remote, job.release, self.environ)
        env = next(e for e in classic.environments if e.name == stage)
        if job.audit_anchor:
            keep_anchor(remote, classic, stage, job.audit_anchor)
        if env.status in RUNNING:
            job.out(f"azure-devops: attaching to {stage} of {classic.name} ({env.status})\n")
            status, env = self._wait(remote, classic, env, job)
        elif env.status == "succeeded" and job.kind == "deploy" and not job.force and current_in_stage(
            remote, env, classic, job
        ):
            # Deployed there and still what the stage runs, e.g. queued by an earlier run that stopped
            # on an approval: adopt it.
            job.out(f"azure-devops: {stage} of {classic.name} already succeeded\n")
            status = "succeeded"
        else:
            comment = f"trainmaster {job.kind} {job.release.version} (deployment #{job.deployment_id})"
            start(remote, classic.id, env.id, f"{comment} by {job.ci.actor()}",
                  attempts_before=len(getattr(env, "deploy_steps", None) or []))
            job.out(f"azure-devops: started {stage} of {classic.name}\n")
            status, env = self._wait(remote, classic, env, job)
        remote.stage_read(classic, env)
        outcome = self._outcome(status, remote.s, classic, env)
        if outcome.status == "succeeded":
            checks = job.run_checks()
            if checks.status != "succeeded":
                checks.remote = {**outcome.remote, **checks.remote}
                return checks
            outcome.packages = {p.package.name: "deployed" for p in job.plan}
        return outcome

    def _wait(self, remote: Remote, classic: Any, env: Any, job: DeployJob) -> tuple[str, Any]:
        s = remote.s
        started = self.clock()
        last = None
        while True:
            current = remote.client.release.get_release_environment(s.project, classic.id, env.id)
            status = current.status or "undefined"
            elapsed = self.clock() - started
            if status != last:
                job.out(f"azure-devops: {env.name} {status} ({elapsed:.0f}s)\n")
                last = status
            if status not in RUNNING and status not in ("notStarted", "undefined"):
                return status, current
            if status == "queued":
                waiting_for_approval(remote, classic, current, job)
            if elapsed + s.poll_interval > s.timeout:
                raise Unavailable(
                    f"{env.name} of {classic.name} is still {status} after {s.timeout:.0f}s "
                    "(azure-devops.timeout); a re-run attaches to it"
                )
            self.sleep(s.poll_interval)

    def _outcome(self, status: str, s: Settings, classic: Any, env: Any) -> DeployOutcome:
        steps = getattr(env, "deploy_steps", None) or []
        deployment_id = getattr(steps[-1], "deployment_id", None) if steps else None
        remote = {
            "system": "azure-devops",
            "release_id": classic.id,
            "release_name": classic.name,
            "environment_id": env.id,
            "deployment_id": deployment_id,
            "url": _remote.web_url(classic),
        }
        mapped = {
            "succeeded": "succeeded",
            "canceled": "cancelled",
            "rejected": "failed",
            "partiallySucceeded": "succeeded" if s.partially_succeeded == "succeeded" else "failed",
        }
        final = mapped.get(status, "failed")
        message = "" if final == "succeeded" else f"stage {env.name} of {classic.name} ended {status}"
        return DeployOutcome(final, remote=remote, message=message)  # type: ignore[arg-type]

    # -- inside a classic release stage --------------------------------------------------------
    def _in_stage(self, job: DeployJob, environ: Mapping[str, str]) -> DeployOutcome:
        stage = self._settings().stage_for(self.environment.name)
        running = environ.get("RELEASE_ENVIRONMENTNAME", "")
        if running != stage:
            raise InvalidInput(
                f"this step runs in classic release stage {running!r} but deploys "
                f"{self.environment.name!r} (stage {stage!r}); deploy {running!r}'s environment "
                "here, or map it with azure-devops.stage"
            )
        verify_artifacts(job.release, environ)
        outcome = job.run_steps()
        outcome.remote = {
            **outcome.remote,
            "system": "azure-devops",
            "release_id": environ.get("RELEASE_RELEASEID"),
            "stage": running,
        }
        return outcome


def stage_name(remote: Remote, environment: str) -> str:
    wanted = remote.s.stage_for(environment)
    found = remote.stage(wanted)
    if found is not None:
        return found
    names = remote.stage_names()
    raise InvalidInput(
        f"release definition {remote.definition().name!r} has no stage {wanted!r} for environment "
        f"{environment!r} (stages: {', '.join(names) or 'none'}): set azure-devops.stage on the "
        "environment or rename the stage"
    )


def classic_release(remote: Remote, release: Release, environ: Mapping[str, str]) -> Any:
    """The classic release holding ``release`` (created now if the build deferred it), with its stages."""
    match, conflict = remote.find(release, pinned_build(release, environ))
    if conflict is not None and match is None:
        raise IntegrityError(
            f"classic release {conflict.name} holds {release.version} as {_remote.marks(conflict)[0]}, not {release.id}"
        )
    if match is None:
        build = pin(release, environ)
        if inside_pinned_build(build[0], environ):
            raise Refused(
                f"{release.version} has no classic release yet and build {build[0]} (this run) has not completed: "
                "Azure DevOps creates a classic release only for a completed build. Deploy from a pipeline "
                "triggered by this build's completion (docs/azure.md)"
            )
        match = create(remote, release, build)
        remote.remember(release, match)
    return remote.release_of(match.id)


def keep_anchor(remote: Remote, classic: Any, stage: str, anchor: str) -> None:
    """Keep ``anchor`` in the classic release's properties as ``trainmaster.audit.<stage>`` (one PUT).

    Releases_Update Release with the release's id, name and that one property (the property bag
    is merged: the marks stay); a PUT is idempotent, so a lost answer is simply sent again.
    """
    from azure.devops.v7_1.release.models import Release as ClassicRelease

    key = f"{_remote.MARK_AUDIT}.{stage}"
    body = ClassicRelease(id=classic.id, name=classic.name, properties={key: anchor})
    remote.client.release.update_release(body, remote.s.project, classic.id)
    classic.properties = {**(getattr(classic, "properties", None) or {}), key: anchor}


def current_in_stage(remote: Remote, env: Any, classic: Any, job: DeployJob) -> bool:
    """True when the stage's latest deployment (any release of the definition) is ``classic``'s.

    A stage of ``classic`` that once succeeded is not what the stage runs when another release
    was deployed there since (a newer one, or a rollback): then it must be deployed again.
    """
    items = remote.client.release.get_deployments(
        remote.s.project,
        definition_id=remote.definition().id,
        definition_environment_id=env.definition_environment_id,
        query_order="descending",
        top=1,
    )
    items = items.value if hasattr(items, "value") else items or []
    latest = getattr(getattr(items[0], "release", None), "id", None) if items else None
    if latest == classic.id:
        return True
    if latest is not None:
        other = getattr(items[0].release, "name", None) or latest
        job.out(f"azure-devops: {env.name} of {classic.name} succeeded before, but {other} was deployed there "
                "since: deploying it again\n")
    return False


def start(remote: Remote, release_id: int, environment_id: int, comment: str, *, attempts_before: int = 0) -> None:
    """PATCH the stage to ``inProgress``; if the answer was lost, re-read it before sending again.

    The start counts as applied when the stage is running, or when it has more deployment
    attempts than before (it may already have finished): only otherwise is it sent again.
    """
    from azure.devops.v7_1.release.models import ReleaseEnvironmentUpdateMetadata

    rm, project = remote.client.release, remote.s.project
    body = ReleaseEnvironmentUpdateMetadata(status="inProgress", comment=comment)

    def started() -> Any:
        now = rm.get_release_environment(project, release_id, environment_id)
        return now if now.status in RUNNING or len(getattr(now, "deploy_steps", None) or []) > attempts_before else None

    remote.changed()
    remote.client.call(lambda: rm.update_release_environment(body, project, release_id, environment_id), started)
    remote.changed()


def pending_approvals(remote: Remote, release_id: int, environment_id: int) -> list[Any]:
    approvals = remote.client.release.get_approvals(
        remote.s.project, status_filter="pending", release_ids_filter=[release_id], type_filter="preDeploy"
    )
    items = approvals.value if hasattr(approvals, "value") else approvals or []
    return [a for a in items if getattr(a.release_environment, "id", None) == environment_id]


def waiting_for_approval(remote: Remote, classic: Any, env: Any, job: DeployJob) -> None:
    """Exit 3 with the approval's URL when the queued stage waits for a pre-deployment approval."""
    if not pending_approvals(remote, classic.id, env.id):
        return
    url = _remote.web_url(classic) or remote.client.web_url(f"_releaseProgress?releaseId={classic.id}")
    job.out(f"azure-devops: {env.name} of {classic.name} waits for a pre-deployment approval: {url}\n")
    raise Refused(
        f"{env.name} of {classic.name} waits for a pre-deployment approval: {url} — approve it there "
        f"(or `trainmaster approve {job.release.version} --env {job.environment.name}`), then re-run; "
        "the re-run attaches to the queued stage"
    )


def verify_artifacts(release: Release, environ: Mapping[str, str]) -> None:
    """``release.json`` among the artefacts must be ``release``, every digest must match (exit 4)."""
    found = find_record(environ, release.version)
    if found is None:
        raise InvalidInput(
            f"no release.json for {release.version} among the downloaded artefacts "
            "(SYSTEM_ARTIFACTSDIRECTORY): `release create` in the build publishes it as artifact "
            "'trainmaster'; keep that artifact in the stage's downloads"
        )
    record, folder = found
    if record.id != release.id:
        raise IntegrityError(
            f"release.json among the artefacts is {record.id}, the ledger has {release.id} for {release.version}"
        )
    for pkg in release.packages:
        path = locate(folder, pkg.file_name, environ)
        if path is None:
            raise IntegrityError(f"package {pkg.name!r} ({pkg.file_name}) is not among the downloaded artefacts")
        digest = hash_file(path)[0]
        if digest != pkg.digest:
            raise DigestMismatch(
                f"package {pkg.name!r}: {path} hashes to {digest}, the release pins {pkg.digest}; nothing was run"
            )
