"""State of the Octopus fake: spaces, environments, lifecycles with phases, projects, channels, packages,
releases, deployments, server tasks and interruptions, plus the test drivers that change them and the
lookups the handlers share. Creating releases and deployments and advancing tasks is in octopus_releases.py."""

from __future__ import annotations

import time
from typing import Any

from .core import ApiError, Request

FINAL_STATES = {"Success", "Failed", "Canceled", "TimedOut"}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime())


class OctopusState:
    """Mixin holding the Octopus fake's data. Ids follow Octopus's ``<Kind>s-<n>`` scheme."""

    lock: Any
    _ids: Any

    def __init__(self) -> None:
        self.spaces: dict[str, dict[str, Any]] = {}
        self.environments: dict[str, dict[str, Any]] = {}
        self.lifecycles: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.packages: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.package_bytes: dict[str, bytes | None] = {}
        self.build_information: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.releases: dict[str, dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.interruptions: dict[str, dict[str, Any]] = {}
        self._fail_next: list[str] = []
        self._task_fail: dict[str, str] = {}
        self._held: set[str] = set()
        self._stall_next = 0
        self._stalled: set[str] = set()
        self.space_id = self.seed_space("Default")["Id"]
        envs = [self.seed_environment(n)["Id"] for n in ("Development", "Test", "Production")]
        lc = self.seed_lifecycle("Default Lifecycle", [[e] for e in envs])
        self.project_id = self.seed_project("MyApp", lifecycle_id=lc["Id"])["Id"]

    # -- drivers -----------------------------------------------------------------------------
    def seed_space(self, name: str) -> dict[str, Any]:
        """Add a space (``Spaces-<n>``)."""
        with self.lock:
            sid = f"Spaces-{len(self.spaces) + 1}"
            self.spaces[sid] = {
                "Id": sid,
                "Name": name,
                "Description": "",
                "IsDefault": not self.spaces,
                "TaskQueueStopped": False,
                "SpaceManagersTeams": [],
                "SpaceManagersTeamMembers": [],
                "Links": {"Self": f"/api/spaces/{sid}", "SpaceHome": f"/api/{sid}"},
            }
            return self.spaces[sid]

    def seed_environment(self, name: str, space_id: str = "Spaces-1") -> dict[str, Any]:
        """Add a deployment environment."""
        with self.lock:
            eid = f"Environments-{next(self._ids)}"
            self.environments[eid] = {
                "Id": eid,
                "Name": name,
                "Slug": name.lower(),
                "SpaceId": space_id,
                "Description": "",
                "SortOrder": len(self.environments),
                "UseGuidedFailure": False,
                "AllowDynamicInfrastructure": False,
                "Links": {"Self": f"/api/{space_id}/environments/{eid}"},
            }
            return self.environments[eid]

    def seed_lifecycle(
        self,
        name: str,
        phases: list[list[str]],
        space_id: str = "Spaces-1",
        optional: list[bool] | None = None,
    ) -> dict[str, Any]:
        """Add a lifecycle; ``phases`` is a list of environment-id lists, deployed in order."""
        with self.lock:
            lid = f"Lifecycles-{next(self._ids)}"
            self.lifecycles[lid] = {
                "Id": lid,
                "Name": name,
                "SpaceId": space_id,
                "Description": "",
                "Phases": [
                    {
                        "Id": f"Phase-{lid}-{i}",
                        "Name": f"Phase {i + 1}",
                        "AutomaticDeploymentTargets": [],
                        "OptionalDeploymentTargets": envs,
                        "MinimumEnvironmentsBeforePromotion": 0,
                        "IsOptionalPhase": bool(optional and optional[i]),
                    }
                    for i, envs in enumerate(phases)
                ],
                "ReleaseRetentionPolicy": {"Unit": "Days", "QuantityToKeep": 30, "ShouldKeepForever": False},
                "TentacleRetentionPolicy": {"Unit": "Days", "QuantityToKeep": 30, "ShouldKeepForever": False},
                "Links": {"Self": f"/api/{space_id}/lifecycles/{lid}"},
            }
            return self.lifecycles[lid]

    def seed_project(
        self,
        name: str,
        *,
        lifecycle_id: str | None = None,
        space_id: str = "Spaces-1",
        channels: list[str] | None = None,
    ) -> dict[str, Any]:
        """Add a project with a default channel (plus ``channels``)."""
        with self.lock:
            pid = f"Projects-{next(self._ids)}"
            lifecycle_id = lifecycle_id or next(iter(self.lifecycles))
            slug = name.lower().replace(" ", "-")
            self.projects[pid] = {
                "Id": pid,
                "Name": name,
                "Slug": slug,
                "SpaceId": space_id,
                "Description": "",
                "LifecycleId": lifecycle_id,
                "ProjectGroupId": "ProjectGroups-1",
                "DeploymentProcessId": f"deploymentprocess-{pid}",
                "VariableSetId": f"variableset-{pid}",
                "IsDisabled": False,
                "TenantedDeploymentMode": "Untenanted",
                "IsVersionControlled": False,
                "Links": {
                    "Self": f"/api/{space_id}/projects/{pid}",
                    "Releases": f"/api/{space_id}/projects/{pid}/releases{{/version}}{{?skip,take,searchByVersion}}",
                    "Channels": f"/api/{space_id}/projects/{pid}/channels",
                    "Progression": f"/api/{space_id}/progression/{pid}",
                },
            }
            for i, cname in enumerate(["Default", *(channels or [])]):
                cid = f"Channels-{next(self._ids)}"
                self.channels[cid] = {
                    "Id": cid,
                    "Name": cname,
                    "ProjectId": pid,
                    "SpaceId": space_id,
                    "IsDefault": i == 0,
                    "LifecycleId": None,
                    "Rules": [],
                    "TenantTags": [],
                    "Description": "",
                    "Links": {"Self": f"/api/{space_id}/channels/{cid}"},
                }
            return self.projects[pid]

    def fail_next_deployment(self, message: str = "The deployment failed (injected by the fake)") -> None:
        """The next deployment's (or runbook run's) server task ends ``Failed``."""
        with self.lock:
            self._fail_next.append(message)

    def fail_task(self, task_id: str, message: str = "The task failed (injected by the fake)") -> None:
        """Mark a task to end ``Failed`` at its next completion step."""
        with self.lock:
            self._task_fail[task_id] = message

    def stall_next_deployment(self) -> None:
        """The next deployment's (or runbook run's) server task never finishes: ``Executing`` until cancelled."""
        with self.lock:
            self._stall_next += 1

    def hold_task(self, task_id: str, title: str = "Approve deployment?") -> dict[str, Any]:
        """Pause a task on a manual intervention: ``HasPendingInterruptions`` until released/submitted."""
        with self.lock:
            task = self.tasks[task_id]
            iid = f"Interruptions-{next(self._ids)}"
            self._held.add(task_id)
            task["HasPendingInterruptions"] = True
            self.interruptions[iid] = {
                "Id": iid,
                "Title": title,
                "TaskId": task_id,
                "SpaceId": task["SpaceId"],
                "IsPending": True,
                "HasResponsibility": False,
                "CanTakeResponsibility": True,
                "ResponsibleUserId": None,
                "ResponsibleTeamIds": [],
                "Created": _now(),
                "CorrelationId": f"{task_id}_intervention",
                "RelatedDocumentIds": [task["Arguments"].get("DeploymentId"), task_id],
                "IsLinkedToOtherInterruption": False,
                "Form": {"Values": {"Result": None}, "Elements": []},
                "Links": {
                    "Self": f"/api/{task['SpaceId']}/interruptions/{iid}",
                    "Submit": f"/api/{task['SpaceId']}/interruptions/{iid}/submit",
                    "Responsible": f"/api/{task['SpaceId']}/interruptions/{iid}/responsible",
                },
            }
            return self.interruptions[iid]

    def release_task(self, task_id: str, abort: bool = False) -> None:
        """Clear a task's pending interruptions and let a stalled task finish (``abort``: it ends ``Failed``)."""
        with self.lock:
            self._held.discard(task_id)
            self._stalled.discard(task_id)
            self.tasks[task_id]["HasPendingInterruptions"] = False
            for i in self.interruptions.values():
                if i["TaskId"] == task_id:
                    i["IsPending"] = False
            if abort:
                self._task_fail[task_id] = "Aborted by a manual intervention"

    def cancel_task(self, task_id: str) -> dict[str, Any]:
        """What ``POST /tasks/{id}/cancel`` does: an unfinished task ends ``Canceled`` (its pending
        interruptions withdrawn); a finished one is left as it is."""
        with self.lock:
            task = self.tasks[task_id]
            if not task["IsCompleted"]:
                self._held.discard(task_id)
                self._stalled.discard(task_id)
                for i in self.interruptions.values():
                    if i["TaskId"] == task_id:
                        i["IsPending"] = False
                task.update(State="Canceled", IsCompleted=True, FinishedSuccessfully=False,
                            HasPendingInterruptions=False, ErrorMessage="The task was canceled.",
                            CompletedTime=_now(), Duration="1 second")
            return task

    # -- lookups -----------------------------------------------------------------------------
    def sid(self, req: Request) -> str:
        sid = req.params.get("baseSpaceId", "Spaces-1")
        return next((s for s in self.spaces if s.lower() == sid.lower()), sid)

    def _space(self, sid: str) -> dict[str, Any]:
        for s in self.spaces.values():
            if s["Id"].lower() == sid.lower():
                return s
        raise ApiError(404, f"The resource you requested was not found: {sid}")

    def in_space(self, req: Request, table: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return [x for x in table.values() if x["SpaceId"] == self.sid(req)]

    def filter_named(self, req: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        q = {k.lower(): v for k, v in req.query.items()}
        if "name" in q:
            items = [x for x in items if x["Name"].lower() == q["name"].lower()]
        if "partialname" in q:
            items = [x for x in items if q["partialname"].lower() in x["Name"].lower()]
        if q.get("ids"):
            items = [x for x in items if x["Id"] in q["ids"].split(",")]
        return items

    def lookup(self, table: dict[str, dict[str, Any]], key: str, kind: str) -> dict[str, Any]:
        for x in table.values():
            if x["Id"].lower() == key.lower() or str(x.get("Name", "")).lower() == key.lower():
                return x
        raise ApiError(404, f"The resource you requested was not found: {kind} {key}")

    def project(self, req: Request, key: str) -> dict[str, Any]:
        for p in self.in_space(req, self.projects):
            if key.lower() in (p["Id"].lower(), p["Slug"].lower(), p["Name"].lower()):
                return p
        raise ApiError(404, f"The resource you requested was not found: project {key}")

    def collection(self, req: Request, item_type: str, items: list[Any], self_link: str) -> dict[str, Any]:
        skip = int(req.query.get("skip") or req.query.get("paginationRequest.skip") or 0)
        take = int(req.query.get("take") or req.query.get("paginationRequest.take") or 30)
        page = items[skip : skip + take]
        pages = max(1, -(-len(items) // max(take, 1)))
        return {
            "ItemType": item_type,
            "TotalResults": len(items),
            "ItemsPerPage": take,
            "NumberOfPages": pages,
            "LastPageNumber": pages - 1,
            "Items": page,
            "Links": {"Self": self_link, "Template": self_link + "{?skip,take}"},
        }

    def package_resource(
        self, sid: str, package_id: str, version: str, ext: str, sha1: str, size: int
    ) -> dict[str, Any]:
        pid = f"packages-{package_id}.{version}"
        return {
            "Id": pid,
            "PackageId": package_id,
            "Version": version,
            "Hash": sha1,
            "PackageSizeBytes": size,
            "FileExtension": ext,
            "FeedId": "feeds-builtin",
            "NuGetFeedId": "feeds-builtin",
            "NuGetPackageId": package_id,
            "Published": _now(),
            "Title": package_id,
            "Summary": "",
            "Description": "",
            "ReleaseNotes": "",
            "SpaceId": sid,
            "LastModifiedOn": _now(),
            "Links": {"Self": f"/api/{sid}/packages/{pid}", "Raw": f"/api/{sid}/packages/{pid}/raw"},
        }
