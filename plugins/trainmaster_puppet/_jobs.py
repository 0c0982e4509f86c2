"""Orchestrator jobs and plan jobs: start, find again, wait, stop, and explain a failure.

A deployment is one orchestrator job (``command/deploy``) or one plan job (``command/plan_run``)
whose description (:func:`~trainmaster_puppet._manifest.describe`) names the release, the
deployment id and the environment. That is how a lost answer is recovered (the job list is read
before anything is sent again) and how a re-run adopts the job an earlier run started.

The wait costs one ``GET /jobs/{id}`` (``/plan_jobs/{id}``) per interval, and one
``GET /jobs/{id}/nodes`` when a job ends failed, to name the failed nodes and their reports'
messages. A timeout or SIGTERM (Ctrl-C) stops the job (``command/stop`` / ``command/stop_plan``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainmaster.errors import Unavailable
from trainmaster_puppet._manifest import parse_description
from trainmaster_puppet.client import PuppetClient

__all__ = ["KINDS", "JobOutcome", "Kind", "failed_nodes", "recent", "stop", "wait"]

_RECENT = 50  # jobs looked at when adopting or recovering a start


@dataclass(frozen=True)
class Kind:
    """What differs between orchestrator jobs and plan jobs."""

    name: str  # "job" | "plan job"
    path: str  # jobs | plan_jobs
    final: dict[str, str]  # PE state -> core status

    def stop(self, client: PuppetClient, job_id: str) -> None:
        body = {"job": job_id} if self.path == "jobs" else {"plan_job": job_id}
        client.request("POST", "orchestrator", "command/stop" if self.path == "jobs" else "command/stop_plan",
                       json=body, idempotent=True, what=f"stop Puppet {self.name} {job_id}")


KINDS = {
    "job": Kind("job", "jobs", {"finished": "succeeded", "failed": "failed", "stopped": "cancelled"}),
    "plan": Kind("plan job", "plan_jobs", {"success": "succeeded", "failure": "failed"}),
}


@dataclass
class JobOutcome:
    """A finished job: the core's status, PE's state, and why it failed."""

    status: str  # succeeded | failed | cancelled
    state: str
    explanation: str = ""


def recent(client: PuppetClient, kind: Kind) -> list[dict[str, Any]]:
    """The newest jobs (plan jobs) started by trainmaster, newest first, with their parsed descriptions."""
    params: dict[str, Any] = {"limit": _RECENT, "order_by": "timestamp", "order": "desc"}
    if kind.path == "jobs":
        params["type"] = "deploy"
    body = client.get("orchestrator", kind.path, params, what=f"list the recent Puppet {kind.name}s") or {}
    out = []
    for item in body.get("items") or []:
        desc = (item.get("options") or {}).get("description") or item.get("description")
        fields = parse_description(desc)
        if fields:
            out.append({**item, "trainmaster": fields})
    return sorted(out, key=lambda i: int(i["name"]), reverse=True)


def stop(client: PuppetClient, kind: Kind, job_id: str) -> None:
    kind.stop(client, job_id)


def wait(client: PuppetClient, kind: Kind, job_id: str, *, interval: float, timeout: float,
         out: Callable[[str], None], progress: Callable[[str], None] | None = None,
         clock: Callable[[], float] = time.monotonic) -> JobOutcome:
    """Poll until the job ends.

    :raises Unavailable: ``timeout`` passed; the job was stopped (exit 5).
    """
    start, first = clock(), True
    try:
        while True:
            if not first:
                if clock() - start >= timeout:
                    kind.stop(client, job_id)
                    raise Unavailable(f"Puppet {kind.name} {job_id} did not finish within {timeout:g}s and was "
                                      f"stopped: {client.url('orchestrator', f'{kind.path}/{job_id}')}")
                client.sleep(interval)
            first = False
            body = client.get("orchestrator", f"{kind.path}/{job_id}",
                              what=f"read the state of Puppet {kind.name} {job_id}") or {}
            state = str(body.get("state") or "unknown")
            if progress:
                progress(f"waiting on Puppet {kind.name} {job_id} ({clock() - start:.0f}s): {state}")
            status = kind.final.get(state)
            if status is not None:
                if progress:
                    progress("")
                explanation = ""
                if status == "failed":
                    explanation = (failed_nodes(client, job_id) if kind.path == "jobs"
                                   else _plan_error(body.get("result")))
                return JobOutcome(status, state, explanation)
    except KeyboardInterrupt:
        kind.stop(client, job_id)
        out(f"puppet-enterprise: stopped {kind.name} {job_id}\n")
        raise


def failed_nodes(client: PuppetClient, job_id: str) -> str:
    """``node: message; …`` for every node of the job that failed or errored (its report's message)."""
    body = client.get("orchestrator", f"jobs/{job_id}/nodes", {"limit": 1000},
                      what=f"read the nodes of Puppet job {job_id}") or {}
    bad = [n for n in body.get("items") or [] if n.get("state") in ("failed", "errored")]
    parts = []
    for node in bad:
        result, details = node.get("result") or {}, node.get("details") or {}
        message = result.get("message") or result.get("msg") or details.get("message") or node.get("state")
        parts.append(f"{node.get('name')}: {message}")
    total = len(body.get("items") or [])
    return f"{len(bad)} of {total} node(s) failed: " + "; ".join(parts) if bad else ""


def _plan_error(result: Any) -> str:
    if isinstance(result, dict):
        return str(result.get("msg") or result.get("message") or "")
    return ""
