"""Fake HCP Terraform / Terraform Enterprise (API v2, JSON:API) checked against tests/contracts/terraform-cloud/.

The address a user gives (``terraform-cloud.hostname``, pytfe's ``TFEConfig.address``) is ``.url``
(``http://127.0.0.1:PORT``); the API lives under ``/api/v2``. A configuration version's ``upload-url``
points at ``/_archivist/v1/object/<id>`` on the same server (archivist.terraform.io on the real one).
Run alone with ``python -m tests.fakes.terraform_cloud --port 0``.

Behaviour: organization ``acme`` with workspaces ``dev``, ``test``, ``prod`` (auto-apply on). A
configuration version is ``pending`` until its archive is PUT to its upload URL, then ``uploaded``.
A run advances one step per read (``GET /runs/{id}`` or a workspace's run list):
``pending`` → ``planning`` → ``planned`` → ``applying`` → ``applied`` (with auto-apply), or stays
``planned`` with ``is-confirmable`` until ``actions/apply`` (without auto-apply, or after
``hold_next_run``). ``fail_next_run`` makes the next run ``errored`` at the plan;
``policy_override_next_run`` stops it at ``policy_override``; ``stall_next_run`` keeps it
``planning``. ``actions/discard`` and ``actions/cancel`` end it ``discarded`` / ``canceled``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
from typing import Any

from .contract import CONTRACTS_DIR, Contract
from .core import ApiError, FakeService, Request, Response, operation
from .server import run_cli

JSONAPI = "application/vnd.api+json"
FINAL = {"applied", "planned_and_finished", "errored", "discarded", "canceled", "force_canceled"}


@functools.cache
def contract() -> Contract:
    """The paths document with every ``*.schema.json`` beside it loaded into ``components.schemas``."""
    folder = CONTRACTS_DIR / "terraform-cloud"
    doc = json.loads((folder / "paths.openapi.json").read_text(encoding="utf-8"))
    for path in sorted(folder.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        schema.pop("$schema", None)
        doc["components"]["schemas"][path.name.removesuffix(".schema.json")] = schema
    return Contract("terraform-cloud/paths.openapi.json", doc=doc)


class TerraformCloudFake(FakeService):
    """Stateful HCP Terraform fake. ``url`` (the address), ``token``, ``organization``, ``workspaces`` (by name)."""

    name = "terraform-cloud"
    DRIVERS = ("fail_next_run", "hold_next_run", "policy_override_next_run", "stall_next_run", "seed_workspace")

    def __init__(self, token: str = "tfc-test-token", organization: str = "acme") -> None:
        super().__init__()
        self.token = token
        self.organization = organization
        self._ids = itertools.count(1)
        self.workspaces: dict[str, dict[str, Any]] = {}  # by id
        self.cvs: dict[str, dict[str, Any]] = {}  # by id: attributes + workspace id + archive bytes
        self.runs: dict[str, dict[str, Any]] = {}  # by id
        self._next: list[str] = []  # run behaviours for the next runs created
        for name in ("dev", "test", "prod"):
            self.seed_workspace(name)

    # -- drivers -------------------------------------------------------------------------------
    def seed_workspace(self, name: str, auto_apply: bool = True) -> str:
        ws_id = f"ws-{next(self._ids):016d}"
        self.workspaces[ws_id] = {"id": ws_id, "name": name, "auto-apply": auto_apply, "current-run": None}
        return ws_id

    def fail_next_run(self) -> None:
        self._next.append("errored")

    def hold_next_run(self) -> None:
        self._next.append("hold")

    def stall_next_run(self) -> None:
        """The next run stays ``planning`` until cancelled."""
        self._next.append("stall")

    def policy_override_next_run(self) -> None:
        self._next.append("policy_override")

    def workspace_named(self, name: str) -> dict[str, Any]:
        return next(w for w in self.workspaces.values() if w["name"] == name)

    # -- framework hooks -------------------------------------------------------------------------
    def contracts_for(self, host: str) -> list[Contract]:
        return [contract()]

    def error_body(self, status: int, message: str, **extra: Any) -> Any:
        return {"errors": [{"status": str(status), "title": extra.get("title") or "error", "detail": message}]}

    def authenticate(self, req: Request) -> Response | None:
        if req.path.startswith("/_archivist/"):
            return None  # the upload URL is signed and takes no token, as on the real service
        if (req.headers.get("Authorization") or "") == f"Bearer {self.token}":
            return None
        return Response(401, {"errors": [{"status": "401", "title": "unauthorized"}]})

    def check_semantics(self, req: Request) -> None:
        if req.method in ("POST", "PATCH") and req.path.startswith("/api/v2/") and req.json is not None:
            ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype != JSONAPI:
                from .contract import ContractViolation

                raise ContractViolation(415, f"JSON:API bodies need Content-Type: {JSONAPI}, not {ctype!r}")

    # -- views -----------------------------------------------------------------------------------
    def _ws_view(self, ws: dict[str, Any]) -> dict[str, Any]:
        current = {"type": "runs", "id": ws["current-run"]} if ws["current-run"] else None
        return {"id": ws["id"], "type": "workspaces",
                "attributes": {"name": ws["name"], "auto-apply": ws["auto-apply"], "locked": False},
                "relationships": {"current-run": {"data": current},
                                  "organization": {"data": {"type": "organizations", "id": self.organization}}}}

    def _cv_view(self, cv: dict[str, Any]) -> dict[str, Any]:
        attrs = {k: cv[k] for k in ("status", "auto-queue-runs", "speculative", "provisional", "source")}
        pending = cv["status"] == "pending"
        attrs["upload-url"] = f"{self.origin}/_archivist/v1/object/{cv['object']}" if pending else None
        return {"id": cv["id"], "type": "configuration-versions", "attributes": attrs,
                "links": {"self": f"/api/v2/configuration-versions/{cv['id']}",
                          "download": f"/api/v2/configuration-versions/{cv['id']}/download"}}

    def _run_view(self, run: dict[str, Any]) -> dict[str, Any]:
        status = run["status"]
        confirmable = status == "planned" and not run["auto-apply"]
        attrs = {"status": status, "message": run["message"], "auto-apply": run["auto-apply"],
                 "is-destroy": False, "has-changes": True, "created-at": run["created-at"],
                 "variables": run["variables"], "status-timestamps": {},
                 "actions": {"is-confirmable": confirmable,
                             "is-discardable": confirmable or status == "policy_override",
                             "is-cancelable": status in ("pending", "planning", "applying"),
                             "is-force-cancelable": False}}
        rels = {"workspace": {"data": {"type": "workspaces", "id": run["workspace"]}},
                "configuration-version": {"data": {"type": "configuration-versions", "id": run["cv"]}},
                "plan": {"data": {"type": "plans", "id": run["plan"]}},
                "apply": {"data": {"type": "applies", "id": run["apply"]}}}
        return {"id": run["id"], "type": "runs", "attributes": attrs, "relationships": rels}

    def _plan_view(self, run: dict[str, Any]) -> dict[str, Any]:
        done = run["status"] not in ("pending", "planning")
        return {"id": run["plan"], "type": "plans",
                "attributes": {"status": "finished" if done else "running", "has-changes": True,
                               "resource-additions": 1 if done else None, "resource-changes": 0 if done else None,
                               "resource-destructions": 0 if done else None}}

    def _advance(self, run: dict[str, Any]) -> None:
        nxt = {"pending": "planning", "planning": run["stop"], "applying": "applied"}.get(run["status"])
        if run["status"] == "planned" and run["auto-apply"]:
            nxt = "applying"
        if nxt:
            run["status"] = nxt
        if run["status"] == "applied":
            self.workspaces[run["workspace"]]["current-run"] = run["id"]

    def _ws(self, ws_id: str) -> dict[str, Any]:
        if ws_id not in self.workspaces:
            raise ApiError(404, "not found", title="not found")
        return self.workspaces[ws_id]

    def _run(self, run_id: str) -> dict[str, Any]:
        if run_id not in self.runs:
            raise ApiError(404, "not found", title="not found")
        return self.runs[run_id]

    # -- workspaces --------------------------------------------------------------------------------
    @operation("show-workspace")
    def show_workspace(self, req: Request) -> Response:
        if req.params["organization_name"] != self.organization:
            raise ApiError(404, "not found", title="not found")
        ws = next((w for w in self.workspaces.values() if w["name"] == req.params["name"]), None)
        if ws is None:
            raise ApiError(404, "not found", title="not found")
        return Response(200, {"data": self._ws_view(ws)}, {"Content-Type": JSONAPI})

    @operation("show-workspace-by-id")
    def show_workspace_by_id(self, req: Request) -> Response:
        return Response(200, {"data": self._ws_view(self._ws(req.params["workspace_id"]))}, {"Content-Type": JSONAPI})

    # -- configuration versions -------------------------------------------------------------------
    @operation("create-configuration-version")
    def create_cv(self, req: Request) -> Response:
        ws = self._ws(req.params["workspace_id"])
        attrs = (req.json["data"].get("attributes") or {})
        n = next(self._ids)
        cv = {"id": f"cv-{n:016d}", "object": f"obj{n:08d}", "workspace": ws["id"], "status": "pending",
              "auto-queue-runs": attrs.get("auto-queue-runs", True), "speculative": attrs.get("speculative", False),
              "provisional": attrs.get("provisional", False), "source": "tfe-api", "archive": None}
        self.cvs[cv["id"]] = cv
        return Response(201, {"data": self._cv_view(cv)}, {"Content-Type": JSONAPI})

    @operation("list-configuration-versions")
    def list_cvs(self, req: Request) -> Response:
        ws = self._ws(req.params["workspace_id"])
        items = [c for c in self.cvs.values() if c["workspace"] == ws["id"]][::-1]  # newest first
        size, number = int(req.query.get("page[size]", 20)), int(req.query.get("page[number]", 1))
        page = items[(number - 1) * size: number * size]
        meta = {"pagination": {"current-page": number, "total-count": len(items),
                               "total-pages": max(1, -(-len(items) // size))}}
        return Response(200, {"data": [self._cv_view(c) for c in page], "meta": meta}, {"Content-Type": JSONAPI})

    @operation("show-configuration-version")
    def show_cv(self, req: Request) -> Response:
        cv = self.cvs.get(req.params["configuration_version_id"])
        if cv is None:
            raise ApiError(404, "not found", title="not found")
        return Response(200, {"data": self._cv_view(cv)}, {"Content-Type": JSONAPI})

    @operation("download-configuration-version")
    def download_cv(self, req: Request) -> Response:
        cv = self.cvs.get(req.params["configuration_version_id"])
        if cv is None or cv["archive"] is None:
            raise ApiError(404, "not found", title="not found")
        return Response(200, cv["archive"], {"Content-Type": "application/octet-stream"})

    @operation("upload-configuration-files")
    def upload(self, req: Request) -> Response:
        data = bytearray()
        for chunk in req.body:
            data += chunk
        with self.lock:
            cv = next((c for c in self.cvs.values() if c["object"] == req.params["object_id"]), None)
            if cv is None or cv["status"] not in ("pending", "uploaded"):
                raise ApiError(404, "no such upload URL")
            cv["archive"], cv["status"] = bytes(data), "uploaded"
            cv["sha256"] = hashlib.sha256(data).hexdigest()
        return Response(200)

    # -- runs ----------------------------------------------------------------------------------------
    @operation("create-run")
    def create_run(self, req: Request) -> Response:
        data = req.json["data"]
        attrs = data.get("attributes") or {}
        ws = self._ws(data["relationships"]["workspace"]["data"]["id"])
        cv_ref = ((data["relationships"].get("configuration-version") or {}).get("data") or {}).get("id")
        if cv_ref is None:
            cv_ref = next((c["id"] for c in reversed(self.cvs.values())
                           if c["workspace"] == ws["id"] and c["status"] == "uploaded"), None)
        cv = self.cvs.get(cv_ref or "")
        if cv is None or cv["status"] != "uploaded":
            raise ApiError(422, "the configuration version is missing or not uploaded", title="invalid attribute")
        behaviour = self._next.pop(0) if self._next else ""
        auto = attrs.get("auto-apply", ws["auto-apply"]) and behaviour != "hold"
        n = next(self._ids)
        run = {"id": f"run-{n:016d}", "workspace": ws["id"], "cv": cv["id"], "status": "pending",
               "message": attrs.get("message") or "Triggered via API", "auto-apply": bool(auto),
               "variables": list(attrs.get("variables") or []), "created-at": f"2024-01-01T00:00:{n % 60:02d}Z",
               "plan": f"plan-{n:016d}", "apply": f"apply-{n:016d}",
               "stop": {"errored": "errored", "policy_override": "policy_override", "stall": "planning"}.get(
                   behaviour, "planned")}
        self.runs[run["id"]] = run
        return Response(201, {"data": self._run_view(run)}, {"Content-Type": JSONAPI})

    @operation("get-run")
    def get_run(self, req: Request) -> Response:
        run = self._run(req.params["run_id"])
        self._advance(run)
        body: dict[str, Any] = {"data": self._run_view(run)}
        if "plan" in (req.query.get("include") or "").split(","):
            body["included"] = [self._plan_view(run)]
        return Response(200, body, {"Content-Type": JSONAPI})

    @operation("list-runs")
    def list_runs(self, req: Request) -> Response:
        ws = self._ws(req.params["workspace_id"])
        items = [r for r in self.runs.values() if r["workspace"] == ws["id"]][::-1]
        if req.query.get("filter[status]"):
            wanted = set(req.query["filter[status]"].split(","))
            items = [r for r in items if r["status"] in wanted]
        size, number = int(req.query.get("page[size]", 20)), int(req.query.get("page[number]", 1))
        page = items[(number - 1) * size: number * size]
        meta = {"pagination": {"current-page": number, "total-count": len(items),
                               "total-pages": max(1, -(-len(items) // size))}}
        return Response(200, {"data": [self._run_view(r) for r in page], "meta": meta}, {"Content-Type": JSONAPI})

    def _action(self, req: Request, allowed: set[str], to: str) -> Response:
        run = self._run(req.params["run_id"])
        if run["status"] not in allowed:
            raise ApiError(409, f"transition not allowed from {run['status']}", title="transition not allowed")
        run["status"] = to
        if to == "applying":
            run["auto-apply"] = True
        return Response(202)

    @operation("apply-run")
    def apply_run(self, req: Request) -> Response:
        return self._action(req, {"planned", "policy_checked", "cost_estimated", "post_plan_completed"}, "applying")

    @operation("discard-run")
    def discard_run(self, req: Request) -> Response:
        return self._action(req, {"planned", "policy_override", "policy_checked", "cost_estimated"}, "discarded")

    @operation("cancel-run")
    def cancel_run(self, req: Request) -> Response:
        return self._action(req, {"pending", "planning", "applying"}, "canceled")


def main(argv: list[str] | None = None) -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", default="tfc-test-token", help="the API token clients must send")
        p.add_argument("--organization", default="acme")

    run_cli(lambda a: TerraformCloudFake(token=a.token, organization=a.organization), argv, extra)


if __name__ == "__main__":
    main()
