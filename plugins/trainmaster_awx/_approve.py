"""``trainmaster approve`` → the pending approval node of the workflow job this release waits on."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from trainmaster_awx._settings import Settings, client_for
from trainmaster_awx._target import _manifest_of, recent_runs
from trainmaster_awx._template import find_template
from trainmaster_awx._wait import FINAL, pending_approvals
from trainmaster_awx.client import AwxClient

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import Approval, Release

__all__ = ["approve"]


def approve(approval: Approval, release: Release, environment: Environment, config: Config) -> str:
    """Approve the pending approval nodes of ``release``'s running workflow job in ``environment``.

    Returns a line for the user (``""`` when nothing waits, or the target launches a job template).
    """
    settings = Settings.resolve(config, environment)
    if settings.template[0] != "workflow_job_template":
        return ""
    client = client_for(settings)
    template = find_template(client, settings)
    done = []
    for run in recent_runs(client, template):
        manifest = _manifest_of(run)
        if (manifest.get("release_id") != release.id or manifest.get("environment") != environment.name
                or run.get("status") in FINAL):
            continue
        for node in pending_approvals(client, int(run["id"])):
            approval_id = int(node["id"])
            client.request("POST", f"workflow_approvals/{approval_id}/approve/", json={},
                           what=f"approve {node['name']!r} of AWX workflow job {run['id']}",
                           recover=partial(_decided, client, approval_id))
            done.append(f"{node['name']!r} of workflow job {run['id']}")
    return f"awx: approved {', '.join(done)}" if done else ""


def _decided(client: AwxClient, approval_id: int) -> Any:
    """After a lost answer: the approval is no longer pending when the approve took effect."""
    row = client.get(f"workflow_approvals/{approval_id}/", what=f"read AWX approval {approval_id}") or {}
    return row if row.get("status") != "pending" else None
