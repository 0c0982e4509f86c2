"""Wait for Octopus server tasks: one batched ``GET /tasks?ids=…`` per poll interval.

However many tasks are pending, each interval costs exactly one call. A task
that reports ``HasPendingInterruptions`` (a manual intervention or guided
failure) stops the wait with exit 3 and the link to the task; re-running attaches
to the same task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trainmaster.errors import Refused, Unavailable
from trainmaster_octopus.client import OctopusApiError, OctopusClient

__all__ = ["TaskOutcome", "TaskTimeout", "task_status", "wait_for_tasks"]

FINAL = {"Success", "Failed", "Canceled", "TimedOut"}


class TaskTimeout(Unavailable):
    """The tasks did not finish in time (exit 5 for a deployment; a runbook run reports it as failed)."""


@dataclass
class TaskOutcome:
    """A finished task: its id, Octopus state and the core's status."""

    task_id: str
    state: str
    status: str  # succeeded | failed | cancelled
    error: str = ""


def task_status(task: dict[str, Any]) -> str | None:
    """The core status of a finished task, or None while it runs."""
    state = str(task.get("State") or "")
    if not task.get("IsCompleted") and state not in FINAL:
        return None
    if state == "Success" or (task.get("FinishedSuccessfully") and state not in ("Canceled", "Cancelling")):
        return "succeeded"
    if state in ("Canceled", "Cancelling"):
        return "cancelled"
    return "failed"


def _timed_out(client: OctopusClient, pending: list[str], timeout: float, cancel: bool) -> TaskTimeout:
    """The timeout's error (exit 5), after ``POST /tasks/{id}/cancel`` for each task when ``cancel``."""
    link = client.web_link("tasks/" + pending[0])
    if not cancel:
        return TaskTimeout(f"Octopus task(s) {', '.join(pending)} did not finish within {timeout:g}s; "
                           f"a re-run resumes waiting: {link}")
    refused = []
    for task_id in pending:
        try:  # cancelling twice changes nothing, so the call is retried like a GET
            client.request("POST", client.space_path(f"tasks/{task_id}/cancel"), idempotent=True)
        except OctopusApiError as exc:  # e.g. it finished meanwhile; the others are still cancelled
            refused.append(f"{task_id} ({exc})")
    text = f"Octopus task(s) {', '.join(pending)} did not finish within {timeout:g}s and were cancelled"
    if refused:
        text += "; cancelling failed for " + ", ".join(refused)
    return TaskTimeout(f"{text}: {link}")


def wait_for_tasks(
    client: OctopusClient,
    task_ids: list[str],
    *,
    interval: float = 10.0,
    timeout: float = 3600.0,
    cancel_on_timeout: bool = False,
    progress: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    on_poll: Callable[[], None] | None = None,
) -> dict[str, TaskOutcome]:
    """Poll until every task has finished; return their outcomes by id.

    ``on_poll`` runs after every poll (a runbook run prints the new lines of its task log).

    :raises Refused: a task waits on a manual intervention (exit 3, with its link).
    :raises TaskTimeout: ``timeout`` passed (after cancelling the tasks if asked; exit 5).
    """
    pending = list(dict.fromkeys(task_ids))
    done: dict[str, TaskOutcome] = {}
    start = clock()
    first = True
    while pending:
        if not first:
            if clock() - start >= timeout:
                raise _timed_out(client, pending, timeout, cancel_on_timeout)
            client.sleep(interval)
        first = False
        page = client.get(
            client.space_path("tasks"), {"ids": ",".join(pending), "skip": 0, "take": len(pending)}
        )
        tasks = {str(t.get("Id")): t for t in (page or {}).get("Items") or []}
        if on_poll:
            on_poll()
        states = []
        for task_id in list(pending):
            task = tasks.get(task_id)
            if task is None:
                states.append(f"{task_id}: ?")
                continue
            if task.get("HasPendingInterruptions"):
                if progress:
                    progress("")
                raise Refused(
                    f"Octopus task {task_id} waits on a manual intervention: respond at "
                    f"{client.web_link('tasks/' + task_id)}, then re-run to resume waiting"
                )
            status = task_status(task)
            states.append(f"{task_id}: {task.get('State')}")
            if status is not None:
                error = str(task.get("ErrorMessage") or "")
                done[task_id] = TaskOutcome(task_id, str(task.get("State")), status, error)
                pending.remove(task_id)
        if progress:
            elapsed = clock() - start
            progress(f"waiting on Octopus ({elapsed:.0f}s): " + ", ".join(states))
    if progress:
        progress("")
    return done
