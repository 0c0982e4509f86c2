"""Fake Puppet Enterprise primary server (Code Manager, orchestrator, node classifier) checked against
tests/contracts/puppet/.

One port serves the three services (the real ones listen on 8170, 8143 and 4433): point the
``puppet-enterprise.ports`` setting at ``.port`` for all three. The RBAC token goes in
``X-Authentication: <.token>``. Run alone with ``python -m tests.fakes.puppet --port 0 [--tls DIR]``;
``--tls DIR`` (or ``PuppetFake(tls_dir=…)``) serves HTTPS with a self-signed CA written to
``DIR/ca.pem`` by the ``openssl`` command line (``.ca_file``), as a PE CA would sign the server.

Behaviour: Code Manager knows the code environments in ``.code_environments`` (``production``,
``dev``, ``test``, ``prod``); deploying another one answers ``failed`` with Code Manager's error.
Nodes ``web1.example.com`` and ``web2.example.com``; node groups ``All Nodes``
(``00000000-0000-4000-8000-000000000000``) and ``app servers`` (``.app_group``). An orchestrator
job advances one step per ``GET /jobs/{id}``: ``new`` → ``running`` → ``finished`` (or ``failed``
after ``fail_next_job(node, message)``); ``hold_next_job()`` keeps it ``running`` until
``command/stop`` (→ ``stopped``). Plan jobs do the same with ``pending`` → ``running`` →
``success``/``failure``; ``stop_plan`` ends them ``failure``.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from .contract import CONTRACTS_DIR, Contract, ContractViolation
from .core import ApiError, FakeService, Request, Response, operation
from .server import run_cli

ALL_NODES = "00000000-0000-4000-8000-000000000000"
APP_GROUP = "5f6a8c7e-0b1d-4a9c-9e2f-3a4b5c6d7e8f"
FINAL = {"finished", "failed", "stopped"}
PLAN_FINAL = {"success", "failure"}


@functools.cache
def contract() -> Contract:
    """The paths document with every ``*.schema.json`` beside it loaded into ``components.schemas``."""
    folder = CONTRACTS_DIR / "puppet"
    doc = json.loads((folder / "paths.openapi.json").read_text(encoding="utf-8"))
    for path in sorted(folder.glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        schema.pop("$schema", None)
        doc["components"]["schemas"][path.name.removesuffix(".schema.json")] = schema
    return Contract("puppet/paths.openapi.json", doc=doc)


def make_ca(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (``ca.pem``, ``key.pem``), made by ``openssl``."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "ca.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class PuppetFake(FakeService):
    """Stateful PE fake. ``url`` (the primary server), ``port``, ``token``, ``ca_file`` (with TLS)."""

    name = "puppet"
    DRIVERS = ("fail_next_job", "hold_next_job", "fail_next_code_deploy", "seed_node_group")

    def __init__(self, token: str = "pe-test-token", tls_dir: Path | None = None) -> None:
        super().__init__()
        self.token = token
        self.tls_dir = tls_dir
        self.ca_file: Path | None = None
        self.app_group = APP_GROUP
        self.code_environments = {"production", "dev", "test", "prod"}
        self.code_deploys: list[dict[str, Any]] = []
        self.nodes = ["web1.example.com", "web2.example.com"]
        self.groups = {ALL_NODES: "All Nodes", APP_GROUP: "app servers"}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.plan_jobs: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(101)
        self._next: list[dict[str, Any]] = []
        self._code_failures: list[str] = []

    # -- drivers -------------------------------------------------------------------------------
    def fail_next_job(self, node: str = "web2.example.com", message: str = "Could not evaluate: boom") -> None:
        """The next job (or plan job) fails on ``node``, whose report says ``message``."""
        self._next.append({"fail": node, "message": message})

    def hold_next_job(self) -> None:
        """The next job (or plan job) keeps running until stopped."""
        self._next.append({"hold": True})

    def fail_next_code_deploy(self, message: str = "Unable to determine current branches for Git source") -> None:
        self._code_failures.append(message)

    def seed_node_group(self, name: str, group_id: str) -> str:
        self.groups[group_id] = name
        return group_id

    # -- framework hooks -------------------------------------------------------------------------
    def contracts_for(self, host: str) -> list[Contract]:
        return [contract()]

    def error_body(self, status: int, message: str, **extra: Any) -> Any:
        kind = extra.get("kind") or {400: "puppetlabs.orchestrator/validation-error",
                                     404: "puppetlabs.orchestrator/not-found"}.get(status, "puppetlabs/error")
        return {"kind": kind, "msg": message, "details": None}

    def authenticate(self, req: Request) -> Response | None:
        if req.headers.get("X-Authentication") == self.token:
            return None
        return Response(401, {"kind": "puppetlabs.rbac/user-unauthenticated",
                              "msg": "Route requires authentication", "details": None})

    def check_semantics(self, req: Request) -> None:
        if req.method == "POST":
            ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype != "application/json":
                raise ContractViolation(415, f"the PE APIs take Content-Type: application/json, not {ctype!r}")

    def on_start(self) -> None:
        if self.tls_dir is not None:
            import ssl

            cert, key = make_ca(Path(self.tls_dir))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.origin = f"https://127.0.0.1:{self.port}"
            self.ca_file = cert
        self.url = self.origin

    # -- views -----------------------------------------------------------------------------------
    def _job_view(self, job: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.origin}/orchestrator/v1/jobs/{job['id']}"
        states: dict[str, int] = {}
        for node in job["nodes"]:
            states[node["state"]] = states.get(node["state"], 0) + 1
        return {"id": url, "name": str(job["id"]), "state": job["state"], "command": "deploy", "type": "deploy",
                "options": {"description": job["description"], "environment": job["environment"],
                            "noop": job["noop"], "scope": job["scope"]},
                "description": job["description"], "owner": {"id": "42", "login": "trainmaster"},
                "timestamp": job["timestamp"], "started_timestamp": job["created"],
                "finished_timestamp": job["timestamp"] if job["state"] in FINAL else None,
                "environment": {"name": job["environment"]}, "node_count": len(job["nodes"]),
                "node_states": states or None, "nodes": {"id": url + "/nodes"}, "report": {"id": url + "/report"},
                "events": {"id": url + "/events"}, "userdata": job.get("userdata") or {}}

    def _plan_view(self, job: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"{self.origin}/orchestrator/v1/plan_jobs/{job['id']}", "name": str(job["id"]),
                "state": job["state"], "options": {"description": job["description"], "plan_name": job["plan"],
                                                   "parameters": job["params"], "environment": job["environment"]},
                "result": job.get("result"), "owner": {"id": "42", "login": "trainmaster"},
                "timestamp": job["timestamp"], "created_timestamp": job["created"],
                "finished_timestamp": job["timestamp"] if job["state"] in PLAN_FINAL else None,
                "events": {"id": f"{self.origin}/orchestrator/v1/plan_jobs/{job['id']}/events"}}

    # -- Code Manager ------------------------------------------------------------------------------
    @operation("code-manager-deploys")
    def code_deploy(self, req: Request) -> Response:
        body = req.json
        names = sorted(self.code_environments) if body.get("deploy-all") else list(body["environments"])
        out = []
        for name in names:
            entry: dict[str, Any] = {"environment": name, "id": len(self.code_deploys) + 1}
            self.code_deploys.append({"environment": name, "wait": bool(body.get("wait"))})
            if not body.get("wait"):
                entry["status"] = "queued"
            elif name not in self.code_environments or self._code_failures:
                msg = self._code_failures.pop(0) if self._code_failures else f"Environment '{name}' not found"
                entry.update(status="failed", error={"kind": "puppetlabs.code-manager/deploy-failure",
                                                     "msg": msg, "details": {"corrected-name": name}})
            else:
                sig = f"{abs(hash(name)) % (1 << 40):010x}"
                entry.update({"status": "complete", "deploy-signature": sig,
                              "file-sync": {"environment-commit": sig, "code-commit": sig}})
            out.append(entry)
        return Response(200, out)

    # -- orchestrator: jobs ------------------------------------------------------------------------
    def _scope_nodes(self, scope: dict[str, Any]) -> list[str]:
        if "nodes" in scope:
            return list(scope["nodes"])
        if "node_group" in scope and scope["node_group"] not in self.groups:
            raise ApiError(400, f"Node group {scope['node_group']} does not exist",
                           kind="puppetlabs.orchestrator/unknown-node-group")
        return list(self.nodes)

    @operation("command-deploy")
    def command_deploy(self, req: Request) -> Response:
        body = req.json
        if body["environment"] not in self.code_environments:
            raise ApiError(400, f"Unknown environment {body['environment']}",
                           kind="puppetlabs.orchestrator/unknown-environment")
        names = self._scope_nodes(body.get("scope") or {})
        job_id = next(self._ids)
        now = _now()
        self.jobs[job_id] = {
            "id": job_id, "state": "new", "environment": body["environment"],
            "description": body.get("description", ""), "noop": bool(body.get("noop")),
            "scope": body.get("scope") or {}, "created": now, "timestamp": now, "userdata": body.get("userdata"),
            "behaviour": self._next.pop(0) if self._next else {},
            "nodes": [{"name": n, "state": "new"} for n in names]}
        return Response(202, {"job": {"id": f"{self.origin}/orchestrator/v1/jobs/{job_id}", "name": str(job_id)}})

    def _advance(self, job: dict[str, Any]) -> None:
        how, job["timestamp"] = job["behaviour"], _now()
        if job["state"] == "new":
            job["state"] = "running"
            for node in job["nodes"]:
                node.update(state="running", start_timestamp=job["timestamp"])
        elif job["state"] == "running" and not how.get("hold"):
            failed = False
            for node in job["nodes"]:
                bad = node["name"] == how.get("fail")
                failed = failed or bad
                msg = how["message"] if bad else ("Finished puppet run (noop)" if job["noop"] else
                                                  "Finished puppet run")
                node.update(state="failed" if bad else "finished", finish_timestamp=job["timestamp"],
                            transaction_uuid=f"tx-{job['id']}-{node['name']}", details={"message": msg},
                            result={"status": "failed" if bad else "unchanged" if job["noop"] else "changed",
                                    **({"message": msg} if bad else {})},
                            report={"id": f"{self.origin}/pdb/query/v4/reports/{job['id']}{node['name']}"})
            job["state"] = "failed" if failed else "finished"

    def _job(self, req: Request) -> dict[str, Any]:
        job = self.jobs.get(int(req.params["job_id"]))
        if job is None:
            raise ApiError(404, f"No job exists with id {req.params['job_id']}",
                           kind="puppetlabs.orchestrator/unknown-job")
        return job

    @operation("get-job")
    def get_job(self, req: Request) -> Response:
        job = self._job(req)
        self._advance(job)
        return Response(200, self._job_view(job))

    @operation("get-job-nodes")
    def get_job_nodes(self, req: Request) -> Response:
        job = self._job(req)
        items = [n for n in job["nodes"] if "state" not in req.query or n["state"] == req.query["state"]]
        offset, limit = int(req.query.get("offset") or 0), int(req.query.get("limit") or 1000)
        view = [{"timestamp": job["timestamp"], "start_timestamp": None, "finish_timestamp": None, "duration": None,
                 "transaction_uuid": None, "result": None, "details": None, "report": None, **n}
                for n in items[offset:offset + limit]]
        return Response(200, {"next-events": {"id": f"{self.origin}/orchestrator/v1/jobs/{job['id']}/events",
                                              "event": "0"}, "items": view})

    @operation("list-jobs")
    def list_jobs(self, req: Request) -> Response:
        jobs = sorted(self.jobs.values(), key=lambda j: j["id"], reverse=req.query.get("order") == "desc")
        offset, limit = int(req.query.get("offset") or 0), int(req.query.get("limit") or 1000)
        return Response(200, {"items": [self._job_view(j) for j in jobs[offset:offset + limit]],
                              "pagination": {"limit": limit, "offset": offset, "total": len(jobs),
                                             "order": req.query.get("order", "asc"),
                                             "order_by": req.query.get("order_by", "timestamp")}})

    @operation("command-stop")
    def command_stop(self, req: Request) -> Response:
        job = self.jobs.get(int(req.json["job"]))
        if job is None:
            raise ApiError(404, f"No job exists with id {req.json['job']}", kind="puppetlabs.orchestrator/unknown-job")
        counts: dict[str, int] = {}
        if job["state"] not in FINAL:
            job["state"], job["timestamp"] = "stopped", _now()
            for node in job["nodes"]:
                if node["state"] in ("new", "ready", "running"):
                    node["state"] = "skipped" if node["state"] == "new" else "stopped"
        for node in job["nodes"]:
            counts[node["state"]] = counts.get(node["state"], 0) + 1
        return Response(202, {"job": {"id": f"{self.origin}/orchestrator/v1/jobs/{job['id']}",
                                      "name": str(job["id"]), "nodes": counts}})

    # -- orchestrator: plans ------------------------------------------------------------------------
    @operation("command-plan-run")
    def command_plan_run(self, req: Request) -> Response:
        body = req.json
        job_id = next(self._ids)
        now = _now()
        self.plan_jobs[job_id] = {
            "id": job_id, "state": "pending", "plan": body["plan_name"], "params": body.get("params") or {},
            "environment": body.get("environment", "production"), "description": body.get("description", ""),
            "created": now, "timestamp": now, "behaviour": self._next.pop(0) if self._next else {}}
        return Response(202, {"name": str(job_id)})

    def _plan_job(self, job_id: str) -> dict[str, Any]:
        job = self.plan_jobs.get(int(job_id))
        if job is None:
            raise ApiError(404, f"No plan job exists with id {job_id}", kind="puppetlabs.orchestrator/unknown-job")
        return job

    @operation("get-plan-job")
    def get_plan_job(self, req: Request) -> Response:
        job = self._plan_job(req.params["job_id"])
        how, job["timestamp"] = job["behaviour"], _now()
        if job["state"] == "pending":
            job["state"] = "running"
        elif job["state"] == "running" and not how.get("hold"):
            if how.get("fail"):
                job["state"] = "failure"
                job["result"] = {"kind": "bolt/run-failure", "msg": f"{how['fail']}: {how['message']}",
                                 "details": {"result_set": [{"target": how["fail"], "status": "failure",
                                                             "value": {"_error": {"msg": how["message"]}}}]}}
            else:
                job["state"], job["result"] = "success", {"deployed": job["params"].get("trainmaster", {})
                                                          .get("version")}
        return Response(200, self._plan_view(job))

    @operation("list-plan-jobs")
    def list_plan_jobs(self, req: Request) -> Response:
        jobs = sorted(self.plan_jobs.values(), key=lambda j: j["id"], reverse=req.query.get("order") == "desc")
        offset, limit = int(req.query.get("offset") or 0), int(req.query.get("limit") or 1000)
        return Response(200, {"items": [self._plan_view(j) for j in jobs[offset:offset + limit]],
                              "pagination": {"limit": limit, "offset": offset, "total": len(jobs)}})

    @operation("command-stop-plan")
    def command_stop_plan(self, req: Request) -> Response:
        job = self._plan_job(req.json["plan_job"])
        if job["state"] not in PLAN_FINAL:
            job["state"], job["timestamp"] = "failure", _now()
            job["result"] = {"kind": "puppetlabs.orchestrator/plan-stopped", "msg": "The plan was stopped"}
        return Response(202, {"name": str(job["id"])})

    # -- classifier ---------------------------------------------------------------------------------
    @operation("get-node-group")
    def get_node_group(self, req: Request) -> Response:
        gid = req.params["group_id"]
        if gid not in self.groups:
            raise ApiError(404, f"The node group with id {gid} does not exist", kind="not-found")
        return Response(200, {"id": gid, "name": self.groups[gid], "environment": "production",
                              "environment_trumps": False, "parent": ALL_NODES, "rule": ["~", "name", ".*"],
                              "classes": {}, "config_data": {}, "variables": {}})

    # -- helpers for tests ----------------------------------------------------------------------------
    def deploy_jobs(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(j) for _, j in sorted(self.jobs.items())]

    def plans(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(j) for _, j in sorted(self.plan_jobs.items())]


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", default="pe-test-token")
    parser.add_argument("--tls", default=None, help="serve HTTPS; write the self-signed CA (ca.pem) into this folder")


def main(argv: list[str] | None = None) -> None:
    run_cli(lambda a: PuppetFake(token=a.token, tls_dir=Path(a.tls) if a.tls else None), argv, _extra)


if __name__ == "__main__":
    main()
