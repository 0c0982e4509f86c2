"""Runbooks: named operational processes run against the release deployed in an environment.

``runbooks: {NAME: {command, environments: [...], approvals, timeout}}`` in the config;
``trainmaster run NAME --env ENV`` runs ``command``:

1. the runbook exists (exit 2) and may run in ``ENV`` (exit 3 otherwise);
2. the release is the one *currently deployed* in ``ENV`` (its newest succeeded
   deployment; exit 3 when there is none), and its packages are re-hashed (exit 4);
3. the environment's variables and secrets resolve (exit 2);
4. its approvals are met (exit 3): an approval is keyed by **(runbook, release, environment)**
   and recorded with ``trainmaster run NAME --env ENV --approve``; it stays valid for every
   later run of that runbook against that release there, like a deployment's approval. The
   rules are the deployments' rules: the release's creator does not count unless the
   environment has ``allow_self_approval``, and only ``approvals.from`` names count when given;
5. the environment's lock is taken (a runbook never runs during a deployment there; exit 3 if busy).

The command runs exactly like a deployment's commands (:class:`trainmaster.steps.StepRunner`):
clean environment, the verified packages as ``TRAINMASTER_PACKAGE_*`` (own links, never the
store), ``TRAINMASTER_DEPLOYMENT_ID`` of the deployment that put the release there, plus
``TRAINMASTER_RUNBOOK`` and ``TRAINMASTER_RUN_ID``; live output with secrets masked; the
runbook's ``timeout`` (else the environment's). Each run is recorded (``runbook_runs``: actor,
release, outcome, masked log excerpt), audited and announced (``runbook_run_finished``). A failed
run exits 1.

A runbook with ``remote: NAME`` instead of ``command`` runs the runbook ``NAME`` of the
environment's target system (Octopus) through the target's optional ``run_runbook``
(:class:`trainmaster.interfaces.RunbookJob`): steps 1-5 are the same, the target waits for the
remote run and streams its log (masked here, and made inert for the CI log: it is remote data),
and the outcome is recorded the same way (the run is recorded once the target has found its
runbook, ``RunbookJob.begin``). A run that did not finish here
(``pending``: it waits on someone there, exit 3; ``interrupted``: its runner died or the remote system
became unreachable, exit 5) is resumed by the next run of that runbook against that release there:
its remote run is adopted, never started again. A target without ``run_runbook`` is exit 2
(``validate`` says so too, :func:`check_remote`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainmaster.errors import InvalidInput, Refused, TrainmasterError, Unavailable, did_you_mean

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment, Runbook
    from trainmaster.interfaces import DeployOutcome, RunbookJob
    from trainmaster.masking import Masker
    from trainmaster.model import Release
    from trainmaster.store_guard import StoreGuard

    RunRemote = Callable[[RunbookJob], DeployOutcome]


class RunbookFailed(TrainmasterError):
    """The runbook's command failed or timed out (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, run: dict[str, Any]) -> None:
        super().__init__(message)
        self.run = run


def runbook(app: App, name: str) -> Runbook:
    book = app.config.runbook(name)
    if book is None:
        names = [b.name for b in app.config.runbooks]
        raise InvalidInput(f"unknown runbook {name!r}{did_you_mean(name, names, 'runbooks')}")
    return book


def target(app: App, name: str, env_name: str) -> tuple[Runbook, Environment, Release, int]:
    """The runbook, environment, current release and its deployment id (steps 1-2 of the module docstring)."""
    from trainmaster.deploy import find_release, last_good

    book = runbook(app, name)
    env = app.environment(env_name)
    if env.name not in book.environments:
        raise Refused(f"runbook {name!r} may not run in {env.name} (environments: {', '.join(book.environments)})")
    app.reap_interrupted()
    current = last_good(app, env.name)
    if current is None:
        raise Refused(f"nothing has succeeded in {env.name} yet: runbook {name!r} runs against the release "
                      "deployed there")
    release = app.ledger.get_release_by_id(current.release_id) or find_release(app, current.version)
    return book, env, release, current.id


def remote_runner(app: App, book: Runbook, env: Environment) -> RunRemote:
    """The ``run_runbook`` of ``env``'s target for a ``remote`` runbook; exit 2 when it has none."""
    from trainmaster.errors import ConfigError

    target = app.target(env)
    method: RunRemote | None = getattr(target, "run_runbook", None)  # optional Target method
    if method is None:
        where = env.location
        raise ConfigError(f"runbook {book.name!r} is a remote runbook ({book.remote!r}), but environment "
                          f"{env.name!r} deploys with target {env.target!r}, which cannot run remote runbooks; "
                          "give the runbook a `command`", file=where.file if where else None,
                          line=where.line if where else None, column=where.column if where else None)
    return method


