"""Fake AWX / Ansible Automation Platform controller checked against tests/contracts/awx.swagger.json.

``CONTROLLER_HOST`` is ``http://127.0.0.1:PORT`` (the API lives under ``/api/v2``); the token goes in
``Authorization: Bearer <token>`` (``CONTROLLER_OAUTH_TOKEN``). Run alone with
``python -m tests.fakes.awx --port 0``. Seeded: job template 1 ``deploy-app`` (asks for variables on
launch), job template 2 ``deploy-fixed`` (does not: AWX would ignore ``extra_vars``), workflow job
template 3 ``release-with-approval`` (an approval node, then job template 1). Job state machine in
awx_state.py.

Like AWX, a launch answers 201 with the new job's full record plus ``job`` and ``ignored_fields``;
``extra_vars`` sent to a template that does not ask for them on launch (and has no survey) are
dropped and listed under ``ignored_fields``; so are ``inventory`` and ``limit`` unless asked for.
``OPTIONS`` (the DRF metadata the ``awx`` CLI builds its commands from) is an allow-listed
discovery call (tests/contracts/README.md).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .awx_state import AwxState, Job, Template
from .contract import Contract, load
from .core import ApiError, FakeService, Request, Response, operation
from .server import run_cli

_LIST_FILTERS = ("id", "name", "status", "job_template", "workflow_job_template", "unified_job_template")


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    for key in _LIST_FILTERS:
        if key in query:
            items = [i for i in items if str(i.get(key)) == query[key]]
    if "id__in" in query:
        wanted = set(query["id__in"].split(","))
        items = [i for i in items if str(i["id"]) in wanted]
    if "status__in" in query:
        wanted = set(query["status__in"].split(","))
        items = [i for i in items if i["status"] in wanted]
    order = query.get("order_by", "id")
    key = order.lstrip("-")
    items = sorted(items, key=lambda i: (i.get(key) is None, str(i.get(key)) if key != "id" else i["id"]),
                   reverse=order.startswith("-"))
    size = int(query.get("page_size") or 25)
    page = int(query.get("page") or 1)
    chunk = items[(page - 1) * size: page * size]
    more = page * size < len(items)
    return {"count": len(items), "next": f"?page={page + 1}" if more else None,
            "previous": f"?page={page - 1}" if page > 1 else None, "results": chunk}


class AwxFake(FakeService):
    """Stateful AWX fake. ``url`` = the controller URL, ``token`` the accepted OAuth2 token."""

    name = "awx"
    DRIVERS = ("seed_job_template", "seed_workflow", "fail_next_job", "hold_next_job", "release_job", "approve",
               "lag_events_next_job")

    def __init__(self, *, token: str = "awx-test-token") -> None:
        FakeService.__init__(self)
        self.contract: Contract = load("awx.swagger.json")
        self.token = token
        self.state = AwxState()
        self.state.lock = self.lock
        jt = self.state.seed_job_template("deploy-app")
        self.state.seed_job_template("deploy-fixed", ask_variables_on_launch=False)
        self.state.seed_workflow("release-with-approval", jt)

    # -- drivers (delegated to the state) ------------------------------------------------------
    def seed_job_template(self, name: str, **options: Any) -> int:
        with self.lock:
            return self.state.seed_job_template(name, **options)

    def seed_workflow(self, name: str, job_template: int, approval: bool = True, **options: Any) -> int:
        with self.lock:
            return self.state.seed_workflow(name, job_template, approval, **options)

    def fail_next_job(self, message: str = "a task failed") -> None:
        with self.lock:
            self.state.fail_next_job(message)

    def hold_next_job(self) -> None:
        with self.lock:
            self.state.hold_next_job()

    def lag_events_next_job(self, reads: int = 2) -> None:
        with self.lock:
            self.state.lag_events_next_job(reads)

    def release_job(self, job_id: int) -> None:
        with self.lock:
            self.state.release_job(job_id)

    def approve(self, approval_id: int, approve: bool = True) -> None:
        with self.lock:
            self.state.approve(approval_id, approve)

    def jobs_of(self, kind: str = "job") -> list[Job]:
        """Every unified job of ``kind`` (``job``, ``workflow_job``, ``workflow_approval``), oldest first."""
        with self.lock:
            return [j for j in self.state.jobs.values() if j.kind == kind]

    def job(self, job_id: int) -> Job:
        return self.state.jobs[job_id]

    # -- service hooks -----------------------------------------------------------------------
    def contracts_for(self, host: str) -> list[Contract]:
        return [self.contract]

    def error_body(self, status: int, message: str, **extra: Any) -> Any:
        return {"detail": message, **extra}

    def authenticate(self, req: Request) -> Response | None:
        if req.path in ("/api/", "/api/v2/", "/api/v2/ping/"):
            return None  # AWX answers these anonymously
        header = req.headers.get("Authorization") or ""
        if header == f"Bearer {self.token}":
            return None
        if not header:
            return Response(401, {"detail": "Authentication credentials were not provided."},
                            {"WWW-Authenticate": 'Bearer realm="api"'})
        return Response(401, {"detail": "Authentication credentials were not provided. To establish a login "
                                        "session, visit /api/login/."}, {"WWW-Authenticate": 'Bearer realm="api"'})

    def discovery(self, req: Request) -> Response | None:
        if req.method != "OPTIONS" or not req.path.startswith("/api/v2/"):
            return None
        auth = self.authenticate(req)
        if auth is not None:
            return auth
        parts = [p for p in req.path.split("/") if p]
        if parts[-1] == "launch":
            fields = {"extra_vars": {"type": "json", "label": "Extra vars"},
                      "inventory": {"type": "id", "label": "Inventory"},
                      "limit": {"type": "string", "label": "Limit"}}
            return Response(200, {"name": "Launch", "actions": {"POST": fields}}, {"Allow": "GET, POST, OPTIONS"})
        fields = {"id": {"type": "integer", "filterable": True}, "name": {"type": "string", "filterable": True},
                  "status": {"type": "choice", "filterable": True}}
        return Response(200, {"name": parts[-1], "actions": {"GET": fields}}, {"Allow": "GET, HEAD, OPTIONS"})

    # -- root, ping, me, config --------------------------------------------------------------
    @operation("Versioning_list")
    def api_root(self, req: Request) -> Response:
        return Response(200, {"description": "AWX REST API", "current_version": "/api/v2/",
                              "available_versions": {"v2": "/api/v2/"}, "oauth2": "/api/o/"})

    @operation("Versioning_read")
    def api_v2(self, req: Request) -> Response:
        names = ("ping", "config", "me", "job_templates", "jobs", "workflow_job_templates", "workflow_jobs",
                 "workflow_approvals", "unified_jobs")
        return Response(200, {n: f"/api/v2/{n}/" for n in names})

    @operation("System Configuration_ping_list")
    def ping(self, req: Request) -> Response:
        return Response(200, {"ha": False, "version": "19.4.0", "active_node": "awx-fake", "install_uuid": "0",
                              "instances": [], "instance_groups": []})

    @operation("Users_me_list")
    def me(self, req: Request) -> Response:
        return Response(200, _page([{"id": 1, "type": "user", "username": "deployer", "url": "/api/v2/users/1/"}],
                                   {}))

    @operation("System Configuration_config_list")
    def config(self, req: Request) -> Response:
        return Response(200, {"version": "19.4.0", "time_zone": "UTC", "license_info": {}})

    # -- templates ---------------------------------------------------------------------------
    def _template(self, kind: str, raw_id: str) -> Template:
        t = self.state.templates.get((kind, int(raw_id))) if raw_id.isdigit() else None
        if t is None:
            raise ApiError(404, "Not found.")
        return t

    def _templates(self, kind: str, req: Request) -> Response:
        items = [t.to_json() for (k, _), t in self.state.templates.items() if k == kind]
        return Response(200, _page(items, req.query))

    @operation("Job Templates_job_templates_list")
    def job_templates(self, req: Request) -> Response:
        return self._templates("job_template", req)

    @operation("Workflow Job Templates_workflow_job_templates_list")
    def workflow_job_templates(self, req: Request) -> Response:
        return self._templates("workflow_job_template", req)

    @operation("Job Templates_job_templates_read")
    def job_template(self, req: Request) -> Response:
        return Response(200, self._template("job_template", req.params["id"]).to_json())

    @operation("Workflow Job Templates_workflow_job_templates_read")
    def workflow_job_template(self, req: Request) -> Response:
        return Response(200, self._template("workflow_job_template", req.params["id"]).to_json())

    @operation("Job Templates_job_templates_launch_read")
    def job_template_launch_info(self, req: Request) -> Response:
        return Response(200, self._template("job_template", req.params["id"]).launch_info())

    @operation("Workflow Job Templates_workflow_job_templates_launch_read")
    def workflow_launch_info(self, req: Request) -> Response:
        return Response(200, self._template("workflow_job_template", req.params["id"]).launch_info())

    @operation("Job Templates_job_templates_survey_spec_list",
               "Workflow Job Templates_workflow_job_templates_survey_spec_list")
    def survey_spec(self, req: Request) -> Response:
        return Response(200, {"name": "", "description": "", "spec": []})

    def _launch(self, kind: str, req: Request) -> Response:
        t = self._template(kind, req.params["id"])
        body = dict(req.json or {})
        extra = body.get("extra_vars") or {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra) if extra.strip() else {}
            except ValueError:
                raise ApiError(400, "extra_vars: Cannot parse as JSON (error: invalid) or YAML.") from None
        ignored: dict[str, Any] = {}
        if extra and not (t.ask_variables_on_launch or t.survey_enabled):
            ignored["extra_vars"], extra = extra, {}
        limit, inventory = str(body.get("limit") or ""), body.get("inventory")
        if "limit" in body and not t.ask_limit_on_launch:
            ignored["limit"], limit = body["limit"], ""
        if "inventory" in body and not t.ask_inventory_on_launch:
            ignored["inventory"], inventory = body["inventory"], None
        job = self.state.launch(t, extra, limit, inventory)
        key = "job" if kind == "job_template" else "workflow_job"
        return Response(201, {key: job.id, "ignored_fields": ignored, **job.to_json()})

    @operation("Job Templates_job_templates_launch_create")
    def launch_job(self, req: Request) -> Response:
        return self._launch("job_template", req)

    @operation("Workflow Job Templates_workflow_job_templates_launch_create")
    def launch_workflow(self, req: Request) -> Response:
        return self._launch("workflow_job_template", req)

    @operation("Job Templates_job_templates_jobs_list")
    def template_jobs(self, req: Request) -> Response:
        t = self._template("job_template", req.params["id"])
        jobs = [j.to_json() for j in self.state.jobs.values() if j.kind == "job" and j.template is t]
        return Response(200, _page(jobs, req.query))

    @operation("Workflow Job Templates_workflow_job_templates_workflow_jobs_list")
    def template_workflow_jobs(self, req: Request) -> Response:
        t = self._template("workflow_job_template", req.params["id"])
        jobs = [j.to_json() for j in self.state.jobs.values() if j.kind == "workflow_job" and j.template is t]
        return Response(200, _page(jobs, req.query))

    # -- jobs --------------------------------------------------------------------------------
    def _job(self, kind: str, raw_id: str) -> Job:
        job = self.state.jobs.get(int(raw_id)) if raw_id.isdigit() else None
        if job is None or job.kind != kind:
            raise ApiError(404, "Not found.")
        return job

    @operation("Jobs_jobs_read_0")
    def read_job(self, req: Request) -> Response:
        job = self._job("job", req.params["id"])
        self.state.advance(job)
        return Response(200, job.detail())

    @operation("Workflow Jobs_workflow_jobs_read")
    def read_workflow_job(self, req: Request) -> Response:
        job = self._job("workflow_job", req.params["id"])
        self.state.advance(job)
        return Response(200, job.to_json())

    @operation("Unified Jobs_unified_jobs_list")
    def unified_jobs(self, req: Request) -> Response:
        jobs = list(self.state.jobs.values())
        if "unified_job_node__workflow_job" in req.query:
            parent = int(req.query["unified_job_node__workflow_job"])
            jobs = [j for j in jobs if j.workflow == parent]
        ors = {k[len("or__"):]: v for k, v in req.query.items() if k.startswith("or__")}
        if ors:  # AWX's ``or__`` prefix: a row matching any of these filters
            jobs = [j for j in jobs if str(j.id) in ors.get("id__in", ors.get("id", "")).split(",")
                    or str(j.workflow) == ors.get("unified_job_node__workflow_job")]
        wanted = {*(req.query.get("id__in") or req.query.get("id") or "").split(","),
                  *(ors.get("id__in") or ors.get("id") or "").split(",")} - {""}
        for job in [j for j in jobs if str(j.id) in wanted]:  # a status poll: the jobs asked for advance
            if job.kind != "workflow_approval":
                self.state.advance(job)
        if ors:  # advancing a workflow may have started a node: list them again
            parents = ors.get("unified_job_node__workflow_job")
            jobs = [j for j in self.state.jobs.values()
                    if str(j.id) in wanted or (parents is not None and str(j.workflow) == parents)]
        rows = [j.to_json() for j in sorted(jobs, key=lambda j: j.id)]
        return Response(200, _page(rows, {k: v for k, v in req.query.items() if not k.startswith("or__")}))

    @operation("Jobs_jobs_stdout_read")
    def stdout(self, req: Request) -> Response:
        job = self._job("job", req.params["id"])
        start = int(req.query.get("start_line") or 0)
        lines = job.lines[start:]
        fmt = req.query.get("format", "txt")
        if fmt == "json":
            return Response(200, {"range": {"start": start, "end": start + len(lines), "absolute_end": len(job.lines)},
                                  "content": "\n".join(lines) + ("\n" if lines else "")})
        text = "\n".join(lines) + ("\n" if lines else "")
        return Response(200, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})

    @operation("Jobs_jobs_job_events_list")
    def job_events(self, req: Request) -> Response:
        job = self._job("job", req.params["id"])
        events = [{"id": n + 1, "type": "job_event", "counter": n + 1, "event": "verbose", "stdout": line,
                   "start_line": n, "end_line": n + 1, "job": job.id} for n, line in enumerate(job.lines)]
        if "start_line__gte" in req.query:
            events = [e for e in events if e["start_line"] >= int(req.query["start_line__gte"])]
        if "counter__gt" in req.query:
            events = [e for e in events if e["counter"] > int(req.query["counter__gt"])]
        return Response(200, _page(events, {"page_size": req.query.get("page_size", "200")}))

    def _cancel(self, kind: str, req: Request) -> Response:
        job = self._job(kind, req.params["id"])
        if job.finished:
            raise ApiError(405, "Method \"POST\" not allowed.", error="Job is not running.")
        self.state.cancel(job)
        return Response(202)

    @operation("Jobs_jobs_cancel_create")
    def cancel_job(self, req: Request) -> Response:
        return self._cancel("job", req)

    @operation("Workflow Jobs_workflow_jobs_cancel_create")
    def cancel_workflow(self, req: Request) -> Response:
        return self._cancel("workflow_job", req)

    @operation("Jobs_jobs_cancel_read")
    def can_cancel_job(self, req: Request) -> Response:
        return Response(200, {"can_cancel": not self._job("job", req.params["id"]).finished})

    @operation("Workflow Jobs_workflow_jobs_workflow_nodes_list")
    def workflow_nodes(self, req: Request) -> Response:
        wf = self._job("workflow_job", req.params["id"])
        nodes = []
        for n, child_id in enumerate(wf.node_jobs, start=1):
            child = self.state.jobs[child_id]
            nodes.append({"id": n, "type": "workflow_job_node", "job": child.id, "workflow_job": wf.id,
                          "summary_fields": {"job": {"id": child.id, "name": child.to_json()["name"],
                                                     "status": child.status, "type": child.kind,
                                                     "failed": child.status == "failed"}}})
        return Response(200, _page(nodes, req.query))

    # -- approvals ---------------------------------------------------------------------------
    @operation("Workflow Approvals_workflow_approvals_list")
    def approvals(self, req: Request) -> Response:
        items = [j.to_json() for j in self.state.jobs.values() if j.kind == "workflow_approval"]
        return Response(200, _page(items, req.query))

    @operation("Workflow Approvals_workflow_approvals_read")
    def approval(self, req: Request) -> Response:
        return Response(200, self._job("workflow_approval", req.params["id"]).to_json())

    def _decide(self, req: Request, approve: bool) -> Response:
        job = self._job("workflow_approval", req.params["id"])
        try:
            self.state.approve(job.id, approve)
        except ValueError as exc:
            raise ApiError(400, str(exc), error=str(exc)) from None
        return Response(204)

    @operation("Workflow Approvals_workflow_approvals_approve_create")
    def approve_op(self, req: Request) -> Response:
        return self._decide(req, True)

    @operation("Workflow Approvals_workflow_approvals_deny_create")
    def deny_op(self, req: Request) -> Response:
        return self._decide(req, False)


def main(argv: list[str] | None = None) -> None:
    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", default="awx-test-token", help="the OAuth2 token clients must send")

    run_cli(lambda a: AwxFake(token=a.token), argv, extra)


if __name__ == "__main__":
    main()
