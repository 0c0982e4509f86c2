"""Runbooks of the Octopus fake (mixed into OctopusFake): runbooks of a project, their published snapshot,
runbook runs (each with a server task that advances like a deployment's) and the task log of a run.

Operations: ``indexProjectRunbooks_Spaces``, ``createRunbookRunCreate_Spaces`` (the body's ``RunbookId``,
``RunbookSnapshotId`` and ``EnvironmentId`` are checked as Octopus does: the snapshot must be the runbook's
published one or one of its snapshots, the environment in the runbook's scope) and
``indexRunbookSnapshotRunbookRuns_Spaces`` (newest first).
"""

from __future__ import annotations

from typing import Any

from .core import ApiError, Request, Response, operation
from .octopus_releases import OctopusReleaseState
from .octopus_state import _now


class OctopusRunbooks(OctopusReleaseState):
    """Runbook state, drivers and handlers."""

    def init_runbooks(self) -> None:
        self.runbooks: dict[str, dict[str, Any]] = {}
        self.runbook_runs: dict[str, dict[str, Any]] = {}
        self.task_logs: dict[str, list[str]] = {}
        self._next_log: list[str] = []

    # -- drivers -----------------------------------------------------------------------------
    def seed_runbook(self, name: str, project: str = "MyApp", *, published: bool = True,
                     environments: list[str] | None = None) -> dict[str, Any]:
        """Add a runbook to ``project`` (by name); ``environments`` (names) limits where it may run."""
        with self.lock:
            proj = next(p for p in self.projects.values() if p["Name"] == project)
            sid, rid = proj["SpaceId"], f"Runbooks-{next(self._ids)}"
            env_ids = [self.lookup(self.environments, n, "Environment")["Id"] for n in environments or []]
            self.runbooks[rid] = {
                "Id": rid,
                "Name": name,
                "Description": "",
                "ProjectId": proj["Id"],
                "SpaceId": sid,
                "RunbookProcessId": f"RunbookProcess-{rid}",
                "PublishedRunbookSnapshotId": f"RunbookSnapshots-{next(self._ids)}" if published else None,
                "EnvironmentScope": "Specified" if environments else "All",
                "Environments": env_ids,
                "MultiTenancyMode": "Untenanted",
                "DefaultGuidedFailureMode": "EnvironmentDefault",
                "ConnectivityPolicy": {"AllowDeploymentsToNoTargets": True, "SkipMachineBehavior": "None",
                                       "TargetRoles": [], "ExcludeUnhealthyTargets": False},
                "RunRetentionPolicy": {"QuantityToKeep": 100},
                "Links": {"Self": f"/api/{sid}/runbooks/{rid}"},
            }
            return self.runbooks[rid]

    def log_next_runbook_run(self, lines: list[str]) -> None:
        """The task of the next runbook run writes ``lines`` to its log (``/tasks/{id}/details``)."""
        with self.lock:
            self._next_log = list(lines)

    # -- handlers ----------------------------------------------------------------------------
    @operation("indexProjectRunbooks_Spaces")
    def list_project_runbooks(self, req: Request) -> Response:
        project = self.project(req, req.params["projectId"])
        items = self.filter_named(req, [r for r in self.runbooks.values() if r["ProjectId"] == project["Id"]])
        link = f"/api/{self.sid(req)}/projects/{project['Id']}/runbooks"
        return Response(200, self.collection(req, "Runbook", items, link))

    @operation("createRunbookRunCreate_Spaces")
    def create_runbook_run(self, req: Request) -> Response:
        body = req.json or {}
        book = self.lookup(self.runbooks, str(body["RunbookId"]), "Runbook")
        env = self.lookup(self.environments, str(body["EnvironmentId"]), "Environment")
        if not book["PublishedRunbookSnapshotId"]:
            raise ApiError(400, "Runbook has no published snapshot.")
        if body["RunbookSnapshotId"] != book["PublishedRunbookSnapshotId"]:
            raise ApiError(400, f"RunbookSnapshot {body['RunbookSnapshotId']} is not a snapshot of {book['Name']}.")
        if book["EnvironmentScope"] == "Specified" and env["Id"] not in book["Environments"]:
            raise ApiError(400, f"The runbook {book['Name']} cannot be run in the environment {env['Name']}.")
        sid = self.sid(req)
        run_id, tid = f"RunbookRuns-{next(self._ids)}", f"ServerTasks-{next(self._ids)}"
        run = {
            "Id": run_id,
            "Name": f"Run {book['Name']}",
            "RunbookId": book["Id"],
            "RunbookSnapshotId": body["RunbookSnapshotId"],
            "ProjectId": book["ProjectId"],
            "EnvironmentId": env["Id"],
            "TaskId": tid,
            "SpaceId": sid,
            "Created": _now(),
            "Comments": str(body.get("Comments") or ""),
            "FormValues": dict(body.get("FormValues") or {}),
            "SkipActions": [],
            "SpecificMachineIds": [],
            "ExcludedMachineIds": [],
            "ForcePackageDownload": False,
            "UseGuidedFailure": bool(body.get("UseGuidedFailure")),
            "FailureEncountered": False,
            "DeployedBy": "fake",
            "DeployedById": "Users-1",
            "TenantId": None,
            "Links": {"Self": f"/api/{sid}/runbookRuns/{run_id}", "Task": f"/api/tasks/{tid}",
                      "Web": f"/app#/{sid}/runbookRuns/{run_id}"},
        }
        with self.lock:
            self.runbook_runs[run_id] = run
            self.new_task(sid, tid, "RunbookRun", f"Run {book['Name']} in {env['Name']}", {"RunbookRunId": run_id})
            self.task_logs[tid], self._next_log = self._next_log, []
        return Response(201, run)

    @operation("indexRunbookSnapshotRunbookRuns_Spaces")
    def list_snapshot_runs(self, req: Request) -> Response:
        snapshot = req.params["id"]
        items = [r for r in reversed(self.runbook_runs.values()) if r["RunbookSnapshotId"] == snapshot]
        return Response(200, self.collection(req, "RunbookRun", items,
                                             f"/api/{self.sid(req)}/runbookSnapshots/{snapshot}/runbookRuns"))

    def activity_logs(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """The ``ActivityLogs`` tree of a task's details: the lines of its log once it started."""
        lines = self.task_logs.get(task["Id"]) or []
        if not lines or task["State"] == "Queued":
            return []
        status = {"Success": "Success", "Failed": "Failed", "Canceled": "Canceled"}.get(task["State"], "Running")
        entries = [{"Category": "Info", "MessageText": line, "OccurredAt": _now()} for line in lines]
        step = {"Id": f"{task['Id']}_step1", "Name": "Step 1", "Status": status, "Children": [],
                "LogElements": entries}
        return [{"Id": task["Id"], "Name": task["Description"], "Status": status, "Children": [step],
                 "LogElements": []}]
