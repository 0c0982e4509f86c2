"""Run an Octopus runbook for ``trainmaster run NAME --env ENV`` (``runbooks: {NAME: {remote: RUNBOOK}}``).

The core has checked the runbook, the release, the approvals and taken the environment's lock
(:mod:`trainmaster.runbooks`); this runs it in Octopus:

1. the runbook named ``RUNBOOK`` in the project (``octopus.project``; ``GET
   projects/{id}/runbooks?partialName=…``, exact name) and its published snapshot (exit 2 when
   there is none: publish it in Octopus), and the environment; only then is the run recorded
   (``job.begin()``), so a wrong name changes nothing;
2. **adopt** the remote run of the local run this one resumes (:attr:`~trainmaster.interfaces.RunbookJob.
   resumes`: its runner was killed after the POST, it waited on a manual intervention, exit 3, or Octopus
   became unreachable, exit 5), running or finished, or else a run of this runbook, release and
   environment whose task is still running. Runs carry :meth:`~trainmaster.interfaces.RunbookJob.marker`
   in their ``Comments`` (``GET runbookSnapshots/{id}/runbookRuns``). Any other finished run is never
   adopted: running the runbook again runs it again;
3. else ``POST runbookRuns`` with ``RunbookId``, ``RunbookSnapshotId``, ``EnvironmentId`` (the
   environment as ``octopus.environment(s)`` maps it), ``ProjectId`` and the marker. A lost answer
   is settled by the same lookup through :mod:`trainmaster.http`'s lost-response protocol (the run
   with this run's marker), never by a second POST;
4. wait on its server task as deployments do (:func:`trainmaster_octopus._wait.wait_for_tasks`),
   printing the new lines of the task log (``GET tasks/{id}/details``) after each poll. The
   runbook's ``timeout`` (else ``octopus.timeout``) cancels the task and the run fails (exit 1);
   Ctrl-C or SIGTERM cancels it too (``POST tasks/{id}/cancel``) and the run is ``cancelled``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainmaster.errors import InvalidInput
from trainmaster.interfaces import DeployOutcome, RunbookJob
from trainmaster_octopus._resources import Octopus
from trainmaster_octopus._settings import Settings
from trainmaster_octopus._wait import TaskTimeout, task_status, wait_for_tasks
from trainmaster_octopus.client import UNKNOWN, OctopusApiError

__all__ = ["run_runbook"]

EXCERPT = 4000


def find_runbook(octo: Octopus, project: dict[str, Any], name: str) -> dict[str, Any]:
    """The project's runbook named exactly ``name`` with a published snapshot (exit 2 otherwise).

    Found once per process (``validate`` asks for each environment of the runbook).
    """
    client = octo.client
    key = f"runbook:{project['Id']}:{name}"
    if key in octo.cache:
        return dict(octo.cache[key])
    page = client.get(client.space_path(f"projects/{project['Id']}/runbooks"),
                      {"partialName": name, "skip": 0, "take": 100})
    found = [r for r in (page or {}).get("Items") or [] if r.get("Name") == name]
    if not found:
        raise InvalidInput(f"Octopus project {project.get('Name')!r} has no runbook named {name!r}: fix the "
                           "runbook's `remote` (or create the runbook in Octopus)")
    book = found[0]
    if not book.get("PublishedRunbookSnapshotId"):
        raise InvalidInput(f"Octopus runbook {name!r} of {project.get('Name')!r} has no published snapshot: "
                           "publish it in Octopus, then run it again")
    octo.cache[key] = book
    return dict(book)


_PAGE, _PAGES = 100, 20


def _runs(octo: Octopus, snapshot_id: str, env_id: str, marked: Callable[[str], bool],
          until: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
    """This snapshot's runs in ``env_id`` whose ``Comments`` are ``marked``, newest first: the first page,
    and further pages (at most :data:`_PAGES`) while none of them satisfies ``until``."""
    client = octo.client
    found: list[dict[str, Any]] = []
    for number in range(_PAGES):
        page = client.get(client.space_path(f"runbookSnapshots/{snapshot_id}/runbookRuns"),
                          {"skip": number * _PAGE, "take": _PAGE}) or {}
        items = page.get("Items") or []
        found += [r for r in items if r.get("EnvironmentId") == env_id and marked(str(r.get("Comments") or ""))]
        if until is None or any(until(r) for r in found) or len(items) < _PAGE:
            break
    return found


def _adopt(octo: Octopus, job: RunbookJob, snapshot: str, env_id: str) -> dict[str, Any] | None:
    """The remote run of the local run this one resumes (running or finished), else the newest run of this
    runbook, release and environment if it is still running, else None (see the module docstring)."""
    suffix = f" against {job.release.id} in {job.environment.name}"
    resumed_marker = job.marker(job.resumes) if job.resumes is not None else None
    ours = _runs(octo, snapshot, env_id, lambda c: c.startswith(job.marker_prefix) and c.endswith(suffix),
                 until=None if resumed_marker is None else lambda r: r.get("Comments") == resumed_marker)
    if job.resumes is not None:
        resumed = [r for r in ours if r.get("Comments") == job.marker(job.resumes)]
        if resumed:
            return resumed[0]
    if ours:
        task = octo.client.get(octo.client.space_path(f"tasks/{ours[0]['TaskId']}")) or {}
        if task_status(task) is None:
            return ours[0]
    return None


def _start(octo: Octopus, book: dict[str, Any], env_id: str, marker: str) -> dict[str, Any]:
    """``POST runbookRuns``; a lost answer is settled by finding the run it created (never sent twice)."""
    snapshot = str(book["PublishedRunbookSnapshotId"])

    def lookup() -> Any:  # the marker names this run: any run carrying it is the one created
        fresh = _runs(octo, snapshot, env_id, marker.__eq__)
        return fresh[0] if fresh else UNKNOWN  # Octopus may still be creating it: asked again later

    body = {"RunbookId": book["Id"], "RunbookSnapshotId": snapshot, "EnvironmentId": env_id,
            "ProjectId": book.get("ProjectId"), "Comments": marker}
    created = octo.client.post(octo.client.space_path("runbookRuns"), body, recover=lookup)
    if not isinstance(created, dict) or not created.get("TaskId"):
        raise OctopusApiError(f"Octopus answered the runbook run of {book.get('Name')!r} without a task")
    return created


def _flatten(nodes: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for node in nodes or []:
        lines.extend(str(e.get("MessageText") or "") for e in node.get("LogElements") or [])
        lines.extend(_flatten(node.get("Children") or []))
    return lines


class _Log:
    """The task log, printed as it grows (each line once) and kept for the run's excerpt."""

    def __init__(self, octo: Octopus, task_id: str, out: Callable[[str], None]) -> None:
        self.octo, self.task_id, self.out = octo, task_id, out
        self.lines: list[str] = []

    def poll(self) -> None:
        client = self.octo.client
        details = client.get(client.space_path(f"tasks/{self.task_id}/details")) or {}
        lines = _flatten(details.get("ActivityLogs") or [])
        for line in lines[len(self.lines):]:
            self.out(f"  | {line}\n")
        if len(lines) > len(self.lines):
            self.lines = lines

    def excerpt(self, link: str) -> str:
        return ("\n".join(self.lines) + f"\noctopus task: {link}")[-EXCERPT:]


