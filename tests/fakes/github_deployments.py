"""Deployment, deployment-status and environment handlers of the GitHub fake (mixed into GitHubFake).

Also the drivers that act on them: ``set_environment`` (protection rules), ``approve_deployment`` and
``reject_deployment`` (a reviewer's decision).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from .core import ApiError, Request, Response, operation
from .github_state import GitHubHelpers, Repo, _now


class GitHubDeployments(GitHubHelpers):
    """``repos/*-deployment*`` and ``repos/*-environment*`` operations, with their drivers."""

    # -- drivers -----------------------------------------------------------------------------
    def set_environment(
        self,
        owner: str,
        repo: str,
        name: str,
        *,
        reviewers: list[str] | None = None,
        wait_timer: int = 0,
        prevent_self_review: bool = False,
    ) -> dict[str, Any]:
        """Create/replace an environment with protection rules (required reviewers by login, wait timer)."""
        with self.lock:
            r = self._repo(owner, repo)
            env = self._environment(r, name)
            rules: list[dict[str, Any]] = []
            example = self.contract.example("repos/get-environment")["protection_rules"]
            if wait_timer:
                rules.append({**example[0], "id": next(self._ids), "wait_timer": wait_timer})
            if reviewers:
                user = example[1]["reviewers"][0]["reviewer"]
                rules.append(
                    {
                        **example[1],
                        "id": next(self._ids),
                        "prevent_self_review": prevent_self_review,
                        "reviewers": [{"type": "User", "reviewer": {**user, "login": login}} for login in reviewers],
                    }
                )
            env["protection_rules"] = rules
            return env

    def hold_next_deployment(self, owner: str = "acme", repo: str = "app") -> None:
        """The next deployment created gets a ``waiting`` status, as one held by a protection rule would."""
        with self.lock:
            self.hold_next += 1

    def approve_deployment(self, owner: str, repo: str, deployment_id: int) -> dict[str, Any]:
        """A reviewer approves a deployment waiting on required reviewers.

        Appends an ``in_progress`` status.
        """
        return self._append_status(self._repo(owner, repo), int(deployment_id), "in_progress", "approved")

    def reject_deployment(self, owner: str, repo: str, deployment_id: int) -> dict[str, Any]:
        """A reviewer rejects a waiting deployment: appends a ``failure`` status."""
        return self._append_status(self._repo(owner, repo), int(deployment_id), "failure", "rejected")

    # -- deployments -------------------------------------------------------------------------
    @operation("repos/list-deployments")
    def list_deployments(self, req: Request) -> Response:
        r, q = self._r(req), req.query
        items = [
            d
            for d in sorted(r.deployments.values(), key=lambda d: -d["id"])
            if all(q.get(k) in (None, d.get(k)) for k in ("sha", "ref", "task", "environment"))
        ]
        return self._page(req, items)

    @operation("repos/create-deployment")
    def create_deployment(self, req: Request) -> Response:
        r, body = self._r(req), req.json
        did = next(self._ids)
        dep = self.contract.example("repos/create-deployment", "201")
        env = body.get("environment", "production")
        sha = body["ref"] if len(body["ref"]) == 40 else hashlib.sha1(body["ref"].encode()).hexdigest()
        dep.update(
            id=did,
            node_id=base64.b64encode(f"DE_{did}".encode()).decode(),
            sha=sha,
            ref=body["ref"],
            task=body.get("task", "deploy"),
            payload=body.get("payload", {}),
            environment=env,
            original_environment=env,
            description=body.get("description"),
            created_at=_now(),
            updated_at=_now(),
            url=f"{self._api(r)}/deployments/{did}",
            statuses_url=f"{self._api(r)}/deployments/{did}/statuses",
            repository_url=self._api(r),
            transient_environment=bool(body.get("transient_environment")),
            production_environment=bool(body.get("production_environment", env == "production")),
        )
        r.deployments[did] = dep
        r.statuses[did] = []
        self._environment(r, env)
        if self.hold_next:  # GitHub holds jobs for required reviewers, not REST-created deployments
            self.hold_next -= 1
            self._append_status(r, did, "waiting", "Waiting for review")
        return Response(201, dep)

    @operation("repos/get-deployment")
    def get_deployment(self, req: Request) -> Response:
        return Response(200, self._deployment(self._r(req), req.params["deployment_id"]))

    @operation("repos/delete-deployment")
    def delete_deployment(self, req: Request) -> Response:
        r = self._r(req)
        dep = self._deployment(r, req.params["deployment_id"])
        statuses = r.statuses.get(dep["id"]) or []
        if statuses and statuses[-1]["state"] not in ("inactive", "failure", "error"):
            raise ApiError(
                422,
                "We cannot delete an active deployment unless it is the only deployment in a given environment.",
            )
        del r.deployments[dep["id"]]
        return Response(204)

    def _append_status(
        self,
        r: Repo,
        deployment_id: int,
        state: str,
        description: str = "",
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            dep = self._deployment(r, deployment_id)
            body = body or {}
            sid = next(self._ids)
            st = self.contract.example("repos/create-deployment-status", "201")
            st.update(
                id=sid,
                node_id=base64.b64encode(f"DES_{sid}".encode()).decode(),
                state=state,
                description=body.get("description", description),
                environment=body.get("environment", dep["environment"]),
                target_url=body.get("target_url", ""),
                log_url=body.get("log_url", body.get("target_url", "")),
                environment_url=body.get("environment_url", ""),
                created_at=_now(),
                updated_at=_now(),
                url=f"{dep['url']}/statuses/{sid}",
                deployment_url=dep["url"],
                repository_url=self._api(r),
            )
            r.statuses[dep["id"]].append(st)
            dep["updated_at"] = _now()
            if state == "success" and body.get("auto_inactive", True):
                for other in r.deployments.values():
                    prev = r.statuses.get(other["id"]) or []
                    if (
                        other["id"] != dep["id"]
                        and other["environment"] == dep["environment"]
                        and prev
                        and prev[-1]["state"] == "success"
                    ):
                        self._append_status(r, other["id"], "inactive", "superseded", {"auto_inactive": False})
            return st

    @operation("repos/list-deployment-statuses")
    def list_statuses(self, req: Request) -> Response:
        r = self._r(req)
        dep = self._deployment(r, req.params["deployment_id"])
        return self._page(req, list(reversed(r.statuses[dep["id"]])))

    @operation("repos/create-deployment-status")
    def create_status(self, req: Request) -> Response:
        r = self._r(req)
        st = self._append_status(r, int(req.params["deployment_id"]), req.json["state"], "", req.json)
        return Response(201, st)

    @operation("repos/get-deployment-status")
    def get_status(self, req: Request) -> Response:
        r = self._r(req)
        dep = self._deployment(r, req.params["deployment_id"])
        for st in r.statuses[dep["id"]]:
            if st["id"] == int(req.params["status_id"]):
                return Response(200, st)
        raise ApiError(404, "Not Found")

    # -- environments ------------------------------------------------------------------------
    @operation("repos/get-all-environments")
    def list_environments(self, req: Request) -> Response:
        r = self._r(req)
        envs = list(r.environments.values())
        return Response(200, {"total_count": len(envs), "environments": envs})

    @operation("repos/get-environment")
    def get_environment(self, req: Request) -> Response:
        r = self._r(req)
        name = req.params["environment_name"]
        if name.lower() not in {k.lower() for k in r.environments}:
            raise ApiError(404, "Not Found")
        return Response(200, self._environment(r, name))

    @operation("repos/create-or-update-environment")
    def put_environment(self, req: Request) -> Response:
        r, body = self._r(req), req.json or {}
        env = self._environment(r, req.params["environment_name"])
        reviewers = [str(x.get("id")) for x in body.get("reviewers") or []]
        self.set_environment(
            r.owner,
            r.name,
            env["name"],
            reviewers=reviewers or None,
            wait_timer=body.get("wait_timer", 0),
            prevent_self_review=bool(body.get("prevent_self_review")),
        )
        return Response(200, env)

    @operation("repos/delete-an-environment")
    def delete_environment(self, req: Request) -> Response:
        r = self._r(req)
        for k in [k for k in r.environments if k.lower() == req.params["environment_name"].lower()]:
            del r.environments[k]
        return Response(204)