def check_remote(app: App) -> None:
    """``validate``: every environment of a remote runbook has a target that runs remote runbooks (exit 2)."""
    for book in app.config.runbooks:
        if book.remote:
            for name in book.environments:
                remote_runner(app, book, app.environment(name))


def approval_counts(book: Runbook, env: Environment, release: Release, actor: str) -> bool:
    if actor == release.created_by and not env.allow_self_approval:
        return False
    return not book.approvals or not book.approvals.from_ or actor in book.approvals.from_


def counted(app: App, book: Runbook, env: Environment, release: Release) -> int:
    from trainmaster.duty_records import run_approvals

    actors = {actor for actor, _ in run_approvals(app.ledger, book.name, release.id, env.name)}
    return sum(approval_counts(book, env, release, actor) for actor in actors)


def missing_approvals(app: App, book: Runbook, env: Environment, release: Release) -> str | None:
    if not book.approvals or book.approvals.count <= 0:
        return None
    have = counted(app, book, env, release)
    if have >= book.approvals.count:
        return None
    who = f" from {', '.join(sorted(set(book.approvals.from_)))}" if book.approvals.from_ else ""
    return (f"runbook {book.name!r} needs {book.approvals.count} approval(s){who} to run against "
            f"{release.version} in {env.name}, has {have}: run `trainmaster run {book.name} --env {env.name} "
            "--approve`")


def approve(app: App, name: str, env_name: str, *, by: str | None, comment: str) -> dict[str, Any]:
    """Record an approval to run ``name`` against the release deployed in ``env_name``."""
    from trainmaster.duty_records import record_run_approval

    book, env, release, _ = target(app, name, env_name)
    actor = app.actor(by)
    need = book.approvals.count if book.approvals else 0
    counts = approval_counts(book, env, release, actor)
    recorded = need > 0 and record_run_approval(app.ledger, book.name, release.id, env.name, actor, comment, counts)
    reason = None
    if need == 0:
        reason = f"runbook {name!r} needs no approvals"
    elif not counts and actor == release.created_by and not env.allow_self_approval:
        reason = f"{actor} created {release.version} (set allow_self_approval: true on {env.name} to allow this)"
    elif not counts:
        reason = f"runbook {name!r} takes approvals from {', '.join(book.approvals.from_)} only" \
            if book.approvals else None
    return {"runbook": name, "environment": env.name, "version": release.version, "actor": actor,
            "recorded": recorded, "counts": counts and need > 0, "approvals": counted(app, book, env, release),
            "required": need, "reason": reason}


def run(app: App, name: str, env_name: str, *, out: Callable[[str], None]) -> dict[str, Any]:
    """Run runbook ``name`` in ``env_name`` (see the module docstring); returns the recorded run."""
    from trainmaster.deploy import verify_release
    from trainmaster.duty_records import finish_run, runs, start_run
    from trainmaster.locks import EnvironmentLock
    from trainmaster.masking import Masker
    from trainmaster.store_guard import StoreGuard
    from trainmaster.variables import resolve_variables

    guard = StoreGuard(app.store, app.environ)
    book, env, release, deployment_id = target(app, name, env_name)
    run_remote = remote_runner(app, book, env) if book.remote else None
    files = verify_release(app, release)
    resolved = resolve_variables(env.variables, app.registry.secret_resolvers, app.environ, env.name)
    masker = Masker(resolved.secrets)
    for secret in resolved.secrets:
        app.ci.mask(secret)
    reason = missing_approvals(app, book, env, release)
    if reason:
        raise Refused(reason)
    lock = EnvironmentLock(app.lock_dir, env.name)
    if not lock.acquire(wait=True, timeout=0.3, poll=0.05):
        raise Refused(f"{env.name} is busy (a deployment or another runbook is running there); "
                      f"runbook {name!r} was not started")
    try:
        for stale in runs(app.ledger, env.name):
            if stale["status"] == "in_progress":  # its process died: the lock was free
                finish_run(app.ledger, stale["id"], "interrupted", stale["excerpt"])
        actor = app.actor()
        ids: list[int] = []

        def begin() -> int:
            """Record the run (once): before the command, or when the target is about to run it remotely."""
            if not ids:
                ids.append(start_run(app.ledger, book.name, release.id, release.version, env.name, deployment_id,
                                     actor))
                out(f"runbook {book.name} against {release.project} {release.version} in {env.name} "
                    f"(run #{ids[0]})\n")
            return ids[0]

        status, excerpt = "failed", ""
        try:
            if run_remote is not None:
                status, excerpt = _remote(run_remote, app, book, env, release, deployment_id, begin,
                                          resolved.values, masker, out, resumes=_unfinished(app, book, env, release))
            else:
                status, excerpt = _local(app, book, env, release, deployment_id, begin(), guard, files,
                                         resolved.values, masker, out)
        except KeyboardInterrupt:
            status = "cancelled"
            raise
        except Refused as exc:  # the remote run waits on someone there: a re-run adopts it
            status, excerpt = "pending", str(exc)
            raise
        except Unavailable as exc:  # the remote run's outcome is unknown here: a re-run adopts it
            status, excerpt = "interrupted", str(exc)
            raise
        except TrainmasterError as exc:
            excerpt = str(exc)
            raise
        finally:
            if ids:  # a target that refused before running anything (exit 2) leaves no record
                finish_run(app.ledger, ids[0], status, masker.mask(excerpt)[-4000:])
    finally:
        lock.release()
    run_id = ids[0]
    record = runs(app.ledger, env.name, book.name)[-1]
    app.emit("runbook_run_finished", run=record, release=release, environment=env)
    symbol = "✓" if status == "succeeded" else "✗"
    out(f"{symbol} runbook {book.name} run #{run_id} in {env.name} {status}\n")
    if guard.changed:
        raise guard.failure(f"runbook {book.name!r} run #{run_id} in {env.name} failed")
    if status != "succeeded":
        raise RunbookFailed(f"runbook {book.name!r} {status} in {env.name} (run #{run_id})", record)
    return record


