"""Releases, deployments, server tasks and lifecycle progression of the Octopus fake (mixed into OctopusFake):
release creation, the lifecycle check of a deployment, the task state machine and the progression views."""

from __future__ import annotations

from typing import Any

from .core import ApiError, Request, Response, operation
from .octopus_state import OctopusState, _now


class OctopusReleaseState(OctopusState):
    """Creates releases and deployments in the tables of :class:`OctopusState` and advances their tasks."""

    def new_release(
        self,
        req: Request,
        project: dict[str, Any],
        version: str | None,
        channel_name: str | None,
        packages: list[str],
        package_version: str | None,
        notes: str | None,
    ) -> dict[str, Any]:
        sid = self.sid(req)
        mine = [r for r in self.releases.values() if r["ProjectId"] == project["Id"]]
        version = version or package_version or f"0.0.{len(mine) + 1}"
        if any(r["Version"] == version for r in mine):
            raise ApiError(
                400,
                f"A release with the version number '{version}' already exists for project '{project['Name']}'.",
            )
        channels = [c for c in self.channels.values() if c["ProjectId"] == project["Id"]]
        channel = next((c for c in channels if channel_name and c["Name"].lower() == channel_name.lower()), None)
        if channel_name and channel is None:
            raise ApiError(400, f"Channel '{channel_name}' was not found in project '{project['Name']}'.")
        channel = channel or next(c for c in channels if c["IsDefault"])
        rid = f"Releases-{next(self._ids)}"
        selected = []
        for spec in packages:
            action, _, ver = str(spec).rpartition(":")
            selected.append({"ActionName": action, "PackageReferenceName": "", "Version": ver})
        rel = {
            "Id": rid,
            "Version": version,
            "ProjectId": project["Id"],
            "ChannelId": channel["Id"],
            "SpaceId": sid,
            "ReleaseNotes": notes or "",
            "Assembled": _now(),
            "IgnoreChannelRules": False,
            "SelectedPackages": selected,
            "BuildInformation": [],
            "LibraryVariableSetSnapshotIds": [],
            "ProjectDeploymentProcessSnapshotId": f"deploymentprocess-{project['Id']}-s1",
            "ProjectVariableSetSnapshotId": f"variableset-{project['Id']}-s1",
            "LastModifiedOn": _now(),
            "Links": {
                "Self": f"/api/{sid}/releases/{rid}",
                "Project": f"/api/{sid}/projects/{project['Id']}",
                "Progression": f"/api/{sid}/releases/{rid}/progression",
                "Deployments": f"/api/{sid}/releases/{rid}/deployments{{?skip,take}}",
                "Web": f"/app#/{sid}/releases/{rid}",
            },
        }
        self.releases[rid] = rel
        return rel

    @operation("updateRelease_Spaces")
    def update_release(self, req: Request) -> Response:
        """Modify a release: the whole ``ReleaseResource`` comes back (notes, version, channel, packages).

        As the real server: the body replaces the release, so one without ``SelectedPackages`` (a partial
        body) would drop every package version: refused (400) like Octopus's "A version must be specified for
        every included package"; another project's release or an id other than the route's is refused too.
        """
        rel = self.lookup(self.releases, req.params["id"], "Release")
        body = {str(k).lower(): v for k, v in (req.json or {}).items()}
        if str(body.get("id") or rel["Id"]).lower() != rel["Id"].lower():
            raise ApiError(400, "No id parameter was provided.")
        if str(body.get("projectid") or rel["ProjectId"]) != rel["ProjectId"]:
            raise ApiError(400, "Model validation failed.", errors=["ProjectId cannot be changed"])
        selected = body.get("selectedpackages")
        if rel["SelectedPackages"] and not selected:
            raise ApiError(400, "A version must be specified for every included package.")
        version = str(body.get("version") or "")
        if any(r["Version"] == version and r["Id"] != rel["Id"] and r["ProjectId"] == rel["ProjectId"]
               for r in self.releases.values()):
            raise ApiError(400, f"Release '{version}' already exists for this project. Please use a different "
                                "version, or look at using a mask to auto-increment the number.")
        rel.update(Version=version, ReleaseNotes=str(body.get("releasenotes") or ""),
                   SelectedPackages=[dict(p) for p in selected or []], LastModifiedOn=_now())
        return Response(200, rel)

    def seed_process(self, project: str, steps: list[tuple[str, str]]) -> None:
        """Give ``project`` a deployment process: one step per ``(step name, package id)``.

        Without one, ``releases/create/v1`` takes each ``Packages`` entry as ``<step>:<version>``
        literally. With one, it resolves like Octopus: each step's package takes the version of the
        entry naming the step or the package id, else ``PackageVersion``, else the newest version
        of that package in the built-in feed.
        """
        with self.lock:
            p = next(x for x in self.projects.values() if project.lower() in (x["Id"].lower(), x["Name"].lower()))
            p["_process"] = [{"step": step, "package": pid} for step, pid in steps]

    def process_view(self, req: Request, project: dict[str, Any]) -> dict[str, Any]:
        steps = [
            {
                "Id": f"step-{i}",
                "Name": s["step"],
                "Actions": [
                    {
                        "Id": f"action-{i}",
                        "Name": s["step"],
                        "ActionType": "Octopus.TentaclePackage",
                        "Packages": [{"Name": "", "PackageId": s["package"], "FeedId": "feeds-builtin"}],
                    }
                ],
            }
            for i, s in enumerate(project.get("_process") or [])
        ]
        return {"Id": project["DeploymentProcessId"], "ProjectId": project["Id"], "SpaceId": self.sid(req),
                "Version": 1, "Steps": steps}

    def resolve_packages(
        self, req: Request, project: dict[str, Any], specs: list[str], default: str | None
    ) -> list[str]:
        """The ``<step>:<version>`` selections Octopus makes for ``specs`` (see :meth:`seed_process`)."""
        process = project.get("_process")
        if not process:
            return list(specs)
        given = {}
        for spec in specs:
            name, _, version = str(spec).rpartition(":")
            given[name.lower()] = version
        out = []
        for s in process:
            version = given.get(s["step"].lower()) or given.get(s["package"].lower()) or default
            if not version:
                feed = [v for (sid, pid, v) in self.packages if sid == self.sid(req) and pid == s["package"].lower()]
                if not feed:
                    raise ApiError(400, f"Could not find a version of package {s['package']} for step {s['step']}.")
                version = max(feed, key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")])
            out.append(f"{s['step']}:{version}")
        return out

    def _phases(self, rel: dict[str, Any]) -> list[dict[str, Any]]:
        project = self.projects[rel["ProjectId"]]
        lc_id = self.channels[rel["ChannelId"]]["LifecycleId"] or project["LifecycleId"]
        return self.lifecycles[lc_id]["Phases"]

    def _succeeded_envs(self, rel: dict[str, Any]) -> set[str]:
        return {
            d["EnvironmentId"]
            for d in self.deployments.values()
            if d["ReleaseId"] == rel["Id"] and self.tasks[d["TaskId"]]["State"] == "Success"
        }

    def check_lifecycle(self, rel: dict[str, Any], env: dict[str, Any], force: bool) -> None:
        """Refuse a deployment the release's lifecycle does not allow yet (as the server does)."""
        done = self._succeeded_envs(rel)
        for phase in self._phases(rel):
            targets = phase["AutomaticDeploymentTargets"] + phase["OptionalDeploymentTargets"]
            if env["Id"] in targets:
                return
            if not phase["IsOptionalPhase"] and not (set(targets) & done):
                raise ApiError(
                    400,
                    f"Release {rel['Version']} cannot be deployed to {env['Name']} yet: the "
                    f"lifecycle requires a successful deployment in phase {phase['Name']} first.",
                )
        raise ApiError(400, f"Environment {env['Name']} is not in the lifecycle of release {rel['Version']}.")

    def new_deployment(
        self, req: Request, rel: dict[str, Any], env: dict[str, Any], guided_failure: Any
    ) -> dict[str, Any]:
        sid = self.sid(req)
        did, tid = f"Deployments-{next(self._ids)}", f"ServerTasks-{next(self._ids)}"
        dep = {
            "Id": did,
            "Name": f"Deploy to {env['Name']}",
            "ReleaseId": rel["Id"],
            "EnvironmentId": env["Id"],
            "ProjectId": rel["ProjectId"],
            "ChannelId": rel["ChannelId"],
            "TaskId": tid,
            "SpaceId": sid,
            "Created": _now(),
            "QueueTime": None,
            "Comments": "",
            "FormValues": {},
            "SkipActions": [],
            "SpecificMachineIds": [],
            "ExcludedMachineIds": [],
            "ForcePackageDownload": False,
            "ForcePackageRedeployment": False,
            "UseGuidedFailure": bool(guided_failure),
            "FailureEncountered": False,
            "DeployedBy": "fake",
            "DeployedById": "Users-1",
            "TenantId": None,
            "Links": {
                "Self": f"/api/{sid}/deployments/{did}",
                "Task": f"/api/tasks/{tid}",
                "Release": f"/api/{sid}/releases/{rel['Id']}",
                "Web": f"/app#/{sid}/deployments/{did}",
            },
        }
        self.deployments[did] = dep
        self.new_task(sid, tid, "Deploy", f"Deploy {rel['Version']} to {env['Name']}", {"DeploymentId": did})
        return dep

    def new_task(self, sid: str, tid: str, name: str, description: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A queued server task; the ``fail_next_deployment`` and ``stall_next_deployment`` drivers apply to it."""
        self.tasks[tid] = {
            "Id": tid,
            "Name": name,
            "Description": description,
            "State": "Queued",
            "IsCompleted": False,
            "FinishedSuccessfully": False,
            "HasPendingInterruptions": False,
            "HasWarningsOrErrors": False,
            "ErrorMessage": "",
            "QueueTime": _now(),
            "StartTime": None,
            "CompletedTime": None,
            "Duration": "0s",
            "CanRerun": False,
            "HasBeenPickedUpByProcessor": False,
            "SpaceId": sid,
            "ServerNode": "fake-node",
            "Arguments": arguments,
            "Links": {
                "Self": f"/api/tasks/{tid}",
                "Web": f"/app#/{sid}/tasks/{tid}",
                "Details": f"/api/{sid}/tasks/{tid}/details",
                "Raw": f"/api/tasks/{tid}/raw",
            },
        }
        if self._fail_next:
            self._task_fail[tid] = self._fail_next.pop(0)
        if self._stall_next:
            self._stall_next -= 1
            self._stalled.add(tid)
        return self.tasks[tid]

    def advance(self, task: dict[str, Any]) -> None:
        """One step per poll: Queued -> Executing -> Success/Failed (held while interruptions are pending,
        stalled until cancelled)."""
        if task["State"] == "Queued":
            task.update(State="Executing", StartTime=_now(), HasBeenPickedUpByProcessor=True)
        elif task["State"] == "Executing" and task["Id"] not in self._held | self._stalled:
            failed = self._task_fail.pop(task["Id"], None)
            task.update(
                State="Failed" if failed else "Success",
                IsCompleted=True,
                FinishedSuccessfully=not failed,
                ErrorMessage=failed or "",
                HasWarningsOrErrors=bool(failed),
                CompletedTime=_now(),
                Duration="1 second",
            )
            dep = self.deployments.get(task["Arguments"].get("DeploymentId", ""))
            if dep and failed:
                dep["FailureEncountered"] = True

    def lifecycle_progression(self, rel: dict[str, Any]) -> dict[str, Any]:
        done, phases, nxt, blocked = self._succeeded_envs(rel), [], [], False
        for phase in self._phases(rel):
            targets = phase["AutomaticDeploymentTargets"] + phase["OptionalDeploymentTargets"]
            complete = bool(set(targets) & done)
            progress = "Complete" if complete else ("Pending" if blocked else "Current")
            if progress == "Current":
                nxt += targets
            phases.append(
                {
                    **phase,
                    "Progress": progress,
                    "Blocked": False,
                    "Deployments": [
                        self._dashboard(d)
                        for d in self.deployments.values()
                        if d["ReleaseId"] == rel["Id"] and d["EnvironmentId"] in targets
                    ],
                }
            )
            blocked = blocked or (not complete and not phase["IsOptionalPhase"])
        return {
            "Id": rel["Id"],
            "Phases": phases,
            "NextDeployments": nxt,
            "NextDeploymentsMinimumRequired": 0,
            "Links": {"Self": rel["Links"]["Progression"]},
        }

    def _dashboard(self, d: dict[str, Any]) -> dict[str, Any]:
        t = self.tasks[d["TaskId"]]
        return {
            "Id": f"DashboardItem-{d['Id']}",
            "DeploymentId": d["Id"],
            "ReleaseId": d["ReleaseId"],
            "EnvironmentId": d["EnvironmentId"],
            "ProjectId": d["ProjectId"],
            "ChannelId": d["ChannelId"],
            "TaskId": d["TaskId"],
            "ReleaseVersion": self.releases[d["ReleaseId"]]["Version"],
            "State": t["State"],
            "IsCompleted": t["IsCompleted"],
            "HasPendingInterruptions": t["HasPendingInterruptions"],
            "HasWarningsOrErrors": t["HasWarningsOrErrors"],
            "ErrorMessage": t["ErrorMessage"],
            "Created": d["Created"],
            "QueueTime": t["QueueTime"],
            "StartTime": t["StartTime"],
            "CompletedTime": t["CompletedTime"],
            "Duration": t["Duration"],
            "IsCurrent": True,
            "IsPrevious": False,
            "TenantId": None,
            "Links": {"Self": d["Links"]["Self"]},
        }

    def project_progression_view(self, req: Request, project: dict[str, Any]) -> dict[str, Any]:
        rels = [r for r in reversed(self.releases.values()) if r["ProjectId"] == project["Id"]]
        lc = self.lifecycles[project["LifecycleId"]]
        env_ids = [e for ph in lc["Phases"] for e in ph["AutomaticDeploymentTargets"] + ph["OptionalDeploymentTargets"]]
        items = []
        for r in rels[: int(req.query.get("releaseHistoryCount") or 10)]:
            deps: dict[str, list[dict[str, Any]]] = {}
            for d in self.deployments.values():
                if d["ReleaseId"] == r["Id"]:
                    deps.setdefault(d["EnvironmentId"], []).append(self._dashboard(d))
            items.append(
                {
                    "Release": r,
                    "Channel": self.channels[r["ChannelId"]],
                    "Deployments": deps,
                    "NextDeployments": self.lifecycle_progression(r)["NextDeployments"],
                    "HasUnresolvedDefect": False,
                }
            )
        return {
            "Id": project["Id"],
            "Environments": [{"Id": e, "Name": self.environments[e]["Name"]} for e in env_ids],
            "ChannelEnvironments": {
                c["Id"]: [{"Id": e, "Name": self.environments[e]["Name"]} for e in env_ids]
                for c in self.channels.values()
                if c["ProjectId"] == project["Id"]
            },
            "Releases": items,
            "Links": {"Self": f"/api/{self.sid(req)}/progression/{project['Id']}"},
        }
