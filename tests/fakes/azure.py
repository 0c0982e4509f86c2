"""Fake Azure DevOps (dev.azure.com + vsrm.dev.azure.com).

Checked against tests/contracts/azure-devops-*.swagger.json.

Organisation URL: ``http://127.0.0.1:PORT/myorg``. Release calls belong to the vsrm host, served at
``http://127.0.0.1:PORT/_vsrm/myorg`` and discovered like the real service: ``OPTIONS {org}/_apis``
(resource locations) and ``GET {org}/_apis/ResourceAreas`` (area -> host). Run alone with
``python -m tests.fakes.azure --port 0``. The release-management handlers are in azure_releases.py.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import re
import uuid
from typing import Any

from .azure_releases import AzureReleaseOperations
from .azure_state import AzureState
from .contract import Contract, ContractViolation, load
from .core import ApiError, FakeService, Request, Response, operation
from .server import run_cli

RELEASE_AREA = "efc2f575-36ef-48e9-b672-0c6fb4a48ac5"
BUILD_AREA = "5d6898bb-45ec-463f-95f9-54d49c71752e"
RESOURCE_AREAS_LOCATION = "e81700f7-3be2-46de-8624-2eb35882fcaa"
# (location id, resource, route template, resource version) of the release area,
# as the real vsrm host reports them.
RELEASE_LOCATIONS = [
    ("a166fde7-27ad-408e-ba75-703c2cc9d500", "releases", "{project}/_apis/{area}/{resource}/{releaseId}", 8),
    (
        "d8f96f24-8ea7-4cb6-baab-2df8fc515665",
        "definitions",
        "{project}/_apis/{area}/{resource}/{definitionId}",
        4,
    ),
    (
        "a7e426b1-03dc-48af-9dfe-c98bac612dcb",
        "environments",
        "{project}/_apis/{area}/releases/{releaseId}/{resource}/{environmentId}",
        7,
    ),
    ("b47c6458-e73b-47cb-a770-4df1e8813a91", "approvals", "{project}/_apis/{area}/{resource}", 3),
    (
        "9328e074-59fb-465a-89d9-b09c82ee5109",
        "approvals",
        "{project}/_apis/{area}/{resource}/{approvalId}",
        3,
    ),
    ("b005ef73-cddc-448e-9ba2-5193bf36b19f", "deployments", "{project}/_apis/{area}/{resource}", 2),
    (
        "616c46e4-f370-4456-adaa-fbaf79c7b79e",
        "manualInterventions",
        "{project}/_apis/{area}/releases/{releaseId}/{resource}/{manualInterventionId}",
        1,
    ),
    ("2666a539-2001-4f80-bcc7-0379956749d4", "gates", "{project}/_apis/{area}/{resource}/{gateStepId}", 1),
]
API_VERSION = re.compile(r"^(\d+)\.(\d+)(-preview(\.\d+)?)?$")
FINAL = {"succeeded", "rejected", "canceled", "partiallySucceeded"}
PARTIAL = "\0partiallySucceeded"  # a marker in the fail-next queue


class AzureDevOpsFake(AzureReleaseOperations, AzureState, FakeService):
    """Stateful Azure DevOps fake (release management).

    ``url`` = organisation URL, ``vsrm_url`` = release host, ``token`` = accepted PAT.
    """

    name = "azure"
    DRIVERS = (
        "seed_definition",
        "seed_build",
        "require_approval",
        "fail_next_deployment",
        "partially_succeed_next_deployment",
        "approve",
        "reject",
        "add_token",
    )

    def __init__(self, *, organization: str = "myorg", project: str = "MyProject", token: str = "test-pat"):
        super().__init__()
        self.organization, self.project, self.token = organization, project, token
        self.project_id = str(uuid.uuid5(uuid.NAMESPACE_URL, project))
        self.tokens = {token}
        self.vsrm = [load("azure-devops-release.swagger.json", True)]
        self.dev = [
            load(f, True)
            for f in (
                "azure-devops-build.swagger.json",
                "azure-devops-pipelines.swagger.json",
                "azure-devops-pipelines-approvals.swagger.json",
                "azure-devops-distributedtask-environments.swagger.json",
                "azure-devops-environments-7.2-preview.swagger.json",
            )
        ]
        self._ids = itertools.count(1)
        self.definitions: dict[int, dict[str, Any]] = {}
        self.builds: dict[int, dict[str, Any]] = {}
        self.releases: dict[int, dict[str, Any]] = {}
        self.approvals: dict[int, dict[str, Any]] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self._fail_next: list[str] = []
        self.identity = {
            "id": str(uuid.uuid4()),
            "displayName": "Fake User",
            "uniqueName": "fake@example.com",
        }
        self.seed_build(101, "20240101.1", definition_id=7, definition_name="app-ci")
        self.seed_definition(1, "app-release", ["Dev", "Test", "Prod"], build_definition_id=7)

    # -- drivers -----------------------------------------------------------------------------
    def seed_definition(
        self,
        definition_id: int,
        name: str,
        stages: list[str],
        *,
        build_definition_id: int = 7,
        alias: str = "_app",
        approvals: list[str] | None = None,
    ) -> dict[str, Any]:
        """Create a release definition with ordered stages.

        ``approvals`` lists the stages that get a pre-deployment approval.
        """
        with self.lock:
            envs = [
                {
                    "id": next(self._ids) + 1000,
                    "name": s,
                    "rank": i + 1,
                    "preDeployApproval": s in (approvals or []),
                }
                for i, s in enumerate(stages)
            ]
            d = {
                "id": definition_id,
                "name": name,
                "path": "\\",
                "revision": 1,
                "environments": envs,
                "artifacts": [
                    {
                        "alias": alias,
                        "type": "Build",
                        "isPrimary": True,
                        "sourceId": f"{self.project_id}:{build_definition_id}",
                        "definitionReference": {
                            "definition": {"id": str(build_definition_id)},
                            "project": {"id": self.project_id, "name": self.project},
                        },
                    }
                ],
            }
            self.definitions[definition_id] = d
            return d

    def seed_build(
        self,
        build_id: int,
        build_number: str,
        *,
        definition_id: int = 7,
        definition_name: str = "app-ci",
        source_version: str = "a" * 40,
    ) -> dict[str, Any]:
        """Register a build a release artifact can be pinned to."""
        with self.lock:
            b = {
                "id": build_id,
                "buildNumber": build_number,
                "definition": {"id": definition_id, "name": definition_name},
                "sourceVersion": source_version,
            }
            self.builds[build_id] = b
            return b

    def require_approval(self, definition_id: int, stage: str) -> None:
        """Give a stage of a definition a pre-deployment approval (future releases wait for it)."""
        with self.lock:
            for env in self.definitions[int(definition_id)]["environments"]:
                if env["name"].lower() == stage.lower():
                    env["preDeployApproval"] = True

    def fail_next_deployment(self, reason: str = "Deployment failed (injected by the fake)") -> None:
        """The next stage that starts deploying ends ``rejected`` (deployment ``failed``)."""
        with self.lock:
            self._fail_next.append(reason)

    def partially_succeed_next_deployment(self) -> None:
        """The next stage that starts deploying ends ``partiallySucceeded`` (some tasks failed)."""
        with self.lock:
            self._fail_next.append(PARTIAL)

    def approve(self, release_id: int, stage: str, status: str = "approved") -> dict[str, Any]:
        """Act on the pending approval of a release's stage (like a reviewer in the UI)."""
        with self.lock:
            env = self._env_by_name(int(release_id), stage)
            for a in self.approvals.values():
                if a["releaseEnvironment"]["id"] == env["id"] and a["status"] == "pending":
                    self._decide(a, status, "")
                    return a
            raise KeyError(f"no pending approval on {stage} of release {release_id}")

    def reject(self, release_id: int, stage: str) -> dict[str, Any]:
        """Reject the pending approval of a release's stage."""
        return self.approve(release_id, stage, "rejected")

    def add_token(self, token: str) -> None:
        self.tokens.add(token)

    def stage_status(self, release_id: int, stage: str) -> str:
        """Current status of a release stage, without advancing it."""
        return self._env_by_name(int(release_id), stage)["status"]

    # -- service hooks -----------------------------------------------------------------------
    def on_start(self) -> None:
        self.url = f"{self.origin}/{self.organization}"
        self.vsrm_url = f"{self.origin}/_vsrm/{self.organization}"

    def route(self, path: str) -> tuple[str, str]:
        if path.startswith("/_vsrm/"):
            return "vsrm", path[len("/_vsrm") :]
        return "dev", path

    def contracts_for(self, host: str) -> list[Contract]:
        return self.vsrm if host == "vsrm" else self.dev

    def error_body(self, status: int, message: str, **extra: Any) -> Any:
        key = {
            400: "InvalidRequestException",
            401: "UnauthorizedRequestException",
            404: "NotFoundException",
            405: "MethodNotAllowedException",
            409: "ConflictException",
        }.get(status, "VssServiceException")
        return {
            "$id": "1",
            "innerException": None,
            "message": message,
            "typeName": f"Microsoft.VisualStudio.Services.WebApi.{key}, Microsoft.VisualStudio.Services.WebApi",
            "typeKey": key,
            "errorCode": 0,
            "eventId": 3000,
        }

    def authenticate(self, req: Request) -> Response | None:
        scheme, _, cred = (req.headers.get("Authorization") or "").partition(" ")
        token = None
        if scheme.lower() == "basic":
            try:
                token = base64.b64decode(cred).decode().partition(":")[2]
            except ValueError:
                token = None
        elif scheme.lower() == "bearer":
            token = cred
        if token in self.tokens:
            return None
        msg = "TF400813: The user '' is not authorized to access this resource."
        return Response(401, self.error_body(401, msg), {"WWW-Authenticate": 'Basic realm="https://dev.azure.com"'})

    def _api_version(self, req: Request) -> str | None:
        if "api-version" in {k.lower() for k in req.query}:
            return next(v for k, v in req.query.items() if k.lower() == "api-version")
        m = re.search(r"api-version=([\w.\-]+)", req.headers.get("Accept") or "")
        return m.group(1) if m else None

    def implicit_query(self, req: Request) -> frozenset[str]:
        # The real service also takes api-version from the Accept header (the official client sends it there).
        return frozenset({"api-version"}) if self._api_version(req) else frozenset()

    def check_semantics(self, req: Request) -> None:
        op = req.match.operation  # type: ignore[union-attr]
        version = self._api_version(req)
        if version is not None:
            m = API_VERSION.match(version)
            top = (7, 2) if req.host == "dev" else (7, 1)
            if not m or (int(m.group(1)), int(m.group(2))) > top or (int(m.group(1)), int(m.group(2))) < (1, 0):
                raise ContractViolation(
                    400,
                    f"The requested REST API version of {version} is out of range for this server.",
                    op.operation_id,
                )
        required = {
            "Releases_Create": ["definitionId"],
            "Approvals_Update": ["status"],
            "Releases_Update Release Environment": ["status"],
        }.get(op.operation_id, [])
        missing = [f for f in required if not isinstance(req.json, dict) or f not in req.json]
        if missing:
            raise ContractViolation(
                400,
                f"{op.operation_id}: required field(s) {missing} missing; the service rejects this request",
                op.operation_id,
            )
        if req.params.get("organization", "").lower() != self.organization.lower():
            raise ApiError(404, f"TF400813: organization {req.params.get('organization')} not found")
        project = req.params.get("project")
        if project is not None and project.lower() not in (self.project.lower(), self.project_id):
            raise ApiError(404, f"TF200016: The following project does not exist: {project}.")

    def discovery(self, req: Request) -> Response | None:
        org = f"/{self.organization}/_apis".lower()
        path = req.path.lower().rstrip("/")
        if req.method == "OPTIONS" and path == org:
            return Response(200, self._locations(req.host))
        if req.method == "GET" and req.host == "dev" and path.startswith(org + "/resourceareas"):
            areas = [
                {"id": RELEASE_AREA, "name": "Release", "locationUrl": self.vsrm_url + "/"},
                {"id": BUILD_AREA, "name": "build", "locationUrl": self.url + "/"},
            ]
            return Response(200, {"count": len(areas), "value": areas})
        return None

    def _locations(self, host: str) -> dict[str, Any]:
        locs = [
            {
                "id": RESOURCE_AREAS_LOCATION,
                "area": "Location",
                "resourceName": "ResourceAreas",
                "routeTemplate": "_apis/{resource}/{areaId}",
                "resourceVersion": 1,
                "minVersion": "3.2",
                "maxVersion": "7.2",
                "releasedVersion": "0.0",
            }
        ]
        if host == "vsrm":
            locs += [
                {
                    "id": i,
                    "area": "Release",
                    "resourceName": r,
                    "routeTemplate": t,
                    "resourceVersion": v,
                    "minVersion": "3.0",
                    "maxVersion": "7.2",
                    "releasedVersion": "7.1",
                }
                for i, r, t, v in RELEASE_LOCATIONS
            ]
        return {"count": len(locs), "value": locs}

    # -- builds ------------------------------------------------------------------------------
    @operation("Builds_Get")
    def get_build(self, req: Request) -> Response:
        b = self.builds.get(int(req.params["buildId"]))
        if b is None:
            raise ApiError(404, f"TF215016: Build {req.params['buildId']} does not exist.")
        url = f"{self.url}/{self.project_id}/_apis/build/Builds/{b['id']}"
        return Response(
            200,
            {
                **b,
                "url": url,
                "status": "completed",
                "result": "succeeded",
                "project": {"id": self.project_id, "name": self.project},
                "_links": {"self": {"href": url}},
            },
        )


def main(argv: list[str] | None = None) -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", default="test-pat", help="the PAT clients must send")
        p.add_argument("--organization", default="myorg")
        p.add_argument("--project", default="MyProject")

    run_cli(lambda a: AzureDevOpsFake(organization=a.organization, project=a.project, token=a.token), argv, extra)


if __name__ == "__main__":
    main()
