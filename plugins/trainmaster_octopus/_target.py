"""The ``octopus`` target: deploy through Octopus and wait for its server tasks.

For each Octopus project of the release (one per component with
``octopus.projects``): re-check that the feed still holds the pushed bytes,
skip the project when the core skipped all its packages or Octopus already has
this release current there (the CDAF parent-project pattern), attach to a
deployment of this release that is still running (a re-run after exit 3 or a
lost response), or create one; then keep the audit chain's head in the release's notes
(:mod:`trainmaster_octopus._anchor`). Then one batched wait for every task.

Deployment strategies (``instances``, ``strategy``) are refused when the target is built, so
``validate`` and every command that would deploy exit 2 before anything changes: Octopus deploys
a release to all the machines of its environment in one task, and trainmaster would neither run
batches, slots nor canary steps there nor record instances that Octopus did not report. Use
Octopus's own rolling deployments (a step's "rolling window") in the project's process instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainmaster.errors import IntegrityError, InvalidInput
from trainmaster.interfaces import DeployOutcome
from trainmaster.remote_target import RemoteTarget
from trainmaster_octopus._lifecycle import check_train
from trainmaster_octopus._multipart import file_hashes
from trainmaster_octopus._publish import OctopusPublisher, feed_files_unwrapped, groups
from trainmaster_octopus._resources import Octopus
from trainmaster_octopus._settings import Settings, client_for
from trainmaster_octopus._wait import TaskOutcome, task_status, wait_for_tasks
from trainmaster_octopus._wrap import wrapper_sha1

if TYPE_CHECKING:
    from trainmaster.interfaces import DeployJob, RunbookJob
    from trainmaster.model import Release

__all__ = ["OctopusTarget"]


def _progress_line() -> Callable[[str], None]:
    tty = sys.stderr.isatty()
    last = [""]

    def show(text: str) -> None:
        if tty:
            sys.stderr.write("\r" + text.ljust(len(last[0])) + ("" if text else "\r"))
        elif text and text.split(":")[-1] != last[0].split(":")[-1]:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()
        last[0] = text

    return show


class OctopusTarget(RemoteTarget):
    """Deploys to one trainmaster environment through Octopus."""

    settings_class = Settings
    settings: Settings
    whole_environment = ("Octopus deploys to every machine of its environment in one task",
                         "use a rolling window in the Octopus project's process instead")

    @property
    def octo(self) -> Octopus:
        return Octopus(client_for(self.settings, self.environ))

    def validate(self) -> None:
        """The project(s), environment, channel and lifecycle must accept the train's order, and the
        remote runbooks that may run here must exist with a published snapshot (exit 2)."""
        from trainmaster_octopus._runbooks import find_runbook

        octo = self.octo
        for project in self.settings.projects:
            check_train(octo, self.config, project, self.settings.get("channel"))
        for book in self.config.runbooks:
            if book.remote and self.environment.name in book.environments:
                find_runbook(octo, octo.project(self.settings.project), book.remote)

    def run_runbook(self, job: RunbookJob) -> DeployOutcome:
        """Run the Octopus runbook ``job.remote`` here and wait for it (:mod:`trainmaster_octopus._runbooks`)."""
        from trainmaster_octopus._runbooks import run_runbook

        return run_runbook(self.octo, self.settings, job)

    def preflight(self, release: Release) -> None:
        """The API key works: look up the (first) Octopus project (exit 2 when rejected or missing).

        Lookups are kept on the process's shared client, so :meth:`deploy` does not read it again.
        """
        self.octo.project(self.settings.projects[0])

    def deploy(self, job: DeployJob) -> DeployOutcome:
        from trainmaster_octopus._ledger import forget_progression

        try:
            return self._deploy(job)
        finally:
            forget_progression()  # what was read before deploying is out of date now

    def _deploy(self, job: DeployJob) -> DeployOutcome:
        octo = self.octo
        env_name = self.settings.environment_name(job.environment.name)
        release = job.release
        plan = {p.package.name: p for p in job.plan}
        force = job.force or job.kind == "rollback"
        packages: dict[str, str] = {}
        started: list[tuple[str, list[str], dict[str, str]]] = []
        outcomes: dict[str, Any] = {}
        sequential = self.settings.get("components", "sequential") != "parallel"
        grouped = groups(release, self.settings)
        for index, (project, names) in enumerate(grouped.items()):
            if sequential and started and outcomes[started[-1][2]["task_id"]].status != "succeeded":
                for later in list(grouped.values())[index:]:
                    packages.update({n: "failed" for n in later})
                job.out(f"octopus: {project} not deployed: an earlier component failed\n")
                break
            remote = octo.find_release(project, release.version)
            if remote is None:  # not published yet: publish now (idempotent)
                files = {n: plan[n].stored or plan[n].path for n in names}  # the store's file: its SHA-1 is recorded
                result = OctopusPublisher(self.environ).ensure(release, files, self.config)
                if result.state == "conflict":
                    raise IntegrityError(f"octopus: {result.detail}")
                remote = octo.find_release(project, release.version)
                if remote is None:
                    raise InvalidInput(f"Octopus project {project!r} has no release {release.version}")
            self._verify_feed(octo, job, names)
            if not force and all(plan[n].action == "skip" for n in names):
                packages.update({n: "skipped" for n in names})
                job.out(f"octopus: {project} skipped (unchanged since the last successful deployment)\n")
                continue
            existing: list[dict[str, Any]] = []
            env_id: str | None = None
            if not remote.get("new"):
                env_id, existing = octo.deployments(str(remote["Id"]), env_name)
            latest = existing[0] if existing and existing[0].get("TaskId") else None
            if latest is not None and not force:
                ref = {"deployment_id": str(latest["Id"]), "task_id": str(latest["TaskId"])}
                task = octo.client.get(octo.client.space_path(f"tasks/{ref['task_id']}")) or {}
                state = task_status(task)
                if state is None:  # still running or waiting on an intervention: attach, never duplicate
                    job.out(f"octopus: resuming the wait on {project} task {ref['task_id']}\n")
                    self._anchor(octo, job, str(remote["Id"]))
                    started.append((project, names, ref))
                    if sequential:
                        outcomes.update(self._wait(octo, [ref["task_id"]]))
                    continue
                if state == "succeeded" and env_id and self._is_current(octo, project, env_id, str(remote["Id"])):
                    # The core planned a deployment, and this release's own deployment there (e.g. the one
                    # an earlier run left waiting on a manual intervention, exit 3) has since succeeded
                    # and is still current: it is this deployment's outcome; the checks still run.
                    job.out(f"octopus: {project} task {ref['task_id']} of {release.version} finished "
                            f"Success in {env_name}: adopting it\n")
                    self._anchor(octo, job, str(remote["Id"]))
                    started.append((project, names, ref))
                    outcomes[ref["task_id"]] = TaskOutcome(ref["task_id"], str(task.get("State")), state)
                    continue
            # From here on a deployment of this release may exist, even if the create below loses its answer.
            octo.cache[f"release:{project}:{release.version}"] = {**remote, "new": False}
            ids = octo.create_deployment(
                project,
                release.version,
                env_name,
                release_id=str(remote["Id"]),
                before={str(d.get("Id")) for d in existing},
                variables=self._prompted(octo, project, job),
                guided_failure=self.settings.get("guided_failure"),
            )
            job.out(
                f"octopus: deploying {project} {release.version} to {env_name}: "
                f"{octo.client.web_link('tasks/' + ids['task_id'])}\n"
            )
            self._anchor(octo, job, str(remote["Id"]))
            started.append((project, names, ids))
            if sequential:  # components deploy in declared order, each after the one before succeeded
                outcomes.update(self._wait(octo, [ids["task_id"]]))
        pending = [ids["task_id"] for _, _, ids in started if ids["task_id"] not in outcomes]
        if pending:  # components: parallel — one batched poll per interval for all of them
            outcomes.update(self._wait(octo, pending))
        statuses = []
        remote_refs: dict[str, Any] = {"deployments": {}}
        for project, names, ids in started:
            outcome = outcomes[ids["task_id"]]
            statuses.append(outcome.status)
            mark = {"succeeded": "deployed", "cancelled": "failed"}.get(outcome.status, "failed")
            packages.update({n: mark for n in names})
            remote_refs["deployments"][project] = {
                **ids,
                "state": outcome.state,
                "url": octo.client.web_link("tasks/" + ids["task_id"]),
            }
        status = "succeeded"
        if "cancelled" in statuses:
            status = "cancelled"
        if "failed" in statuses:
            status = "failed"
        message = "; ".join(
            f"{p}: {outcomes[i['task_id']].state} {outcomes[i['task_id']].error}".strip()
            for p, _, i in started
            if outcomes[i["task_id"]].status != "succeeded"
        )
        final = DeployOutcome(status, packages, remote_refs, message)  # type: ignore[arg-type]
        if status == "succeeded" and any(a == "deployed" for a in packages.values()):
            checks = job.run_checks()
            if checks.status != "succeeded":
                return DeployOutcome(checks.status, packages, remote_refs, checks.message, checks.excerpt)
        return final

    @staticmethod
    def _anchor(octo: Octopus, job: DeployJob, release_id: str) -> None:
        """The audit chain's head into the release's notes, once its deployment exists (one PUT)."""
        if job.audit_anchor:
            from trainmaster_octopus._anchor import keep_anchor

            keep_anchor(octo, release_id, job.environment.name, job.audit_anchor, job.out)

    def _wait(self, octo: Octopus, task_ids: list[str]) -> dict[str, Any]:
        return wait_for_tasks(
            octo.client,
            task_ids,
            interval=self.settings.poll_interval,
            timeout=self.settings.timeout,
            cancel_on_timeout=bool(self.settings.get("cancel_on_timeout", False)),
            progress=_progress_line(),
        )

    def _verify_feed(self, octo: Octopus, job: DeployJob, names: list[str]) -> None:
        """Exit 4 when the feed's package no longer hashes to what trainmaster pushed.

        No copy is made: an artefact pushed as it is is hashed in place, and a wrapped one by
        streaming its deterministic wrapper into the hasher (:func:`wrapper_sha1`). A SHA-1
        already known in this process (the push just computed or checked it) is reused. The
        store's recorded SHA-1 is never used here: it is a file anyone who can write the store
        can change, and this is the check that catches a package replaced in Octopus.
        """
        for name in names:
            item = next(p for p in job.plan if p.package.name == name)
            (feed,) = feed_files_unwrapped(job.release, self.settings, [name])
            sha1 = octo.cache.get(f"sha1:{feed.feed_id}")
            if sha1 is None:
                if feed.wrapped:
                    sha1 = wrapper_sha1(job.release, item.package, Path(item.path))
                else:
                    sha1 = file_hashes(Path(item.path))[0]
                octo.cache[f"sha1:{feed.feed_id}"] = sha1
            octo.verify_feed(feed.feed_id, sha1)

    def _is_current(self, octo: Octopus, project: str, env_id: str, release_id: str) -> bool:
        project_id = octo.project(project)["Id"]
        page = octo.client.get(
            octo.client.space_path("deployments"),
            {"projects": project_id, "environments": env_id, "taskState": "Success", "skip": 0, "take": 1},
        )
        items = (page or {}).get("Items") or []
        return bool(items) and items[0].get("ReleaseId") == release_id

    def _prompted(self, octo: Octopus, project: str, job: DeployJob) -> dict[str, str]:
        """Prompted variable values from the environment's variables (secrets resolved, never printed)."""
        if not job.variables:
            return {}
        names = self.settings.get("prompted_variables")
        if names is None:
            proj = octo.project(project)
            vs = octo.client.get(
                octo.client.space_path(f"variables/{proj.get('VariableSetId')}"), missing_ok=True
            )
            names = [v.get("Name") for v in (vs or {}).get("Variables") or [] if v.get("Prompt")]
        return {n: job.variables[n] for n in names if n in job.variables}
