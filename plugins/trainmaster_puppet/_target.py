"""The ``puppet-enterprise`` target: deploy the code environment, run Puppet (or a plan), wait.

A deployment: adopt the job this release already has in this environment (running, or finished
successfully and newest there: a re-run after exit 5, a kill or a lost answer); otherwise deploy the
Puppet code environment with Code Manager (``wait: true``: every compiler has the code when it
answers), then start ``command/deploy`` on the scope (or ``command/plan_run`` with the manifest when
``plan`` is set) with a description naming the release and the deployment. Then wait, and on a
failure list the failed nodes with their reports' messages. The environment's ``smoke`` and
``monitor`` commands run afterwards, as for the other remote targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainmaster.interfaces import DeployOutcome
from trainmaster.remote_target import RemoteTarget
from trainmaster_puppet._jobs import KINDS, Kind, recent, wait
from trainmaster_puppet._manifest import describe
from trainmaster_puppet._settings import Settings, client_for
from trainmaster_puppet.client import PuppetClient

if TYPE_CHECKING:
    from trainmaster.interfaces import DeployJob
    from trainmaster.model import Release

__all__ = ["PuppetTarget"]

_CODE_DEPLOY_TIMEOUT = (10.0, 900.0)  # wait: true answers once file sync reached every compiler


class PuppetTarget(RemoteTarget):
    """Deploys one trainmaster environment through Puppet Enterprise."""

    settings_class = Settings  # exit 2 offline: scope, CA file, secrets
    settings: Settings
    whole_environment = ("the Puppet orchestrator runs its whole scope in one job",
                         "use the orchestrator's concurrency or one environment per node group")
    _recent: list[dict[str, Any]] | None = None  # read by preflight, kept for deploy

    @property
    def kind(self) -> Kind:
        """An orchestrator job (``command/deploy``), or a plan job when ``plan`` is set."""
        return KINDS["plan" if self.settings.plan else "job"]

    @property
    def client(self) -> PuppetClient:
        return client_for(self.settings, self.environ)

    def validate_remote(self) -> None:
        """The token is accepted, and the node group of the scope exists."""
        client = self.client
        group = self.settings.scope.get("node_group")
        if group:
            client.get("classifier", f"groups/{group}",
                       what=f"read the node group {group} (puppet-enterprise.node_group of {self.environment.name})")
        else:
            client.get("orchestrator", "jobs", {"limit": 1}, what="list orchestrator jobs (to check the token)")

    def preflight(self, release: Release) -> None:
        """The token works: list the recent orchestrator jobs (exit 2 when rejected); kept for :meth:`deploy`."""
        self._recent = list(recent(self.client, self.kind))

    def deploy(self, job: DeployJob) -> DeployOutcome:
        client = self.client
        names = [p.package.name for p in job.plan]
        adopted = self._adoptable(client, job)
        remote: dict[str, Any] = {"kind": self.kind.path, "code_environment": self.settings.code_environment,
                                  "noop": bool(self.settings.get("noop", False))}
        if adopted is not None:
            job_id = str(adopted["name"])
            job.out(f"puppet-enterprise: resuming the wait on {self.kind.name} {job_id} ({adopted.get('state')}), "
                    f"started earlier for {job.release.version} in {job.environment.name}\n")
        else:
            failure = self._deploy_code(client, job)
            if failure:
                remote["code_deploy"] = "failed"
                return DeployOutcome("failed", {n: "failed" for n in names}, remote, failure)
            job_id = self._start(client, job)
        remote.update(job_id=job_id, url=client.url("orchestrator", f"{self.kind.path}/{job_id}"))
        result = wait(client, self.kind, job_id, interval=self.settings.poll_interval, timeout=self.settings.timeout,
                      out=job.out, progress=job.progress)
        remote["state"] = result.state
        if result.status != "succeeded":
            message = f"Puppet {self.kind.name} {job_id} ended {result.state}"
            message += (f": {result.explanation}" if result.explanation else "") + f" ({remote['url']})"
            return DeployOutcome(result.status, {n: "failed" for n in names}, remote,  # type: ignore[arg-type]
                                 job.masker.mask(message))
        if remote["noop"]:
            job.out(f"puppet-enterprise: {self.kind.name} {job_id} ran in no-op mode: Puppet reported what it "
                    "would change and enforced nothing\n")
        packages = {n: "deployed" for n in names}
        checks = job.run_checks()
        if checks.status != "succeeded":
            return DeployOutcome(checks.status, packages, remote, checks.message, checks.excerpt)
        return DeployOutcome("succeeded", packages, remote)

    def _deploy_code(self, client: PuppetClient, job: DeployJob) -> str:
        """Deploy the code environment with Code Manager; the failure in words, or ``""``."""
        if not self.settings.get("deploy_code", True):
            return ""
        env = self.settings.code_environment
        answer = client.request("POST", "code_manager", "deploys", json={"environments": [env], "wait": True},
                                idempotent=True, timeout=_CODE_DEPLOY_TIMEOUT,
                                what=f"deploy the Puppet code environment {env} with Code Manager") or []
        entry: dict[str, Any] = next((e for e in answer if e.get("environment") == env), {})
        if entry.get("status") == "complete":
            job.out(f"puppet-enterprise: Code Manager deployed {env} at {entry.get('deploy-signature', '?')}\n")
            return ""
        error = entry.get("error") or {}
        return (f"Code Manager could not deploy the code environment {env}: "
                f"{error.get('msg') or entry.get('status') or 'no answer for it'}")

    def _start(self, client: PuppetClient, job: DeployJob) -> str:
        description = describe(job)

        def recover() -> dict[str, Any] | None:  # the answer was lost: did the orchestrator start it?
            for item in recent(client, self.kind):
                if item["trainmaster"]["deployment_id"] == str(job.deployment_id) and \
                        item["trainmaster"]["release_id"] == job.release.id:
                    return {"name": str(item["name"]), "job": {"name": str(item["name"])}}
            return None

        where = f"for {job.release.version} in {job.environment.name}"
        if self.kind.path == "jobs":
            body: dict[str, Any] = {"environment": self.settings.code_environment, "scope": self.settings.scope,
                                    "description": description}
            if self.settings.get("noop"):
                body["noop"] = True
            if self.settings.get("concurrency") is not None:
                body["concurrency"] = int(self.settings.get("concurrency"))
            answer = client.request("POST", "orchestrator", "command/deploy", json=body, recover=recover,
                                    what=f"start a Puppet run on {_scope_text(self.settings.scope)} {where}")
            job_id = str((answer.get("job") or {}).get("name"))
        else:
            params = {**job.variables, "trainmaster": job.manifest()}
            answer = client.request("POST", "orchestrator", "command/plan_run", recover=recover,
                                    json={"plan_name": self.settings.plan, "params": params,
                                          "environment": self.settings.code_environment, "description": description},
                                    what=f"run the plan {self.settings.plan} {where}")
            job_id = str(answer.get("name"))
        job.out(f"puppet-enterprise: started {self.kind.name} {job_id}: "
                f"{client.url('orchestrator', f'{self.kind.path}/{job_id}')}\n")
        return job_id

    def _adoptable(self, client: PuppetClient, job: DeployJob) -> dict[str, Any] | None:
        """This release's job in this environment, still running, or its newest and successful one."""
        env, project = job.environment.name, job.release.project
        listed, self._recent = self._recent, None
        runs = [r for r in (listed if listed is not None else recent(client, self.kind))
                if r["trainmaster"]["environment"] == env and r["trainmaster"]["project"] == project]
        mine = [r for r in runs if r["trainmaster"]["release_id"] == job.release.id
                and r["trainmaster"]["kind"] == job.kind]
        if not mine:
            return None
        latest = mine[0]
        status = self.kind.final.get(str(latest.get("state")))
        if status is None:
            return latest
        if status == "succeeded" and runs[0] is latest and not job.force and job.kind != "rollback":
            return latest
        return None


def _scope_text(scope: dict[str, Any]) -> str:
    if "nodes" in scope:
        return f"{len(scope['nodes'])} node(s)"
    if "node_group" in scope:
        return f"node group {scope['node_group']}"
    return "the nodes of a PQL query"
