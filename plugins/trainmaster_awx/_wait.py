"""Wait for an AWX job or workflow job: one request per interval, output read only when it grew.

Each interval costs one request:

* a playbook job: ``GET /jobs/{id}/``, whose ``status`` says whether it ended and whose
  ``playbook_counts`` (plays and tasks started, from the processed job events) say whether its
  output grew; only then is the next interval's one request ``GET /jobs/{id}/stdout/?format=json&start_line=N``
  instead (just the new lines; the status is read again in the interval after), and the rest of the
  output is read at once when it ends (after the job ended, once ``event_processing_finished``, waiting at most
  a few intervals, so the play recap is not cut off);
* a workflow job: ``GET /unified_jobs/?or__id={id}&or__unified_job_node__workflow_job={id}``, the
  workflow's own row and the jobs and approvals its nodes started, in one answer (an approval
  ``pending`` is exit 3 with its link; a re-run resumes the wait).

A timeout or SIGTERM (Ctrl-C) cancels the job before the error propagates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainmaster.errors import Refused, Unavailable
from trainmaster_awx.client import AwxClient

__all__ = ["FINAL", "JobOutcome", "cancel", "job_status", "wait_for_job"]

FINAL = ("successful", "failed", "error", "canceled")
_SETTLE = 10  # intervals to wait, after the job ended, for AWX to finish processing its output events


@dataclass
class JobOutcome:
    """A finished job: the core's status, AWX's status and its explanation."""

    status: str  # succeeded | failed | cancelled
    state: str
    explanation: str = ""


def job_status(state: str) -> str | None:
    """The core status of AWX ``state``, or None while it is not finished."""
    if state not in FINAL:
        return None
    return {"successful": "succeeded", "canceled": "cancelled"}.get(state, "failed")


def kind_path(kind: str) -> str:
    return "workflow_jobs" if kind == "workflow_job" else "jobs"


def ui_link(client: AwxClient, kind: str, job_id: int) -> str:
    return client.ui(f"jobs/{'workflow' if kind == 'workflow_job' else 'playbook'}/{job_id}/output")


def cancel(client: AwxClient, kind: str, job_id: int) -> None:
    """Ask AWX to cancel the job (a job already finished answers 405: nothing to do)."""
    client.request("POST", f"{kind_path(kind)}/{job_id}/cancel/", what=f"cancel AWX {kind} {job_id}",
                   idempotent=True, ok=(200, 202, 204, 405))


def wait_for_job(client: AwxClient, kind: str, job_id: int, *, interval: float, timeout: float,
                 out: Callable[[str], None], progress: Callable[[str], None] | None = None,
                 stream: bool = True, clock: Callable[[], float] = time.monotonic) -> JobOutcome:
    """Poll until the job finishes; print its new stdout lines through ``out`` (the caller masks).

    :raises Refused: a workflow's approval node waits (exit 3, with its link).
    :raises Unavailable: ``timeout`` passed; the job was cancelled (exit 5).
    """
    start, line, first, settle, owed = clock(), 0, True, _SETTLE, False
    seen: Any = (0, 0)  # no play or task started: no output to read yet
    try:
        while True:
            if not first:
                if clock() - start >= timeout and settle == _SETTLE:  # (a job that ended is not cancelled)
                    cancel(client, kind, job_id)
                    raise Unavailable(f"AWX {kind} {job_id} did not finish within {timeout:g}s and was cancelled: "
                                      f"{ui_link(client, kind, job_id)}")
                client.sleep(interval)
            first = False
            if owed:  # this interval's one request: the lines the last status read said were new
                line, owed = _stream(client, job_id, line, out), False
                continue
            if kind == "workflow_job":
                rows = client.first_page("unified_jobs/", {"or__id": str(job_id),
                                                           "or__unified_job_node__workflow_job": str(job_id),
                                                           "order_by": "id", "page_size": 200},
                                         what=f"read the status of AWX workflow job {job_id}")
                row = next((r for r in rows if int(r.get("id") or 0) == job_id), {})
            else:
                row = client.get(f"jobs/{job_id}/", what=f"read the status of AWX job {job_id}") or {}
            state = str(row.get("status") or "unknown")
            status = job_status(state)
            if stream and kind == "job":
                if status is not None and row.get("event_processing_finished") is False and settle > 0:
                    settle -= 1  # AWX is still processing its last events: their lines are not there yet
                    continue
                grown = _progress_mark(row)
                if status is not None:  # the end: the rest of the output at once
                    line = _stream(client, job_id, line, out)
                elif grown != seen:
                    owed, seen = True, grown  # read in the next interval, instead of the status
            if progress:
                progress(f"waiting on AWX {kind} {job_id} ({clock() - start:.0f}s): {state}")
            if status is not None:
                if progress:
                    progress("")
                return JobOutcome(status, state, str(row.get("job_explanation") or ""))
            if kind == "workflow_job":
                _check_approvals(client, job_id, rows, progress)
    except KeyboardInterrupt:
        cancel(client, kind, job_id)
        out(f"awx: cancelled {kind} {job_id}\n")
        raise


def _progress_mark(row: dict[str, Any]) -> Any:
    """What changes when a job's output grows: its play and task counts (AWX's job detail)."""
    counts = row.get("playbook_counts")
    return (counts.get("play_count"), counts.get("task_count")) if isinstance(counts, dict) else object()


def _stream(client: AwxClient, job_id: int, line: int, out: Callable[[str], None]) -> int:
    body = client.get(f"jobs/{job_id}/stdout/", {"format": "json", "start_line": line},
                      what=f"read the output of AWX job {job_id}") or {}
    content = str(body.get("content") or "") if isinstance(body, dict) else ""
    end = int((body.get("range") or {}).get("end", line)) if isinstance(body, dict) else line
    if content:
        out(content if content.endswith("\n") else content + "\n")
    return max(end, line)


def _check_approvals(client: AwxClient, job_id: int, rows: list[dict[str, Any]],
                     progress: Callable[[str], None] | None) -> None:
    for row in rows:
        if row.get("type") == "workflow_approval" and row.get("status") == "pending":
            if progress:
                progress("")
            raise Refused(f"AWX workflow job {job_id} waits on the approval {row.get('name')!r}: approve it at "
                          f"{client.ui('workflow_approvals/' + str(row['id']) + '/details')} or with "
                          "`trainmaster approve`, then re-run to resume waiting")


def pending_approvals(client: AwxClient, workflow_job_id: int) -> list[dict[str, Any]]:
    """The approval nodes of a workflow job that wait for a person: ``{id, name}`` each."""
    nodes = client.first_page(f"workflow_jobs/{workflow_job_id}/workflow_nodes/", {"page_size": 200},
                              what=f"read the nodes of AWX workflow job {workflow_job_id}")
    out = []
    for node in nodes:
        job = (node.get("summary_fields") or {}).get("job") or {}
        if job.get("type") == "workflow_approval" and job.get("status") == "pending":
            out.append({"id": int(job["id"]), "name": str(job.get("name") or "")})
    return out
