"""State of the AWX fake: templates, jobs, workflow jobs and approvals, and how they advance.

Every unified job (job, workflow job, workflow approval) lives in one table keyed by id, as in AWX.
A job advances one step per read of its status (``GET /jobs/{id}/``, ``GET /workflow_jobs/{id}/``,
``GET /unified_jobs/?id__in=…`` or ``?or__id=…``): ``pending`` → ``running`` → ``successful`` (or
``failed``), appending playbook output lines as it goes (``GET /jobs/{id}/`` also answers
``playbook_counts`` from them). A held job stays ``running`` in one long task (its header printed
once) until released or cancelled. A workflow runs its nodes in order: a job node starts a job of its
template; an approval node creates a ``workflow_approval`` that stays ``pending`` until approved or
denied.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

NOW = "2024-01-01T00:00:00.000000Z"
FINAL = ("successful", "failed", "error", "canceled")


@dataclass
class Template:
    id: int
    name: str
    kind: str  # job_template | workflow_job_template
    ask_variables_on_launch: bool = True
    ask_inventory_on_launch: bool = False
    ask_limit_on_launch: bool = False
    survey_enabled: bool = False
    inventory: int | None = 1
    nodes: list[dict[str, Any]] = field(default_factory=list)  # workflow: {"kind": "job"|"approval", "template": id}

    @property
    def url(self) -> str:
        return f"/api/v2/{self.kind}s/{self.id}/"

    def to_json(self) -> dict[str, Any]:
        base = self.url
        related = {"launch": base + "launch/", "survey_spec": base + "survey_spec/"}
        related["jobs" if self.kind == "job_template" else "workflow_jobs"] = base + (
            "jobs/" if self.kind == "job_template" else "workflow_jobs/")
        return {"id": self.id, "type": self.kind, "url": base, "name": self.name, "description": "",
                "ask_variables_on_launch": self.ask_variables_on_launch,
                "ask_inventory_on_launch": self.ask_inventory_on_launch,
                "ask_limit_on_launch": self.ask_limit_on_launch, "survey_enabled": self.survey_enabled,
                "inventory": self.inventory, "extra_vars": "", "related": related, "summary_fields": {}}

    def launch_info(self) -> dict[str, Any]:
        return {"ask_variables_on_launch": self.ask_variables_on_launch,
                "ask_inventory_on_launch": self.ask_inventory_on_launch,
                "ask_limit_on_launch": self.ask_limit_on_launch, "survey_enabled": self.survey_enabled,
                "can_start_without_user_input": True, "variables_needed_to_start": [],
                "passwords_needed_to_start": [], "credential_needed_to_start": False,
                "inventory_needed_to_start": False,
                "defaults": {"extra_vars": "", "inventory": {"id": self.inventory, "name": "inv"}, "limit": ""},
                f"{self.kind}_data": {"id": self.id, "name": self.name, "description": ""}}


@dataclass
class Job:
    id: int
    kind: str  # job | workflow_job | workflow_approval
    template: Template | None
    extra_vars: dict[str, Any] = field(default_factory=dict)
    limit: str = ""
    inventory: int | None = None
    status: str = "pending"
    fail_message: str = ""
    held: bool = False
    lines: list[str] = field(default_factory=list)
    workflow: int | None = None  # the workflow job this job or approval belongs to
    node_jobs: list[int] = field(default_factory=list)  # workflow: the unified jobs its nodes created
    next_node: int = 0
    explanation: str = ""
    event_lag: int = 0  # reads after it ended before its last events are processed (``lag_events_next_job``)
    unprocessed: list[str] = field(default_factory=list)  # its last output lines, not processed yet

    @property
    def url(self) -> str:
        return f"/api/v2/{self.kind}s/{self.id}/"

    @property
    def finished(self) -> bool:
        return self.status in FINAL

    def detail(self) -> dict[str, Any]:
        """``GET /jobs/{id}/``: the list row plus what AWX's job detail adds from the processed events
        (``playbook_counts``: plays and tasks started so far; ``host_status_counts`` once it ended)."""
        plays = sum(1 for line in self.lines if line.startswith("PLAY ["))
        tasks = sum(1 for line in self.lines if line.startswith("TASK ["))
        hosts = {"failures" if self.status == "failed" else "ok": 1} if self.finished else {}
        return {**self.to_json(), "playbook_counts": {"play_count": plays, "task_count": tasks},
                "host_status_counts": hosts}

    def to_json(self) -> dict[str, Any]:
        t = self.template
        related: dict[str, str] = {"cancel": self.url + "cancel/"}
        if self.kind == "job":
            related.update(stdout=self.url + "stdout/", job_events=self.url + "job_events/",
                           job_template=t.url if t else "", relaunch=self.url + "relaunch/")
        elif self.kind == "workflow_job":
            related.update(workflow_nodes=self.url + "workflow_nodes/",
                           workflow_job_template=t.url if t else "")
        else:
            related = {"approve": self.url + "approve/", "deny": self.url + "deny/"}
        summary: dict[str, Any] = {"user_capabilities": {"delete": True, "start": False}}
        if t is not None:
            summary["unified_job_template"] = {"id": t.id, "name": t.name, "unified_job_type": self.kind}
        if self.workflow is not None:
            summary["source_workflow_job"] = {"id": self.workflow, "name": "", "status": ""}
        return {
            "id": self.id, "type": self.kind, "url": self.url, "related": related, "summary_fields": summary,
            "name": t.name if t else "Approve the deployment", "description": "",
            "status": self.status, "failed": self.status in ("failed", "error"),
            "started": NOW if self.status != "pending" else None, "finished": NOW if self.finished else None,
            "canceled_on": NOW if self.status == "canceled" else None, "elapsed": 0.0,
            "created": NOW, "modified": NOW, "launch_type": "manual", "job_explanation": self.explanation,
            "extra_vars": json.dumps(self.extra_vars), "limit": self.limit, "inventory": self.inventory,
            "unified_job_template": t.id if t else None, "job_template": t.id if t and self.kind == "job" else None,
            "workflow_job_template": t.id if t and self.kind == "workflow_job" else None,
            "event_processing_finished": self.finished and not self.unprocessed,
        }


class AwxState:
    """The fake controller's tables and the state machine of its jobs (callers hold ``lock``)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.templates: dict[tuple[str, int], Template] = {}
        self.jobs: dict[int, Job] = {}
        self._ids = 0
        self._fail_next: list[str] = []
        self._hold_next = 0
        self._lag_next = 0

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- drivers -----------------------------------------------------------------------------
    def seed_job_template(self, name: str, **options: Any) -> int:
        t = Template(self.next_id(), name, "job_template", **options)
        self.templates[("job_template", t.id)] = t
        return t.id

    def seed_workflow(self, name: str, job_template: int, approval: bool = True, **options: Any) -> int:
        nodes = ([{"kind": "approval"}] if approval else []) + [{"kind": "job", "template": job_template}]
        t = Template(self.next_id(), name, "workflow_job_template", nodes=nodes, inventory=None, **options)
        self.templates[("workflow_job_template", t.id)] = t
        return t.id

    def fail_next_job(self, message: str = "a task failed") -> None:
        """The next job launched ends ``failed``, its output ending with ``message``."""
        self._fail_next.append(message)

    def hold_next_job(self) -> None:
        """The next job launched stays ``running`` until cancelled or :meth:`release_job`."""
        self._hold_next += 1

    def lag_events_next_job(self, reads: int = 2) -> None:
        """The next job's last output lines appear ``reads`` status reads after it ended, as AWX's
        callback receiver may still be processing events (``event_processing_finished`` false)."""
        self._lag_next = reads

    def release_job(self, job_id: int) -> None:
        self.jobs[job_id].held = False

    def approve(self, approval_id: int, approve: bool = True) -> None:
        job = self.jobs[approval_id]
        if job.status != "pending":
            raise ValueError("This workflow step has already been approved or denied.")
        job.status = "successful" if approve else "failed"
        job.explanation = "" if approve else "Denied"

    # -- jobs --------------------------------------------------------------------------------
    def launch(self, template: Template, extra_vars: dict[str, Any], limit: str, inventory: int | None,
               workflow: int | None = None) -> Job:
        kind = "job" if template.kind == "job_template" else "workflow_job"
        job = Job(self.next_id(), kind, template, extra_vars, limit, inventory or template.inventory,
                  workflow=workflow)
        if kind == "job":
            if self._fail_next:
                job.fail_message = self._fail_next.pop(0)
            if self._hold_next:
                self._hold_next -= 1
                job.held = True
            job.event_lag, self._lag_next = self._lag_next, 0
        self.jobs[job.id] = job
        return job

    def advance(self, job: Job) -> None:
        """One step of ``job`` (a read of its status)."""
        if job.finished:
            if job.unprocessed and job.event_lag <= 0:
                job.lines += job.unprocessed
                job.unprocessed = []
            job.event_lag -= 1
            return
        if job.kind == "job":
            self._advance_job(job)
        elif job.kind == "workflow_job":
            self._advance_workflow(job)

    def _advance_job(self, job: Job) -> None:
        trainmaster = job.extra_vars.get("trainmaster") or {}
        if job.status == "pending":
            job.status = "running"
            job.lines += ["", f"PLAY [deploy {trainmaster.get('version', '')}] " + "*" * 20, "",
                          "TASK [Gathering Facts] " + "*" * 20, "ok: [web1]"]
            for pkg in trainmaster.get("packages") or []:
                job.lines += [f"TASK [verify {pkg.get('name')} {pkg.get('digest')}] ****", "ok: [web1]"]
            return
        if job.held:  # one long task: it prints its header once, then nothing until it ends
            if job.lines[-1:] != ["TASK [wait] ****"]:
                job.lines.append("TASK [wait] ****")
            return
        if job.fail_message:
            job.lines += ["TASK [deploy] ****", f"fatal: [web1]: FAILED! => {{\"msg\": \"{job.fail_message}\"}}",
                          "", "PLAY RECAP ****", "web1 : ok=1 changed=0 unreachable=0 failed=1"]
            job.status = "failed"
            return
        job.lines += ["TASK [deploy] ****", "changed: [web1]"]
        last = ["", "PLAY RECAP ****", "web1 : ok=2 changed=1 unreachable=0 failed=0"]
        if job.event_lag > 0:
            job.unprocessed = last
        else:
            job.lines += last
        job.status = "successful"

    def _advance_workflow(self, wf: Job) -> None:
        if wf.status == "pending":
            wf.status = "running"
        if wf.node_jobs:
            current = self.jobs[wf.node_jobs[-1]]
            self.advance(current)
            if not current.finished:
                return
            if current.status != "successful":
                wf.status = "failed"
                return
        assert wf.template is not None
        if wf.next_node >= len(wf.template.nodes):
            wf.status = "successful"
            return
        node = wf.template.nodes[wf.next_node]
        wf.next_node += 1
        if node["kind"] == "approval":
            child = Job(self.next_id(), "workflow_approval", None, workflow=wf.id)
            self.jobs[child.id] = child
        else:
            child = self.launch(self.templates[("job_template", node["template"])], wf.extra_vars, wf.limit,
                                wf.inventory, workflow=wf.id)
        wf.node_jobs.append(child.id)

    def cancel(self, job: Job) -> None:
        if job.finished:
            return
        job.status = "canceled"
        job.explanation = "Job was canceled"
        for child in job.node_jobs:
            self.cancel(self.jobs[child])
