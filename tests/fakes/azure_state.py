"""Representations and the stage state machine of the Azure DevOps fake (mixed into AzureDevOpsFake)."""

from __future__ import annotations

import time
from typing import Any

from .core import ApiError


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class AzureState:
    """Release views (``_links``/``url`` consistent with the vsrm host) and stage transitions."""

    vsrm_url: str
    url: str
    project: str
    project_id: str
    identity: dict[str, Any]
    definitions: dict[int, dict[str, Any]]
    releases: dict[int, dict[str, Any]]
    approvals: dict[int, dict[str, Any]]
    deployments: dict[int, dict[str, Any]]
    _fail_next: list[str]
    _ids: Any

    # -- representations ---------------------------------------------------------------------
    def _rm(self, path: str) -> str:
        return f"{self.vsrm_url}/{self.project_id}/_apis/Release/{path}"

    def _def_ref(self, d: dict[str, Any]) -> dict[str, Any]:
        url = self._rm(f"definitions/{d['id']}")
        return {
            "id": d["id"],
            "name": d["name"],
            "path": d["path"],
            "url": url,
            "projectReference": {"id": self.project_id, "name": self.project},
            "_links": {
                "self": {"href": url},
                "web": {"href": f"{self.url}/{self.project}/_release?definitionId={d['id']}"},
            },
        }

    def _definition(self, d: dict[str, Any]) -> dict[str, Any]:
        envs = [
            {
                "id": e["id"],
                "name": e["name"],
                "rank": e["rank"],
                "preDeployApprovals": {
                    "approvals": [
                        {
                            "rank": 1,
                            "isAutomated": not e["preDeployApproval"],
                            "isNotificationOn": False,
                            "id": e["id"] * 10,
                        }
                    ]
                },
            }
            for e in d["environments"]
        ]
        return {
            **self._def_ref(d),
            "revision": d["revision"],
            "source": "restApi",
            "isDeleted": False,
            "environments": envs,
            "artifacts": d["artifacts"],
            "createdBy": self.identity,
            "modifiedBy": self.identity,
            "createdOn": _now(),
            "modifiedOn": _now(),
            "variables": {},
            "variableGroups": [],
            "releaseNameFormat": "Release-$(rev:r)",
            "tags": [],
            "triggers": [],
        }

    def _release_ref(self, rel: dict[str, Any]) -> dict[str, Any]:
        url = self._rm(f"releases/{rel['id']}")
        return {
            "id": rel["id"],
            "name": rel["name"],
            "url": url,
            "_links": {
                "self": {"href": url},
                "web": {"href": f"{self.url}/{self.project}/_releaseProgress?releaseId={rel['id']}"},
            },
        }

    def _env_view(self, rel: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
        pre = [self._approval_view(self.approvals[a]) for a in env["_approvals"]]
        return {k: v for k, v in env.items() if not k.startswith("_")} | {
            "preDeployApprovals": pre,
            "postDeployApprovals": [],
            "releaseId": rel["id"],
            "release": self._release_ref(rel),
            "releaseDefinition": self._def_ref(rel["_definition"]),
            "deploySteps": [self._attempt(self.deployments[d]) for d in env["_deployments"]],
        }

    def _attempt(self, dep: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": dep["id"],
            "deploymentId": dep["id"],
            "attempt": dep["attempt"],
            "status": dep["deploymentStatus"],
            "operationStatus": dep["operationStatus"],
            "queuedOn": dep["queuedOn"],
            "hasStarted": True,
            "reason": "manual",
            "requestedBy": self.identity,
            "requestedFor": self.identity,
            "issues": [],
        }

    def _release_view(self, rel: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in rel.items() if not k.startswith("_")} | {
            **self._release_ref(rel),
            "releaseDefinition": self._def_ref(rel["_definition"]),
            "environments": [self._env_view(rel, e) for e in rel["_envs"]],
        }

    def _approval_view(self, a: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in a.items() if not k.startswith("_")}

    # -- state machine -----------------------------------------------------------------------
    def _advance(self, rel: dict[str, Any]) -> None:
        """Move every deploying stage of ``rel`` one step: queued -> inProgress -> succeeded/rejected."""
        for env in rel["_envs"]:
            if not env["_deployments"]:
                continue
            dep = self.deployments[env["_deployments"][-1]]
            if env["status"] == "queued" and not any(
                self.approvals[a]["status"] == "pending" for a in env["_approvals"]
            ):
                env["status"] = "inProgress"
                dep.update(deploymentStatus="inProgress", operationStatus="PhaseInProgress", startedOn=_now())
            elif env["status"] == "inProgress":
                failed = dep.pop("_fail", None)
                if failed == "\0partiallySucceeded":
                    env["status"] = "partiallySucceeded"
                    dep.update(deploymentStatus="partiallySucceeded", operationStatus="PhasePartiallySucceeded",
                               completedOn=_now())
                    env["modifiedOn"] = _now()
                    continue
                env["status"] = "rejected" if failed else "succeeded"
                dep.update(
                    deploymentStatus="failed" if failed else "succeeded",
                    operationStatus="PhaseFailed" if failed else "PhaseSucceeded",
                    completedOn=_now(),
                )
            env["modifiedOn"] = _now()

    def _start(self, rel: dict[str, Any], env: dict[str, Any]) -> None:
        if env["status"] in ("queued", "inProgress"):
            raise ApiError(400, f"VS402916: Deployment of stage {env['name']} is already in progress.")
        did = next(self._ids)
        dep = {
            "id": did,
            "attempt": len(env["_deployments"]) + 1,
            "deploymentStatus": "notDeployed",
            "operationStatus": "Queued",
            "queuedOn": _now(),
            "definitionEnvironmentId": env["definitionEnvironmentId"],
            "release": self._release_ref(rel),
            "releaseDefinition": self._def_ref(rel["_definition"]),
            "releaseEnvironment": {"id": env["id"], "name": env["name"]},
            "requestedBy": self.identity,
            "requestedFor": self.identity,
            "reason": "manual",
            "lastModifiedOn": _now(),
            "projectReference": {"id": self.project_id, "name": self.project},
        }
        if self._fail_next:
            dep["_fail"] = self._fail_next.pop(0)
        self.deployments[did] = dep
        env["_deployments"].append(did)
        env["status"] = "queued"
        if env["_needs_approval"]:
            aid = next(self._ids)
            self.approvals[aid] = {
                "id": aid,
                "revision": 1,
                "approvalType": "preDeploy",
                "status": "pending",
                "isAutomated": False,
                "attempt": dep["attempt"],
                "rank": 1,
                "comments": "",
                "createdOn": _now(),
                "modifiedOn": _now(),
                "approver": self.identity,
                "release": self._release_ref(rel),
                "releaseDefinition": self._def_ref(rel["_definition"]),
                "releaseEnvironment": {"id": env["id"], "name": env["name"]},
                "url": self._rm(f"approvals/{aid}"),
                "history": [],
            }
            env["_approvals"].append(aid)
            dep["operationStatus"] = "Pending"

    def _decide(self, a: dict[str, Any], status: str, comments: str) -> None:
        if a["status"] != "pending":
            raise ApiError(400, f"VS402838: Approval {a['id']} is already {a['status']}.")
        a.update(status=status, comments=comments, modifiedOn=_now(), approvedBy=self.identity)
        rel = self.releases[a["release"]["id"]]
        env = next(e for e in rel["_envs"] if e["id"] == a["releaseEnvironment"]["id"])
        if status == "rejected":
            env["status"] = "rejected"
            self.deployments[env["_deployments"][-1]].update(deploymentStatus="notDeployed", operationStatus="Rejected")

    def _env_by_name(self, release_id: int, stage: str) -> dict[str, Any]:
        rel = self._release(release_id)
        for env in rel["_envs"]:
            if env["name"].lower() == stage.lower():
                return env
        raise KeyError(stage)

    def _release(self, release_id: Any) -> dict[str, Any]:
        rel = self.releases.get(int(release_id))
        if rel is None:
            raise ApiError(404, f"VS402853: Release with id {release_id} does not exist.")
        return rel
