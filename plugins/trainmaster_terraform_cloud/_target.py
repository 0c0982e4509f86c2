"""The ``terraform-cloud`` target: one run per deployment on the release's one configuration version.

``deploy``: refuse secret variables (exit 2); find the environment's workspace; adopt this
release's run when one is still going or waits for a person (a re-run after exit 3), else
make sure the configuration version exists (uploaded once, found again by digest) and create a
run whose message carries the release and deployment ids, with the manifest and the
environment's non-secret variables as run variables; wait, one read per interval.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ConfigError
from trainmaster.interfaces import DeployOutcome
from trainmaster.remote_target import RemoteTarget
from trainmaster_terraform_cloud._config_version import ensure_configuration_version, workspace
from trainmaster_terraform_cloud._runs import (
    FINAL,
    create_run,
    find_release_run,
    hcl_string,
    message,
    run_status,
    wait_for_run,
)
from trainmaster_terraform_cloud._settings import Settings, refuse_secrets
from trainmaster_terraform_cloud.client import TfcClient

if TYPE_CHECKING:
    from trainmaster.interfaces import Approval, DeployJob, PackagePlan, Release

__all__ = ["TerraformCloudTarget", "terraform_package"]

_CACHE: dict[str, str] = {}  # configuration version id -> digest of its archive (this process)


def terraform_package(settings: Settings, plan: list[PackagePlan]) -> PackagePlan:
    if settings.package:
        found = [p for p in plan if p.package.name == settings.package]
    elif len(plan) == 1:
        found = plan
    else:
        found = [p for p in plan if p.package.file_name.endswith((".tar.gz", ".tgz"))]
    if len(found) != 1:
        raise ConfigError("terraform-cloud: say which package holds the Terraform configuration "
                          "(terraform-cloud.package)", key="terraform-cloud.package")
    return found[0]


class TerraformCloudTarget(RemoteTarget):
    """Deploys one trainmaster environment through its HCP Terraform workspace."""

    settings_class = Settings
    settings: Settings
    whole_environment = ("one HCP Terraform run applies the whole workspace",
                         "use one workspace per environment")
    _ws: dict[str, Any] | None = None  # read by preflight, kept for deploy

    def client(self) -> TfcClient:
        return self.settings.client(self.environ)

    def approve(self, approval: Approval, release: Release) -> str:
        """``Target.approve``: carry a counted approval into this release's run waiting for confirmation."""
        from trainmaster_terraform_cloud._approve import approve

        return approve(approval, release, self.environment, self.config)

    def validate(self) -> None:
        """Offline: the settings resolve (done in __init__) and no variable is secret (exit 2)."""
        refuse_secrets(self.config, self.environment)

    def validate_remote(self) -> None:
        """The token works and the environment's and configuration workspaces exist (exit 2)."""
        self.validate()
        client = self.client()
        for name in dict.fromkeys([str(self.settings.workspace), self.settings.configuration_workspace]):
            if workspace(client, self.settings.organization, name) is None:
                raise ConfigError(f"HCP Terraform organization {self.settings.organization!r} has no workspace "
                                  f"{name!r} (or the token cannot see it)", key="terraform-cloud.workspace")

    def _workspace(self, client: TfcClient, name: str) -> dict[str, Any]:
        ws = workspace(client, self.settings.organization, name)
        if ws is None:
            raise ConfigError(f"HCP Terraform organization {self.settings.organization!r} has no workspace "
                              f"{name!r} (or the token cannot see it)", key="terraform-cloud.workspace")
        return ws

    def preflight(self, release: Release) -> None:
        """The token works: read the environment's workspace (exit 2 when rejected or missing); kept for deploy."""
        self._ws = self._workspace(self.client(), str(self.settings.workspace))

    def deploy(self, job: DeployJob) -> DeployOutcome:
        refuse_secrets(self.config, self.environment)
        client = self.client()
        name = str(self.settings.workspace)
        ws, self._ws = self._ws or self._workspace(client, name), None
        pkg = terraform_package(self.settings, job.plan)
        others = {p.package.name: "skipped" for p in job.plan if p is not pkg}
        run = self._adoptable(client, ws, job)
        if run is not None:
            job.out(f"terraform-cloud: adopting run {run['id']} of {job.release.version} in {name}\n")
        else:
            home = ws if name == self.settings.configuration_workspace else \
                self._workspace(client, self.settings.configuration_workspace)
            cv_id, created = ensure_configuration_version(client, home["id"], pkg.path, pkg.package.digest, _CACHE)
            job.out(f"terraform-cloud: configuration version {cv_id} ({'uploaded' if created else 'reused'}, "
                    f"{pkg.package.digest})\n")
            variables = {k: hcl_string(v) for k, v in job.variables.items()}
            variables["trainmaster"] = json.dumps(job.manifest())
            text = message(job.release.version, job.release.id, job.deployment_id)
            run = create_run(client, ws["id"], cv_id, text, variables, self.settings.auto_apply)
        url = self.settings.run_url(name, run["id"])
        job.out(f"terraform-cloud: run {run['id']}: {url}\n")
        outcome = wait_for_run(client, run["id"], url, interval=self.settings.poll_interval,
                               timeout=self.settings.timeout, out=job.out)
        remote = {"run_id": run["id"], "workspace": name, "url": url, "state": outcome.state,
                  "changes": outcome.changes}
        mark = "deployed" if outcome.status == "succeeded" else "failed"
        packages = {pkg.package.name: mark, **others}
        if outcome.status != "succeeded":
            return DeployOutcome(outcome.status, packages, remote,  # type: ignore[arg-type]
                                 f"HCP Terraform run {run['id']} ended {outcome.state}: {url}")
        checks = job.run_checks()
        if checks.status != "succeeded":
            return DeployOutcome(checks.status, packages, remote, checks.message, checks.excerpt)
        return DeployOutcome("succeeded", packages, remote)

    def _adoptable(self, client: TfcClient, ws: dict[str, Any], job: DeployJob) -> dict[str, Any] | None:
        """This release's run still in progress, or applied and still the workspace's current run."""
        if job.force or job.kind == "rollback":
            return None
        run = find_release_run(client, ws["id"], job.release.id)
        if run is None:
            return None
        state = str((run.get("attributes") or {}).get("status"))
        if state not in FINAL:
            return run
        current = (((ws.get("relationships") or {}).get("current-run") or {}).get("data") or {}).get("id")
        return run if run_status(state) == "succeeded" and current == run["id"] else None
