"""Fake Octopus Deploy server checked against tests/contracts/octopus.swagger.json.

``OCTOPUS_URL`` is ``http://127.0.0.1:PORT`` (the API lives under ``/api``). JSON property names are
bound case-insensitively, like the real server. Run alone with ``python -m tests.fakes.octopus --port 0``
(``--discard-packages`` hashes uploaded packages and throws the bytes away). Package and build-information
handlers are in octopus_packages.py, runbooks in octopus_runbooks.py, the state in octopus_state.py and
octopus_releases.py.
"""

from __future__ import annotations

import argparse
import itertools
import re
from typing import Any

from .contract import Contract, ContractViolation, load
from .core import ApiError, FakeService, Request, Response, operation
from .octopus_packages import OctopusPackages
from .octopus_releases import OctopusReleaseState
from .octopus_runbooks import OctopusRunbooks
from .octopus_state import OctopusState
from .server import run_cli

SERVER_VERSION = "2024.2.9303"


class OctopusFake(OctopusPackages, OctopusRunbooks, OctopusReleaseState, FakeService):
    """Stateful Octopus fake. ``url`` = OCTOPUS_URL, ``api_key``, ``space_id`` (default ``Spaces-1``)."""

    name = "octopus"
    case_insensitive_props = True
    DRIVERS = (
        "seed_space",
        "seed_environment",
        "seed_lifecycle",
        "seed_project",
        "seed_process",
        "seed_package",
        "garble_next_upload",
        "fail_next_deployment",
        "fail_task",
        "hold_task",
        "release_task",
        "stall_next_deployment",
        "cancel_task",
        "add_api_key",
        "seed_runbook",
        "log_next_runbook_run",
    )

    def __init__(self, *, api_key: str = "API-TESTKEY0000000000000000000", store_packages: bool = True):
        FakeService.__init__(self)
        self.contract: Contract = load("octopus.swagger.json", True)
        self.api_key = api_key
        self.api_keys = {api_key}
        self.store_packages = store_packages
        self._ids = itertools.count(1)
        OctopusState.__init__(self)
        self.init_runbooks()

    def add_api_key(self, key: str) -> None:
        """Accept another API key."""
        self.api_keys.add(key)

    # -- service hooks -----------------------------------------------------------------------
    def contracts_for(self, host: str) -> list[Contract]:
        return [self.contract]

    def error_body(self, status: int, message: str, **extra: Any) -> Any:
        return {
            "ErrorMessage": message,
            "Errors": extra.get("errors") or [message],
            "FullException": None,
            "HelpText": None,
            "HelpLink": None,
            "Details": None,
        }

    def authenticate(self, req: Request) -> Response | None:
        key = req.headers.get("X-Octopus-ApiKey") or next(
            (v for k, v in req.query.items() if k.lower() == "apikey"), None
        )
        bearer = (req.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if key in self.api_keys or bearer in self.api_keys:
            return None
        msg = (
            "You must be logged in to perform this action. Please provide a valid API key or log in again."
            if not key
            else "Invalid API key."
        )
        return Response(401, self.error_body(401, msg))

    def discovery(self, req: Request) -> Response | None:
        path = req.path.rstrip("/").lower()
        if req.method != "GET":
            return None
        if path == "/api":
            return Response(
                200,
                {
                    "Application": "Octopus Deploy",
                    "Version": SERVER_VERSION,
                    "ApiVersion": "3.0.0",
                    "InstallationId": "00000000-0000-0000-0000-00000000fa6e",
                    "Links": {
                        "Self": "/api",
                        "Spaces": "/api/spaces{/id}{?skip,ids,take,partialName}",
                        "Tasks": "/api/tasks{/id}{?skip,take,ids,states}",
                    },
                },
            )
        m = re.fullmatch(r"/api/(spaces-\d+)", path)
        if m:
            auth = self.authenticate(req)
            if auth is not None:
                return auth
            space = self._space(m.group(1))
            sid = space["Id"]
            return Response(
                200,
                {
                    "Links": {
                        "Self": f"/api/{sid}",
                        "Projects": f"/api/{sid}/projects{{/id}}",
                        "Releases": f"/api/{sid}/releases{{/id}}",
                        "Deployments": f"/api/{sid}/deployments{{/id}}",
                        "Tasks": f"/api/{sid}/tasks{{/id}}",
                    }
                },
            )
        return None

    def check_semantics(self, req: Request) -> None:
        space = req.params.get("baseSpaceId")
        if space is not None and space not in self.spaces and space.lower() not in {s.lower() for s in self.spaces}:
            raise ApiError(404, f"The resource you requested was not found: space {space}")
        body = req.json if isinstance(req.json, dict) else {}
        op = req.match.operation.operation_id  # type: ignore[union-attr]
        if op.endswith("V1_Spaces") and op.startswith("create"):
            if body.get("SpaceId") != space:
                raise ContractViolation(
                    400, f"{op}: SpaceId {body.get('SpaceId')!r} must be the route's space ID {space!r}", op
                )

    # -- spaces, projects, environments, lifecycles, channels --------------------------------
    @operation("getSpaces", "listAllSpaces")
    def list_spaces(self, req: Request) -> Response:
        part = req.query.get("partialName", "").lower()
        items = [s for s in self.spaces.values() if part in s["Name"].lower()]
        if req.match.operation.operation_id == "listAllSpaces":  # type: ignore[union-attr]
            return Response(200, items)
        return Response(200, self.collection(req, "Space", items, "/api/spaces"))

    @operation("getSpaceById")
    def get_space(self, req: Request) -> Response:
        return Response(200, self._space(req.params["id"]))

    @operation("indexProjects_Spaces", "listAllProjects_Spaces")
    def list_projects(self, req: Request) -> Response:
        items = self.filter_named(req, self.in_space(req, self.projects))
        if req.match.operation.operation_id.startswith("listAll"):  # type: ignore[union-attr]
            return Response(200, items)
        return Response(200, self.collection(req, "Project", items, f"/api/{self.sid(req)}/projects"))

    @operation("getProjectByIdOrSlug_Spaces_1")
    def get_project(self, req: Request) -> Response:
        return Response(200, self.project(req, req.params["projectId"]))

    @operation("indexEnvironments_Spaces", "listAllEnvironments_Spaces")
    def list_environments(self, req: Request) -> Response:
        items = self.filter_named(req, self.in_space(req, self.environments))
        if req.match.operation.operation_id.startswith("listAll"):  # type: ignore[union-attr]
            return Response(200, items)
        return Response(200, self.collection(req, "Environment", items, f"/api/{self.sid(req)}/environments"))

    @operation("getEnvironmentById_Spaces")
    def get_environment(self, req: Request) -> Response:
        return Response(200, self.lookup(self.environments, req.params["id"], "Environment"))

    @operation("getLifecycles_Spaces")
    def list_lifecycles(self, req: Request) -> Response:
        items = self.filter_named(req, self.in_space(req, self.lifecycles))
        return Response(200, self.collection(req, "Lifecycle", items, f"/api/{self.sid(req)}/lifecycles"))

    @operation("getLifecycleById_Spaces")
    def get_lifecycle(self, req: Request) -> Response:
        return Response(200, self.lookup(self.lifecycles, req.params["id"], "Lifecycle"))

    @operation("indexProjectChannels_Spaces")
    def list_channels(self, req: Request) -> Response:
        project = self.project(req, req.params["projectId"])
        items = [c for c in self.channels.values() if c["ProjectId"] == project["Id"]]
        return Response(
            200,
            self.collection(req, "Channel", items, f"/api/{self.sid(req)}/projects/{project['Id']}/channels"),
        )

    @operation("getChannelById_Spaces")
    def get_channel(self, req: Request) -> Response:
        return Response(200, self.lookup(self.channels, req.params["id"], "Channel"))

    # -- releases ----------------------------------------------------------------------------
    @operation("createReleaseV1_Spaces")
    def create_release_v1(self, req: Request) -> Response:
        body = req.json
        project = self.project(req, body["ProjectName"])
        rel = self.new_release(
            req,
            project,
            body.get("ReleaseVersion"),
            body.get("ChannelName"),
            self.resolve_packages(req, project, body.get("Packages") or [], body.get("PackageVersion")),
            body.get("PackageVersion"),
            body.get("ReleaseNotes"),
        )
        return Response(201, {"ReleaseId": rel["Id"], "ReleaseVersion": rel["Version"]})

    @operation("createRelease_Spaces")
    def create_release(self, req: Request) -> Response:
        body = req.json or {}
        if not body.get("ProjectId"):
            raise ApiError(400, "There was a problem with your request.", errors=["ProjectId is required"])
        project = self.project(req, body["ProjectId"])
        channel = self.lookup(self.channels, body["ChannelId"], "Channel")["Name"] if body.get("ChannelId") else None
        pkgs = [f"{p.get('ActionName')}:{p.get('Version')}" for p in body.get("SelectedPackages") or []]
        rel = self.new_release(req, project, body["Version"], channel, pkgs, None, body.get("ReleaseNotes"))
        return Response(201, rel)

    @operation("getDeploymentProcessById_Spaces")
    def get_deployment_process(self, req: Request) -> Response:
        """A project's deployment process, or a release's snapshot of it (``…-s1``)."""
        key = req.params["id"].removesuffix("-s1")
        for p in self.in_space(req, self.projects):
            if p["DeploymentProcessId"].lower() == key.lower():
                return Response(200, self.process_view(req, p))
        raise ApiError(404, f"The resource you requested was not found: DeploymentProcess {req.params['id']}")

    @operation("getReleaseById_Spaces")
    def get_release(self, req: Request) -> Response:
        return Response(200, self.lookup(self.releases, req.params["id"], "Release"))

    @operation("indexProjectReleases_Spaces")
    def list_project_releases(self, req: Request) -> Response:
        project = self.project(req, req.params["projectId"])
        search = req.query.get("searchByVersion")
        items = [
            r
            for r in reversed(self.releases.values())
            if r["ProjectId"] == project["Id"] and (not search or search in r["Version"])
        ]
        return Response(
            200,
            self.collection(req, "Release", items, f"/api/{self.sid(req)}/projects/{project['Id']}/releases"),
        )

    @operation("getReleaseByProjectAndVersion_Spaces")
    def get_release_by_version(self, req: Request) -> Response:
        project = self.project(req, req.params["id"])
        for r in self.releases.values():
            if r["ProjectId"] == project["Id"] and r["Version"] == req.params["version"]:
                return Response(200, r)
        raise ApiError(404, f"The resource you requested was not found: release {req.params['version']}")

    @operation("getReleaseLifecycleProgression_Spaces")
    def release_progression(self, req: Request) -> Response:
        return Response(200, self.lifecycle_progression(self.lookup(self.releases, req.params["id"], "Release")))

    @operation("getProgressionView_Spaces")
    def project_progression(self, req: Request) -> Response:
        return Response(200, self.project_progression_view(req, self.project(req, req.params["id"])))

    # -- deployments -------------------------------------------------------------------------
    @operation("createDeploymentUntenantedV1_Spaces")
    def create_deployment_v1(self, req: Request) -> Response:
        body = req.json
        project = self.project(req, body["ProjectName"])
        rel = next(
            (
                r
                for r in self.releases.values()
                if r["ProjectId"] == project["Id"] and r["Version"] == body["ReleaseVersion"]
            ),
            None,
        )
        if rel is None:
            raise ApiError(400, f"Release {body['ReleaseVersion']} of project {project['Name']} was not found.")
        envs = [self.lookup(self.environments, n, "Environment") for n in body["EnvironmentNames"]]
        for env in envs:
            self.check_lifecycle(rel, env, bool(body.get("ForcePackageRedeployment")))
        tasks = [self.new_deployment(req, rel, env, body.get("UseGuidedFailure")) for env in envs]
        return Response(
            200,
            {"DeploymentServerTasks": [{"DeploymentId": d["Id"], "ServerTaskId": d["TaskId"]} for d in tasks]},
        )

    @operation("createDeployment_Spaces")
    def create_deployment(self, req: Request) -> Response:
        body = req.json or {}
        missing = [k for k in ("EnvironmentId", "ReleaseId") if not body.get(k)]
        if missing:
            raise ContractViolation(400, f"createDeployment_Spaces: required {missing}", "createDeployment_Spaces")
        rel = self.lookup(self.releases, body["ReleaseId"], "Release")
        env = self.lookup(self.environments, body["EnvironmentId"], "Environment")
        self.check_lifecycle(rel, env, False)
        return Response(201, self.new_deployment(req, rel, env, body.get("UseGuidedFailure")))

    @operation("indexDeployments_Spaces")
    def list_deployments(self, req: Request) -> Response:
        q = req.query
        sets = {k: set(filter(None, (q.get(k) or "").split(","))) for k in ("ids", "projects", "environments")}
        items = [
            d
            for d in reversed(self.deployments.values())
            if d["SpaceId"] == self.sid(req)
            and (not sets["ids"] or d["Id"] in sets["ids"])
            and (not sets["projects"] or d["ProjectId"] in sets["projects"])
            and (not sets["environments"] or d["EnvironmentId"] in sets["environments"])
            and (not q.get("taskState") or self.tasks[d["TaskId"]]["State"] == q["taskState"])
        ]
        return Response(200, self.collection(req, "Deployment", items, f"/api/{self.sid(req)}/deployments"))

    @operation("getDeploymentById_Spaces")
    def get_deployment(self, req: Request) -> Response:
        return Response(200, self.lookup(self.deployments, req.params["id"], "Deployment"))

    @operation("indexReleaseDeployments_Spaces")
    def list_release_deployments(self, req: Request) -> Response:
        rel = self.lookup(self.releases, req.params["id"], "Release")
        items = [d for d in reversed(self.deployments.values()) if d["ReleaseId"] == rel["Id"]]
        return Response(
            200,
            self.collection(req, "Deployment", items, f"/api/{self.sid(req)}/releases/{rel['Id']}/deployments"),
        )

    # -- tasks and interruptions -------------------------------------------------------------
    @operation("getTaskById", "getTaskById_Spaces")
    def get_task(self, req: Request) -> Response:
        task = self.lookup(self.tasks, req.params["id"], "ServerTask")
        self.advance(task)
        return Response(200, task)

    @operation("getListTasks", "getListTasks_Spaces")
    def list_tasks(self, req: Request) -> Response:
        ids = set(filter(None, (req.query.get("ids") or "").split(",")))
        states = set(filter(None, (req.query.get("states") or "").split(",")))
        sid = req.params.get("baseSpaceId")
        items = [
            t for t in reversed(self.tasks.values()) if (not ids or t["Id"] in ids) and (not sid or t["SpaceId"] == sid)
        ]
        for t in items:
            self.advance(t)
        items = [t for t in items if not states or t["State"] in states]
        return Response(200, self.collection(req, "Task", items, "/api/tasks"))

    @operation("createTaskCancel", "createTaskCancel_Spaces")
    def cancel(self, req: Request) -> Response:
        task = self.lookup(self.tasks, req.params["id"], "ServerTask")
        return Response(200, self.cancel_task(task["Id"]))

    @operation("getTaskDetails_Spaces")
    def get_task_details(self, req: Request) -> Response:
        task = self.lookup(self.tasks, req.params["id"], "ServerTask")
        self.advance(task)
        return Response(
            200,
            {
                "Task": task,
                "ActivityLogs": self.activity_logs(task),
                "PhysicalLogSize": 0,
                "Id": task["Id"],
                "Progress": {
                    "ProgressPercentage": 100 if task["IsCompleted"] else 50,
                    "EstimatedTimeRemaining": "00:00:01",
                },
                "Links": {"Self": task["Links"]["Details"]},
            },
        )

    @operation("indexInterruptions_Spaces")
    def list_interruptions(self, req: Request) -> Response:
        regarding = req.query.get("regarding")
        pending = (req.query.get("pendingOnly") or "").lower() == "true"
        items = [
            i
            for i in self.interruptions.values()
            if (not regarding or regarding in i["RelatedDocumentIds"] or regarding == i["TaskId"])
            and (not pending or i["IsPending"])
        ]
        return Response(200, self.collection(req, "Interruption", items, f"/api/{self.sid(req)}/interruptions"))

    @operation("getInterruptionById_Spaces")
    def get_interruption(self, req: Request) -> Response:
        return Response(200, self.lookup(self.interruptions, req.params["id"], "Interruption"))

    @operation("updateInterruptionResponsibility_Spaces")
    def take_responsibility(self, req: Request) -> Response:
        i = self.lookup(self.interruptions, req.params["id"], "Interruption")
        i["HasResponsibility"] = True
        i["ResponsibleUserId"] = "Users-1"
        return Response(
            200,
            {
                "Id": "Users-1",
                "Username": "fake",
                "DisplayName": "Fake User",
                "IsActive": True,
                "IsService": True,
                "Links": {"Self": "/api/users/Users-1"},
            },
        )

    @operation("createSubmitInterruption_Spaces")
    def submit_interruption(self, req: Request) -> Response:
        i = self.lookup(self.interruptions, req.params["id"], "Interruption")
        if not i["IsPending"]:
            raise ApiError(400, "This interruption has already been submitted.")
        if not i["HasResponsibility"]:
            raise ApiError(400, "You must take responsibility for this interruption before submitting it.")
        result = str((req.json or {}).get("Result") or "Proceed")
        self.release_task(i["TaskId"], abort=result.lower() in ("abort", "fail", "reject"))
        return Response(200, i)


def main(argv: list[str] | None = None) -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--api-key", default="API-TESTKEY0000000000000000000", help="the API key clients must send")
        p.add_argument(
            "--discard-packages",
            action="store_true",
            help="hash uploaded packages while streaming and discard their bytes",
        )

    run_cli(lambda a: OctopusFake(api_key=a.api_key, store_packages=not a.discard_packages), argv, extra)


if __name__ == "__main__":
    main()
