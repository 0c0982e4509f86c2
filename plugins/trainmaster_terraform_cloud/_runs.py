"""Runs: one per deployment, found again by its message, waited on one read per interval.

The run's message carries the release id and the deployment id
(``trainmaster <version> release <id> deployment <n>``): a create whose answer was lost is
recovered by that deployment's marker, and a re-run adopts this release's run still in
progress (or waiting for a person) instead of creating another.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainmaster.errors import Refused, Unavailable
from trainmaster_terraform_cloud.client import TfcClient

__all__ = ["RunOutcome", "create_run", "find_release_run", "hcl_string", "message", "run_status", "wait_for_run"]

SUCCEEDED = {"applied", "planned_and_finished", "planned_and_saved"}
FAILED = {"errored", "policy_soft_failed"}
CANCELLED = {"discarded", "canceled", "force_canceled"}
FINAL = SUCCEEDED | FAILED | CANCELLED
_LOOKBACK = 40


@dataclass
class RunOutcome:
    run_id: str
    state: str
    status: str  # succeeded | failed | cancelled
    changes: dict[str, int] = field(default_factory=dict)


def message(version: str, release_id: str, deployment_id: int) -> str:
    return f"trainmaster {version} release {release_id} deployment {deployment_id}"


def hcl_string(value: str) -> str:
    """A run variable's value is an HCL expression: a quoted string with template sequences escaped."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def run_status(state: str) -> str | None:
    if state in SUCCEEDED:
        return "succeeded"
    if state in FAILED:
        return "failed"
    if state in CANCELLED:
        return "cancelled"
    return None


def _runs(client: TfcClient, ws_id: str) -> list[dict[str, Any]]:
    return list(client.pages(f"workspaces/{ws_id}/runs", limit=_LOOKBACK))


def find_release_run(client: TfcClient, ws_id: str, release_id: str) -> dict[str, Any] | None:
    """The newest run of this release in the workspace, or None."""
    marker = f" release {release_id} deployment "
    return next((r for r in _runs(client, ws_id) if marker in ((r.get("attributes") or {}).get("message") or "")),
                None)


def create_run(client: TfcClient, ws_id: str, cv_id: str, text: str, variables: dict[str, str],
               auto_apply: bool | None) -> dict[str, Any]:
    """Create the run (a lost answer is recovered by its message; never created twice)."""
    attrs: dict[str, Any] = {"message": text,
                             "variables": [{"key": k, "value": v} for k, v in sorted(variables.items())]}
    if auto_apply is not None:
        attrs["auto-apply"] = auto_apply
    body = {"data": {"type": "runs", "attributes": attrs, "relationships": {
        "workspace": {"data": {"type": "workspaces", "id": ws_id}},
        "configuration-version": {"data": {"type": "configuration-versions", "id": cv_id}}}}}

    def recover() -> Any:
        found = next((r for r in _runs(client, ws_id) if (r.get("attributes") or {}).get("message") == text), None)
        return {"data": found} if found else None

    return dict(client.post("runs", body, recover=recover, what="create the run")["data"])


def _changes(doc: dict[str, Any]) -> dict[str, int]:
    plan = next((i for i in doc.get("included") or [] if i.get("type") == "plans"), None)
    attrs = (plan or {}).get("attributes") or {}
    if attrs.get("resource-additions") is None:
        return {}
    return {"add": int(attrs.get("resource-additions") or 0), "change": int(attrs.get("resource-changes") or 0),
            "destroy": int(attrs.get("resource-destructions") or 0)}


def wait_for_run(client: TfcClient, run_id: str, url: str, *, interval: float, timeout: float,
                 out: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> RunOutcome:
    """One ``GET /runs/{id}?include=plan`` per interval until the run ends.

    :raises Refused: the plan waits for a person to confirm, or a policy needs an override (exit 3).
    :raises Unavailable: ``timeout`` passed; the run was cancelled or discarded first (exit 5).
    :raises KeyboardInterrupt: Ctrl-C or SIGTERM; the run was cancelled or discarded first.
    """
    start, first, last, reported = clock(), True, "", False
    try:
        while True:
            if not first:
                if clock() - start >= timeout:
                    _abort(client, run_id, f"trainmaster: no result within {timeout:g}s")
                    raise Unavailable(f"HCP Terraform run {run_id} did not finish within {timeout:g}s and was "
                                      f"cancelled: {url}")
                client.sleep(interval)
            first = False
            doc = client.get(f"runs/{run_id}", {"include": "plan"}, what=f"read run {run_id}")
            attrs = doc["data"].get("attributes") or {}
            state = str(attrs.get("status"))
            changes = _changes(doc)
            if changes and not reported:
                out(f"terraform-cloud: plan: {changes['add']} to add, {changes['change']} to change, "
                    f"{changes['destroy']} to destroy\n")
                reported = True
            if state != last:
                out(f"terraform-cloud: run {run_id}: {state}\n")
                last = state
            status = run_status(state)
            if status is not None:
                return RunOutcome(run_id, state, status, changes)
            if state == "policy_override":
                raise Refused(f"HCP Terraform run {run_id} needs a policy override: override it (or discard it) "
                              f"at {url}, then re-run to resume")
            if (attrs.get("actions") or {}).get("is-confirmable"):
                raise Refused(f"HCP Terraform run {run_id} waits for a person to confirm the plan: "
                              f"`trainmaster approve` applies it (or confirm at {url}), then re-run to resume")
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (a CI cancellation): the run must not apply later
        done = _abort(client, run_id, "trainmaster: the deployment was cancelled (SIGTERM or Ctrl-C)")
        out(f"terraform-cloud: {'discarded' if done == 'discard' else 'cancelled'} run {run_id}\n" if done else
            f"terraform-cloud: run {run_id} could no longer be cancelled: {url}\n")
        raise


def _abort(client: TfcClient, run_id: str, comment: str) -> str | None:
    """Discard a run waiting for a decision, cancel one that is planning or applying; the action taken."""
    doc = client.get(f"runs/{run_id}", what=f"read run {run_id}")
    actions = (doc["data"].get("attributes") or {}).get("actions") or {}
    for action, able in (("discard", "is-discardable"), ("cancel", "is-cancelable")):
        if actions.get(able):
            client.post(f"runs/{run_id}/actions/{action}", {"comment": comment}, idempotent=True,
                        what=f"{action} run {run_id}")
            return action
    return None


def apply_run(client: TfcClient, run_id: str, comment: str) -> None:
    client.post(f"runs/{run_id}/actions/apply", {"comment": comment}, idempotent=True, what=f"apply run {run_id}")
