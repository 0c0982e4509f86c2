"""The ``awx`` target: launch a job template or workflow job template and wait for it.

A deployment: read the template's launch settings (refuse one that would ignore the manifest),
adopt the job this release already has running in this environment (a re-run after exit 3, 5 or a
lost answer) or launch one with ``extra_vars: {trainmaster: <manifest>, …variables}``, refuse a
launch whose answer lists ``ignored_fields`` (the job is cancelled), then wait and stream its output.
The environment's ``smoke`` and ``monitor`` commands run afterwards, as for the other remote targets.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from trainmaster.interfaces import DeployOutcome
from trainmaster.remote_target import RemoteTarget
from trainmaster_awx._manifest import extra_vars
from trainmaster_awx._settings import Settings, client_for
from trainmaster_awx._template import Template, check_launch, find_template
from trainmaster_awx._wait import FINAL, cancel, job_status, ui_link, wait_for_job
from trainmaster_awx.client import AwxClient

if TYPE_CHECKING:
    from trainmaster.interfaces import Approval, DeployJob
    from trainmaster.model import Release

__all__ = ["AwxTarget", "recent_runs"]

_RECENT = 50  # jobs of the template looked at when adopting or recovering a launch


class AwxTarget(RemoteTarget):
    """Deploys one trainmaster environment through an AWX template."""

    settings_class = Settings  # exit 2 offline: template, secret variables
    settings: Settings
    whole_environment = ("AWX runs one job over the whole inventory (or limit) of a template",
                         "set `serial` in the playbook, or a `limit` per environment")
    _template: Template | None = None  # read by preflight, kept for deploy

    @property
    def client(self) -> AwxClient:
        return client_for(self.settings, self.environ)

    def approve(self, approval: Approval, release: Release) -> str:
        """``Target.approve``: carry a counted approval into the workflow job's pending approval node."""
        from trainmaster_awx._approve import approve

        return approve(approval, release, self.environment, self.config)

    def validate_remote(self) -> None:
        """The template exists and accepts the manifest, the variables, the inventory and the limit."""
        client = self.client
        check_launch(client, self.settings, find_template(client, self.settings), sorted(self.environment.variables))

    def preflight(self, release: Release) -> None:
        """The token works: read the template (exit 2 when rejected or missing); kept for :meth:`deploy`."""
        self._template = find_template(self.client, self.settings)

    def deploy(self, job: DeployJob) -> DeployOutcome:
        client = self.client
        template = self._template or find_template(client, self.settings)
        check_launch(client, self.settings, template, sorted(job.variables))
        kind = "job" if template.kind == "job_template" else "workflow_job"
        run = self._adoptable(client, template, job)
        if run is not None:
            job.out(f"awx: resuming the wait on {kind} {run['id']} ({run['status']}), launched earlier for "
                    f"{job.release.version} in {job.environment.name}: {ui_link(client, kind, int(run['id']))}\n")
        else:
            run = self._launch(client, template, job, kind)
        job_id = int(run["id"])
        remote = {"template": template.name, "template_id": template.id, "kind": kind, "job_id": job_id,
                  "url": ui_link(client, kind, job_id)}
        state = str(run.get("status") or "")
        if run.get("ignored"):
            return DeployOutcome("failed", {p.package.name: "failed" for p in job.plan}, remote,
                                 f"AWX ignored {', '.join(run['ignored'])} when launching {template.name} ({kind} "
                                 f"{job_id}, cancelled): enable 'Prompt on launch' for them on the template")
        if job_status(state) == "succeeded":
            outcome_status, explanation = "succeeded", ""
        else:
            result = wait_for_job(client, kind, job_id, interval=self.settings.poll_interval,
                                  timeout=self.settings.timeout, out=lambda text: job.out(job.masker.mask(text)),
                                  progress=job.progress, stream=bool(self.settings.get("stream_output", True)))
            outcome_status, state, explanation = result.status, result.state, result.explanation
        remote["status"] = state
        names = [p.package.name for p in job.plan]
        if outcome_status != "succeeded":
            message = f"AWX {kind} {job_id} ended {state}" + (f": {explanation}" if explanation else "")
            return DeployOutcome(outcome_status, {n: "failed" for n in names}, remote,  # type: ignore[arg-type]
                                 f"{message} ({remote['url']})")
        packages = {n: "deployed" for n in names}
        checks = job.run_checks()
        if checks.status != "succeeded":
            return DeployOutcome(checks.status, packages, remote, checks.message, checks.excerpt)
        return DeployOutcome("succeeded", packages, remote)

    def _launch(self, client: AwxClient, template: Template, job: DeployJob, kind: str) -> dict[str, Any]:
        body: dict[str, Any] = {"extra_vars": extra_vars(job)}
        for key in ("inventory", "limit"):
            if self.settings.get(key) is not None:
                body[key] = self.settings.get(key)

        def recover() -> dict[str, Any] | None:  # the answer was lost: did AWX start it?
            for row in recent_runs(client, template):
                if _manifest_of(row).get("deployment_id") == job.deployment_id and \
                        _manifest_of(row).get("release_id") == job.release.id:
                    return {**row, "ignored_fields": {}}
            return None

        answer = client.request("POST", template.path + "launch/", json=body, recover=recover,
                                what=f"launch {template.name} for {job.release.version} in {job.environment.name}")
        job_id = int(answer.get(kind) or answer["id"])
        job.out(f"awx: launched {kind} {job_id} of {template.name}: {ui_link(client, kind, job_id)}\n")
        ignored = sorted(answer.get("ignored_fields") or {})
        if ignored:  # it would run without the manifest: stop it
            cancel(client, kind, job_id)
        return {"id": job_id, "status": answer.get("status") or "pending", "ignored": ignored}

    def _adoptable(self, client: AwxClient, template: Template, job: DeployJob) -> dict[str, Any] | None:
        """This release's job in this environment, still running, or its newest and successful one."""
        env = job.environment.name
        runs = [r for r in recent_runs(client, template) if _manifest_of(r).get("environment") == env]
        mine = [r for r in runs if _manifest_of(r).get("release_id") == job.release.id
                and _manifest_of(r).get("kind", "deploy") == job.kind]
        if not mine:
            return None
        latest = mine[0]
        if str(latest.get("status")) not in FINAL:
            return latest
        if (latest.get("status") == "successful" and runs[0] is latest and not job.force
                and job.kind != "rollback"):  # e.g. approved after an exit 3, and nothing newer since
            return latest
        return None


def recent_runs(client: AwxClient, template: Template) -> list[dict[str, Any]]:
    """The template's newest jobs (workflow jobs), newest first."""
    path = template.path + ("jobs/" if template.kind == "job_template" else "workflow_jobs/")
    return client.first_page(path, {"order_by": "-id", "page_size": _RECENT},
                             what=f"list the recent jobs of {template.name}")


def _manifest_of(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("extra_vars") or "{}"
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    found = data.get("trainmaster") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else {}
