"""Release-management handlers of the Azure DevOps fake (mixed into AzureDevOpsFake): release
definitions, releases and their stages, approvals and deployments (all on the vsrm host)."""

from __future__ import annotations

from typing import Any

from .azure_state import AzureState, _now
from .core import ApiError, Request, Response, operation


class AzureReleaseOperations(AzureState):
    """``Definitions_*``, ``Releases_*``, ``Approvals_*`` and ``Deployments_List``."""

    builds: dict[int, dict[str, Any]]

    @operation("Definitions_List")
    def list_definitions(self, req: Request) -> Response:
        q = {k.lower(): v for k, v in req.query.items()}
        text = q.get("searchtext", "").lower()
        exact = q.get("isexactnamematch", "false").lower() == "true"
        items = [
            self._definition(d)
            for d in self.definitions.values()
            if not text or (d["name"].lower() == text if exact else text in d["name"].lower())
        ]
        return Response(200, {"count": len(items), "value": items})

    @operation("Definitions_Get")
    def get_definition(self, req: Request) -> Response:
        d = self.definitions.get(int(req.params["definitionId"]))
        if d is None:
            raise ApiError(404, f"VS402855: Release definition with id {req.params['definitionId']} does not exist.")
        return Response(200, self._definition(d))

    @operation("Releases_Create")
    def create_release(self, req: Request) -> Response:
        body = req.json
        d = self.definitions.get(int(body["definitionId"]))
        if d is None:
            raise ApiError(400, f"VS402855: Release definition with id {body['definitionId']} does not exist.")
        artifacts = []
        for art in d["artifacts"]:
            given = next((a for a in body.get("artifacts") or [] if a.get("alias") == art["alias"]), None)
            build_id = int((given or {}).get("instanceReference", {}).get("id") or max(self.builds))
            build = self.builds.get(build_id)
            if build is None:
                raise ApiError(400, f"VS402880: Build {build_id} for artifact {art['alias']} was not found.")
            ref = dict(
                art["definitionReference"],
                version={"id": str(build["id"]), "name": build["buildNumber"]},
                sourceVersion={"id": build["sourceVersion"], "name": build["sourceVersion"]},
            )
            artifacts.append({**art, "definitionReference": ref})
        rid = next(self._ids)
        rel = {
            "id": rid,
            "name": f"Release-{rid}",
            "status": "draft" if body.get("isDraft") else "active",
            "description": body.get("description") or "",
            "reason": body.get("reason") or "manual",
            "createdOn": _now(),
            "modifiedOn": _now(),
            "createdBy": self.identity,
            "modifiedBy": self.identity,
            "createdFor": self.identity,
            "artifacts": artifacts,
            "keepForever": False,
            "variables": {},
            "variableGroups": [],
            "tags": [],
            "releaseDefinitionRevision": d["revision"],
            "definitionSnapshotRevision": 1,
            "logsContainerUrl": self._rm(f"releases/{rid}/logs"),
            "projectReference": {"id": self.project_id, "name": self.project},
            "_definition": d,
            "_envs": [],
        }
        for env in d["environments"]:
            rel["_envs"].append(
                {
                    "id": next(self._ids),
                    "name": env["name"],
                    "rank": env["rank"],
                    "definitionEnvironmentId": env["id"],
                    "status": "notStarted",
                    "variables": {},
                    "createdOn": _now(),
                    "modifiedOn": _now(),
                    "owner": self.identity,
                    "_needs_approval": env["preDeployApproval"],
                    "_approvals": [],
                    "_deployments": [],
                }
            )
        self.releases[rid] = rel
        return Response(200, self._release_view(rel))

    @operation("Releases_List")
    def list_releases(self, req: Request) -> Response:
        q = {k.lower(): v for k, v in req.query.items()}
        ascending = q.get("queryorder", "descending").lower() == "ascending"
        rels = sorted(self.releases.values(), key=lambda r: r["id"] if ascending else -r["id"])
        if "definitionid" in q:
            rels = [r for r in rels if r["_definition"]["id"] == int(q["definitionid"])]
        rels = [r for r in rels if self._artifact_matches(r, q)]
        if q.get("searchtext"):
            # "Releases with names containing searchText" (Releases - List, api-version 7.1:
            # https://learn.microsoft.com/en-us/rest/api/azure/devops/release/releases/list?view=azure-devops-rest-7.1);
            # the service compares names without regard to case, as Definitions_List's searchText does
            text = q["searchtext"].lower()
            rels = [r for r in rels if text in r["name"].lower()]
        if q.get("releaseidfilter"):
            wanted = {int(x) for x in q["releaseidfilter"].split(",") if x.strip()}
            rels = [r for r in rels if r["id"] in wanted]
        if "continuationtoken" in q:  # the id of the first release of the next page, as the service does
            token = int(q["continuationtoken"])
            rels = [r for r in rels if (r["id"] >= token if ascending else r["id"] <= token)]
        top = max(1, min(int(q.get("$top", 50)), 100))
        page, rest = rels[:top], rels[top:]
        headers = {"x-ms-continuationtoken": str(rest[0]["id"])} if rest else {}
        return Response(200, {"count": len(page), "value": [self._release_view(r) for r in page]}, headers)

    @staticmethod
    def _artifact_matches(rel: dict[str, Any], q: dict[str, str]) -> bool:
        """``artifactTypeId`` / ``sourceId`` / ``artifactVersionId`` filters: some artifact matches all given."""
        if not any(k in q for k in ("artifacttypeid", "sourceid", "artifactversionid")):
            return True
        for art in rel["artifacts"]:
            if "artifacttypeid" in q and str(art.get("type", "")).lower() != q["artifacttypeid"].lower():
                continue
            if "sourceid" in q and art.get("sourceId") != q["sourceid"]:
                continue
            if "artifactversionid" in q and art["definitionReference"]["version"]["id"] != q["artifactversionid"]:
                continue
            return True
        return False

    @operation("Releases_Get Release")
    def get_release(self, req: Request) -> Response:
        rel = self._release(req.params["releaseId"])
        self._advance(rel)
        return Response(200, self._release_view(rel))

    @operation("Releases_Update Release Resource", "Releases_Update Release")
    def update_release(self, req: Request) -> Response:
        rel, body = self._release(req.params["releaseId"]), req.json or {}
        # ReleaseUpdateMetadata.name: "Sets name of the release" (Releases - Update Release Resource)
        for key in ("name", "status", "keepForever", "comment", "description"):
            if key in body and body[key] is not None:
                rel[key] = body[key]
        rel["modifiedOn"] = _now()
        return Response(200, self._release_view(rel))

    def _env(self, req: Request) -> tuple[dict[str, Any], dict[str, Any]]:
        rel = self._release(req.params["releaseId"])
        for env in rel["_envs"]:
            if env["id"] == int(req.params["environmentId"]):
                return rel, env
        raise ApiError(404, f"VS402868: Stage {req.params['environmentId']} does not exist in release {rel['id']}.")

    @operation("Releases_Get Release Environment")
    def get_release_environment(self, req: Request) -> Response:
        rel, env = self._env(req)
        self._advance(rel)
        return Response(200, self._env_view(rel, env))

    @operation("Releases_Update Release Environment")
    def update_release_environment(self, req: Request) -> Response:
        rel, env = self._env(req)
        status = req.json["status"]
        if rel["status"] != "active":
            raise ApiError(400, f"VS402913: Release {rel['name']} is {rel['status']}; stages cannot be deployed.")
        if status == "inProgress":
            self._start(rel, env)
        elif status == "canceled":
            env["status"] = "canceled"
        else:
            raise ApiError(400, f"VS402890: Stage status cannot be changed to {status}.")
        return Response(200, self._env_view(rel, env))

    @operation("Approvals_List")
    def list_approvals(self, req: Request) -> Response:
        q = {k.lower(): v for k, v in req.query.items()}
        status = q.get("statusfilter", "pending").lower()
        ids = {int(x) for x in q.get("releaseidsfilter", "").split(",") if x.strip()}
        items = [
            self._approval_view(a)
            for a in self.approvals.values()
            if (status == "undefined" or a["status"].lower() == status) and (not ids or a["release"]["id"] in ids)
        ]
        return Response(200, {"count": len(items), "value": items})

    @operation("Approvals_Update")
    def update_approval(self, req: Request) -> Response:
        a = self.approvals.get(int(req.params["approvalId"]))
        if a is None:
            raise ApiError(404, f"VS402837: Approval {req.params['approvalId']} does not exist.")
        if req.json["status"] not in ("approved", "rejected", "reassigned", "skipped"):
            raise ApiError(400, f"VS402839: Approval status {req.json['status']} is not valid here.")
        self._decide(a, req.json["status"], req.json.get("comments") or "")
        return Response(200, self._approval_view(a))

    @operation("Deployments_List")
    def list_deployments(self, req: Request) -> Response:
        q = {k.lower(): v for k, v in req.query.items()}
        for rel in self.releases.values():
            self._advance(rel)
        deps = sorted(self.deployments.values(), key=lambda d: -d["id"])
        if "definitionid" in q:
            deps = [d for d in deps if d["releaseDefinition"]["id"] == int(q["definitionid"])]
        if "definitionenvironmentid" in q:
            deps = [d for d in deps if d["definitionEnvironmentId"] == int(q["definitionenvironmentid"])]
        if q.get("deploymentstatus", "all").lower() != "all":
            deps = [d for d in deps if d["deploymentStatus"].lower() == q["deploymentstatus"].lower()]
        deps = deps[: int(q.get("$top", 50))]
        view = [{k: v for k, v in d.items() if not k.startswith("_")} for d in deps]
        return Response(200, {"count": len(view), "value": view})