def _unfinished(app: App, book: Runbook, env: Environment, release: Release) -> int | None:
    """The previous run of ``book`` against ``release`` in ``env`` if it did not finish here (its remote run
    is this run's: :attr:`trainmaster.interfaces.RunbookJob.resumes`)."""
    from trainmaster.duty_records import runs

    mine = [r for r in runs(app.ledger, env.name, book.name) if r["release_id"] == release.id]
    return int(mine[-1]["id"]) if mine and mine[-1]["status"] in ("pending", "interrupted") else None


def _local(app: App, book: Runbook, env: Environment, release: Release, deployment_id: int, run_id: int,
           guard: StoreGuard, files: dict[str, Any], variables: dict[str, str], masker: Masker,
           out: Callable[[str], None]) -> tuple[str, str]:
    """Run ``book.command`` like a deployment's commands; ``(status, masked log excerpt)``."""
    import dataclasses

    from trainmaster.interfaces import PackagePlan
    from trainmaster.steps import StepRunner

    assert book.command is not None
    plan = [PackagePlan(pkg, files[pkg.name], "deploy", "") for pkg in release.packages]
    guard.workspace(app.state_dir, f"runbook-{run_id}", plan)
    timed = dataclasses.replace(env, timeout=book.timeout or env.timeout)
    runner = StepRunner(config=app.config, environment=timed, release=release, deployment_id=deployment_id,
                        plan=plan, variables=variables, masker=masker, out=out)
    status = "failed"
    try:
        result = runner.run(f"runbook {book.name}", book.command,
                            {"TRAINMASTER_RUNBOOK": book.name, "TRAINMASTER_RUN_ID": str(run_id)})
        status = "succeeded" if result.ok else "failed"
    finally:
        if guard.finish():  # the command changed a stored blob (exit 4 after the run is recorded)
            status = "failed"
    return status, masker.mask("\n".join(runner.excerpts))


def _remote(run_remote: RunRemote, app: App, book: Runbook, env: Environment, release: Release,
            deployment_id: int, begin: Callable[[], int], variables: dict[str, str], masker: Masker,
            out: Callable[[str], None], *, resumes: int | None) -> tuple[str, str]:
    """Hand the run to the target's ``run_runbook``; ``(status, masked log excerpt)``."""
    from trainmaster._output import data
    from trainmaster.interfaces import RunbookJob

    assert book.remote is not None
    job = RunbookJob(config=app.config, environment=env, release=release, deployment_id=deployment_id,
                     begin=begin, name=book.name, remote=book.remote, timeout=book.timeout,
                     variables=variables, out=lambda text: out(data(masker.mask(text))), resumes=resumes)
    outcome = run_remote(job)
    excerpt = "\n".join(part for part in (outcome.excerpt, outcome.message) if part)
    return outcome.status, masker.mask(excerpt)
