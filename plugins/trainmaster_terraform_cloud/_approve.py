"""``trainmaster approve`` for ``terraform-cloud``: confirm this release's waiting run with a comment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainmaster_terraform_cloud._config_version import workspace
from trainmaster_terraform_cloud._runs import apply_run, find_release_run
from trainmaster_terraform_cloud._settings import Settings

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import Approval, Release

__all__ = ["approve"]


def approve(approval: Approval, release: Release, environment: Environment, config: Config) -> str:
    """Apply the run if it waits for confirmation; a note for stderr (empty when there was nothing to do)."""
    settings = Settings.resolve(config, environment)
    client = settings.client()
    ws = workspace(client, settings.organization, str(settings.workspace))
    run = find_release_run(client, ws["id"], release.id) if ws else None
    if run is None:
        return ""
    attrs = run.get("attributes") or {}
    url = settings.run_url(str(settings.workspace), run["id"])
    if attrs.get("status") == "policy_override":
        return f"terraform-cloud: run {run['id']} needs a policy override, which only HCP Terraform grants: {url}"
    if not (attrs.get("actions") or {}).get("is-confirmable"):
        return ""
    comment = f"approved in trainmaster by {approval.actor}" + (f": {approval.comment}" if approval.comment else "")
    apply_run(client, run["id"], comment)
    return f"terraform-cloud: applied run {run['id']} ({url}); re-run the deployment to follow it"