def run_runbook(octo: Octopus, settings: Settings, job: RunbookJob) -> DeployOutcome:
    """Run (or adopt) ``job.remote`` in ``job.environment``; see the module docstring."""
    client = octo.client
    env_name = settings.environment_name(job.environment.name)
    project = octo.project(settings.project)
    book = find_runbook(octo, project, job.remote)
    env_id = str(octo.environment(env_name)["Id"])
    run_id = job.begin()  # everything checked: from here on the run is recorded
    adopted = _adopt(octo, job, str(book["PublishedRunbookSnapshotId"]), env_id)
    if adopted is not None:
        run = adopted
        job.out(f"octopus: adopting run {run['Id']} of runbook {job.remote!r} in {env_name} "
                f"(task {run['TaskId']})\n")
    else:
        run = _start(octo, book, env_id, job.marker(run_id))
        job.out(f"octopus: running runbook {job.remote!r} in {env_name}: {client.web_link('tasks/' + run['TaskId'])}\n")
    task_id = str(run["TaskId"])
    link = client.web_link("tasks/" + task_id)
    log = _Log(octo, task_id, job.out)
    remote = {"runbook_run_id": str(run["Id"]), "task_id": task_id, "url": link}
    timeout = job.timeout or settings.timeout
    try:
        outcome = wait_for_tasks(client, [task_id], interval=settings.poll_interval, timeout=timeout,
                                 cancel_on_timeout=True, on_poll=log.poll)[task_id]
    except TaskTimeout as exc:
        return DeployOutcome("failed", remote=remote, message=str(exc), excerpt=log.excerpt(link))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the remote run stops too
        try:
            client.request("POST", client.space_path(f"tasks/{task_id}/cancel"), idempotent=True)
            job.out(f"octopus: cancelled task {task_id}\n")
        except Exception as exc:  # noqa: BLE001 - the interrupt wins; say what is left running
            job.out(f"octopus: could not cancel task {task_id} ({exc}): {link}\n")
        raise
    # the last poll's log read came after the task list said it finished: the log is complete
    message = "" if outcome.status == "succeeded" else f"Octopus task {task_id} {outcome.state} {outcome.error}".strip()
    return DeployOutcome(outcome.status, remote=remote, message=message,  # type: ignore[arg-type]
                         excerpt=log.excerpt(link))
