"""``trainmaster approve`` → the classic release's pending pre-deployment approval (approvals API)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from trainmaster_azure._remote import Remote
from trainmaster_azure._settings import Settings

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import Approval
    from trainmaster.model import Release


def approve(approval: Approval, release: Release, environment: Environment, config: Config) -> str:
    """Approve the pending approval of ``environment``'s stage; returns a line for the user ("" if none)."""
    from trainmaster_azure._publish import pinned_build
    from trainmaster_azure._target import pending_approvals

    s = Settings.resolve(config, environment)
    remote = Remote.open(s)  # checks the extra first
    from azure.devops.v7_1.release.models import ReleaseApproval

    match, _ = remote.find(release, pinned_build(release, os.environ))
    if match is None:
        return ""
    full = remote.client.release.get_release(s.project, match.id)
    stage = remote.stage(s.stage_for(environment.name))
    env = next((e for e in full.environments or [] if e.name == stage), None)
    if env is None:
        return ""
    done = 0
    for pending in pending_approvals(remote, full.id, env.id):
        comment = f"trainmaster approve by {approval.actor}" + (f": {approval.comment}" if approval.comment else "")
        body = ReleaseApproval(status="approved", comments=comment)
        remote.client.call(
            lambda: remote.client.release.update_release_approval(body, s.project, pending.id),  # noqa: B023
            recover=lambda: _decided(remote, full.id, env.id, pending.id),  # noqa: B023
        )
        done += 1
    return f"azure-devops: approved {done} pending approval(s) of {stage} in {full.name}" if done else ""


def _decided(remote: Remote, release_id: int, environment_id: int, approval_id: int) -> bool | None:
    """After a lost answer: True when the approval is no longer pending (applied), else None (send again)."""
    from trainmaster_azure._target import pending_approvals

    return None if any(a.id == approval_id for a in pending_approvals(remote, release_id, environment_id)) else True
