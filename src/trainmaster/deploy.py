"""Deploying a release to an environment: verify, gate, lock, plan, run, record, roll back.

The order matters and is the contract:

1. the release and the environment exist (exit 2);
2. every package of the release is re-hashed in the store (exit 4);
3. the environment's variables resolve, secrets included (exit 2);
4. the train's order and every gate are met (exit 3), checked again once
   the environment's lock is held;
5. only then does anything run, with a ledger row ``in_progress`` held by
   this process's lock; the outcome is recorded, and a failure with
   ``on_failure: rollback`` redeploys the last good release (exit 1).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from trainmaster.errors import DeploymentFailed, IntegrityError, InvalidInput, Refused, TrainmasterError, Unavailable
from trainmaster.interfaces import DeployJob, Deployment, DeploymentStatus, DeployOutcome, PackagePlan
from trainmaster.strategies import uses_strategy

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.deploylog import DeploymentLog
    from trainmaster.interfaces import Target
    from trainmaster.locks import CancelSignal, EnvironmentLock
    from trainmaster.masking import Masker
    from trainmaster.model import Release
    from trainmaster.rollout import Rollout
    from trainmaster.store_guard import StoreGuard
    from trainmaster.variables import Resolved


def _write(text: str) -> None:
    from trainmaster._output import write

    write(text)


@dataclass
class Result:
    """A deployment that succeeded (a failed one raises :class:`DeploymentFailed`)."""

    deployment: Deployment


def find_release(app: App, version: str) -> Release:
    """The release ``version`` from the ledger, fetched from a publisher if this runner lacks it."""
    from trainmaster.model import check_version

    check_version(version)
    release = app.ledger.get_release(app.config.project, version)
    if release is not None:
        from trainmaster.retention import refuse_deleted

        refuse_deleted(app.ledger, release)  # exit 2: a deleted release is never deployed or approved
        return release
    from trainmaster.publish import fetch_release

    fetched = fetch_release(app, version)
    if fetched is None:
        raise InvalidInput(f"no release {version} of {app.config.project} in the ledger: create it with "
                           f"`trainmaster release create {version}` or fetch it with `trainmaster release fetch`")
    return fetched


def last_good(app: App, environment: str, *, exclude_release: str | None = None) -> Deployment | None:
    """The newest succeeded deployment in ``environment`` (of another release than ``exclude_release``).

    The local ledger answers first; with a remote ledger (``ledger: github`` on a fresh
    runner, say) the remote history answers what the local one cannot.
    """
    local = app.ledger.last_success(environment, exclude_release=exclude_release)
    if local is not None or app.config.ledger == "sqlite":
        return local
    finder = getattr(app.view, "last_success", None)  # optional: stops at the newest success
    if finder is not None:
        found: Deployment | None = finder(environment, exclude_release=exclude_release)
        return found
    for dep in reversed(app.view.history(environment, None)):
        if dep.status == "succeeded" and dep.release_id != (exclude_release or ""):
            return dep
    return None


def verify_release(app: App, release: Release) -> dict[str, Path]:
    """Re-hash every package of ``release`` (skipped ones included); exit 4 on a mismatch or a quarantined blob."""
    from trainmaster.store_guard import verify_package

    return {pkg.name: verify_package(app.store, pkg) for pkg in release.packages}


def files_to_publish(app: App, release: Release, publisher: object) -> dict[str, Path]:
    """The packages' store files for ``publisher.ensure``: re-hashed first (:func:`verify_release`),
    unless the publisher hashes each file in the same pass as its upload (``verifies_uploads``) and
    removes what it uploaded on a mismatch (exit 4); a missing file is exit 4 either way."""
    if not getattr(publisher, "verifies_uploads", False):
        return verify_release(app, release)
    from trainmaster.errors import DigestMismatch

    files = {}
    for pkg in release.packages:
        path = app.store.path_for(pkg.digest)
        if not path.is_file():
            raise DigestMismatch(f"package {pkg.name!r} {pkg.digest} is missing from the store at {app.store.root}")
        files[pkg.name] = path
    return files


def _commands(app: App, env: Environment, name: str) -> dict[str, str | None]:
    """The commands that would run for package ``name`` in ``env`` (part of its desired state)."""
    spec = app.config.package(name)
    monitor = env.monitor.command if env.monitor else None
    return {"deploy": (spec.deploy if spec else None) or env.deploy, "package smoke": spec.smoke if spec else None,
            "smoke": env.smoke, "monitor": monitor, "target": env.target}


def _plan(app: App, env: Environment, release: Release, files: dict[str, Path], resolved: Resolved,
          force: bool, kind: str) -> list[PackagePlan]:
    from trainmaster.variables import desired_state, state_key

    last = app.ledger.latest(env.name)
    secrets = {name: resolved.values[name] for name in resolved.secret_names}
    key = state_key(app.state_dir)
    plans = []
    for pkg in release.packages:
        state = desired_state(pkg.digest, resolved.public, commands=_commands(app, env, pkg.name),
                              secrets=secrets, key=key)
        if (not force and kind != "rollback" and last is not None and last.status == "succeeded"
                and last.state.get(pkg.name) == state):
            reason = (f"unchanged since deployment #{last.id} ({last.version}): same digest, variables, "
                      "commands and secrets")
            plans.append(PackagePlan(pkg, files[pkg.name], "skip", state, reason))
        else:
            plans.append(PackagePlan(pkg, files[pkg.name], "deploy", state))
    return plans


def deploy(app: App, version: str, env_name: str, *, force: bool = False, kind: str = "deploy",
           out: Callable[[str], None] = _write, wait: bool = False) -> Result:
    """Deploy ``version`` to ``env_name`` under the train's rules (see module docstring).

    ``wait``: sample the environment's quality gates until they pass (:mod:`trainmaster.quality_gates`).
    """
    from trainmaster.store_guard import StoreGuard

    env = app.environment(env_name)
    guard = StoreGuard(app.store, app.environ)  # TRAINMASTER_REFLINK checked before anything is written
    release = find_release(app, version)
    target = app.target(env)
    files = verify_release(app, release)
    from trainmaster.masking import Masker
    from trainmaster.variables import resolve_variables

    resolved = resolve_variables(env.variables, app.registry.secret_resolvers, app.environ, env.name)
    masker = Masker(resolved.secrets)
    for secret in resolved.secrets:
        app.ci.mask(secret)
    app.reap_interrupted()
    if kind == "deploy":
        _gate(app, env, release)
        from trainmaster.quality_gates import run_gates

        run_gates(app, env, release, resolved.values, masker, wait=wait, out=out)

    from trainmaster.locks import CancelSignal, EnvironmentLock

    lock = EnvironmentLock(app.lock_dir, env.name)
    cancel = CancelSignal()
    if not _acquire(app, lock, env, release, out):
        busy = [d for d in app.ledger.in_progress() if d.environment == env.name]
        who = (f": deployment #{busy[0].id} of {busy[0].version} by {busy[0].actor} since "
               f"{busy[0].started_at}") if busy else ""
        raise Refused(f"{env.name} is busy{who}; only one deployment may run per environment "
                      f"(set concurrency: wait to queue instead)")
    try:
        from trainmaster.locks import stop_orphans

        if lock.waited:  # the store may have changed while this process queued
            files = verify_release(app, release)
        for stale in [d for d in app.ledger.in_progress() if d.environment == env.name]:
            stop_orphans(lock.previous_groups, stale.id, env.name, app.config.project, lock.previous_token)
            app.ledger.mark_interrupted(stale.id, "the deploying process is gone (its lock was free)")
        met = _gate(app, env, release) if kind == "deploy" else []
        preflight = getattr(target, "preflight", None)
        if preflight is not None:  # its credentials, before the first ledger row: a bad token writes nothing
            preflight(release)
        cancel.install()
        result = _run(app, env, release, target, files, resolved, masker, force, kind, out, lock, guard, met, cancel)
        _outputs(app, result)
        failed = result.status in ("failed", "cancelled")
        rolls_back = env.on_failure == "rollback" or (env.strategy is not None and env.strategy.kind == "canary")
        if failed and kind == "deploy" and rolls_back:  # a failed canary always rolls back
            _finish_failed(result, _rollback_after_failure(app, env, release, out, lock, guard, result, cancel), guard)
        if failed:
            _finish_failed(result, None, guard)
        return Result(result)
    finally:
        cancel.restore()
        lock.release()


def _acquire(app: App, lock: EnvironmentLock, env: Environment, release: Release,
             out: Callable[[str], None]) -> bool:
    """Take the environment's lock: queue for it with ``concurrency: wait`` (seen by ``status``), else refuse."""
    if lock.acquire(wait=False):
        return True
    if env.concurrency == "wait":
        out(f"waiting for {env.name}: another deployment is in progress…\n")
        lock.waited = True
        from trainmaster.config._values import env_number
        from trainmaster.waiting import waiting

        with waiting(app.state_dir, env.name, release.version, app.actor()):
            return lock.acquire(wait=True, timeout=env_number(os.environ, "TRAINMASTER_LOCK_TIMEOUT"))
    # a short grace: a reader may be probing the lock for dead deployments
    return lock.acquire(wait=True, timeout=0.3, poll=0.05)


def _gate(app: App, env: Environment, release: Release) -> list[str]:
    """Refuse (exit 3) unless every gate is met; the gates met, one line each (``deployment show``)."""
    from trainmaster.gates import gates_met
    from trainmaster.train import pending_gates

    now = app.clock()  # one instant for the decision and the gates it records
    reasons = pending_gates(app.config, env, release, app.view, app.ledger, now)
    if reasons:
        refused = Refused(f"{release.version} may not be deployed to {env.name}: " + "; ".join(reasons))
        refused.pending = reasons  # type: ignore[attr-defined]  # data for --json
        raise refused
    return gates_met(app.config, env, release, app.view, app.ledger, now)


def _run(app: App, env: Environment, release: Release, target: Target, files: dict[str, Path],
         resolved: Resolved, masker: Masker, force: bool, kind: str, out: Callable[[str], None],
         lock: EnvironmentLock, guard: StoreGuard, met: list[str] | None = None,
         cancel: CancelSignal | None = None) -> Deployment:
    """Run one deployment and record it; ``cancel`` makes it stoppable by ``trainmaster cancel`` (SIGUSR1).

    The commands get the packages through ``guard`` (:mod:`trainmaster.store_guard`); a stored blob
    they changed makes the deployment ``failed``, whatever the commands said.
    """
    from trainmaster.deploylog import DeploymentLog
    from trainmaster.locks import Cancelled
    from trainmaster.publish import download_urls
    from trainmaster.steps import StepRunner
    from trainmaster.verify import verifier

    plan = _plan(app, env, release, files, resolved, force, kind)
    actor = app.actor()
    dep = app.ledger.start_deployment(release, env.name, kind, actor, {p.package.name: p.state for p in plan},
                                      gates=met)
    log = DeploymentLog(app.state_dir, dep.id)
    out = log.tee(out)  # what this deployment prints (masked where produced) is its log
    out(f"{kind} {release.project} {release.version} → {env.name} (deployment #{dep.id}, {release.id[:19]}…)\n")
    app.emit("deployment_started", deployment=dep, release=release, environment=env)
    lock.note_deployment(dep.id)
    try:
        if cancel is not None:
            cancel.arm()
        guard.workspace(app.state_dir, dep.id, plan)  # before the runner: commands see the links
        runner = StepRunner(config=app.config, environment=env, release=release, deployment_id=dep.id, plan=plan,
                            variables=resolved.values, masker=masker, out=out, on_spawn=lock.note_command,
                            run_token=lock.token, verify=verifier(app, env, release, dep, kind))
        run_steps: Callable[[], DeployOutcome] = runner.steps
        rollout: Rollout | None = None
        if uses_strategy(env):  # instance by instance (trainmaster.rollout)
            from trainmaster.rollout import Rollout
            from trainmaster.rollout_log import RolloutLog

            rollout = Rollout(log=RolloutLog(app.ledger), env=env, deployment=dep, runner=runner, plan=plan,
                              kind=kind, force=force, out=out, emit=app.emit)
            run_steps = rollout.run
        from trainmaster.anchors import head

        job = DeployJob(config=app.config, environment=env, release=release, deployment_id=dep.id, kind=kind,
                        plan=plan, variables=resolved.values, masker=masker, out=out, ci=app.ci,
                        run_steps=run_steps, run_checks=lambda: runner.steps(include_deploy=False),
                        run_command=runner.run, force=force, progress=_progress_line(masker),
                        package_urls=download_urls(app.ledger, release, app.config.publish),
                        audit_anchor=head(app.ledger.conn))
        outcome: DeployOutcome = target.deploy(job)
        if rollout is not None and not rollout.ran:
            sys.stderr.write(f"note: target {env.target!r} deployed {env.name} without running its commands here: "
                             "its instances and strategy apply only where trainmaster runs them (for "
                             "azure-devops, in the release stage's own run)\n")
    except Cancelled:
        outcome = DeployOutcome("cancelled", packages={p.package.name: "cancelled" for p in plan},
                                message="cancelled by `trainmaster cancel`")
    except Refused as exc:
        _record(app, dep, DeployOutcome("cancelled", message=str(exc)), log, status="pending")
        raise
    except KeyboardInterrupt:
        _record(app, dep, DeployOutcome("cancelled", message="cancelled by a signal (Ctrl-C or SIGTERM)"), log)
        raise
    except Unavailable as exc:
        _record(app, dep, DeployOutcome("failed", message=str(exc)), log)
        raise
    except TrainmasterError as exc:
        _record(app, dep, DeployOutcome("failed", message=str(exc)), log)
        raise
    except BaseException:
        _record(app, dep, DeployOutcome("failed", message="interrupted by an internal error"), log)
        raise
    finally:
        if cancel is not None:
            cancel.disarm()
        changed = guard.finish()
        if changed and sys.exc_info()[0] is not None:  # already recorded as failed: say why too
            sys.stderr.write("".join(f"error: {line}\n" for line in changed.values()))
    if changed:
        packages = dict(outcome.packages, **{name: "failed" for name in changed})
        outcome = DeployOutcome("failed", packages=packages, remote=outcome.remote, excerpt=outcome.excerpt,
                                message="; ".join(changed.values()))
    symbol = {"succeeded": "✓", "failed": "✗"}.get(outcome.status, "•")
    out(f"{symbol} deployment #{dep.id} of {release.version} to {env.name} {outcome.status}"
        f"{': ' + outcome.message if outcome.message and outcome.status != 'succeeded' else ''}\n")
    final = _record(app, dep, outcome, log)
    app.emit("deployment_finished", deployment=final, release=release, environment=env)
    return final


def _outputs(app: App, dep: Deployment) -> None:
    """The step outputs describe the deployment asked for (not the rollback that followed it)."""
    app.ci.set_output("release-id", dep.release_id)
    app.ci.set_output("version", dep.version)
    app.ci.set_output("deployment-id", str(dep.id))
    app.ci.set_output("status", dep.status)


def _progress_line(masker: Masker) -> Callable[[str], None]:
    """A live progress line on stderr: rewritten in place on a terminal, one line per change otherwise."""
    last: list[str] = [""]
    tty = sys.stderr.isatty()

    def progress(text: str) -> None:
        text = masker.mask(text)
        if text == last[0]:
            return
        last[0] = text
        sys.stderr.write(f"\r\033[K{text}" if tty else f"{text}\n")
        sys.stderr.flush()

    return progress


def _record(app: App, dep: Deployment, outcome: DeployOutcome, log: DeploymentLog,
            status: DeploymentStatus | None = None) -> Deployment:
    packages = outcome.packages or {name: "failed" for name in dep.state}
    excerpt = outcome.excerpt or outcome.message
    reason = "" if outcome.status == "succeeded" else outcome.message
    from trainmaster.ledger_lock import LedgerBusy

    try:
        return app.ledger.finish_deployment(dep.id, status or outcome.status, packages=packages,
                                            remote=outcome.remote, excerpt=excerpt, log=log.store(app.store),
                                            reason=reason)
    except LedgerBusy as exc:  # the commands ran: say what happened, and what the ledger will say
        raise LedgerBusy(f"deployment #{dep.id} {status or outcome.status} but its outcome could not be recorded: "
                         f"{exc.reason}; the next command records it interrupted") from None


def _rollback_after_failure(app: App, env: Environment, failed: Release, out: Callable[[str], None],
                            lock: EnvironmentLock, guard: StoreGuard, result: Deployment,
                            cancel: CancelSignal | None = None) -> Deployment | None:
    """Redeploy the last good release; its blobs are re-hashed first, so a quarantined one stops it (exit 4)."""
    previous = last_good(app, env.name, exclude_release=failed.id)
    if previous is None:
        out(f"no earlier successful release in {env.name} to roll back to\n")
        return None
    release = app.ledger.get_release_by_id(previous.release_id) or find_release(app, previous.version)
    out(f"rolling back {env.name} to {release.version} (last success: deployment #{previous.id})\n")
    target = app.target(env)
    try:
        files = verify_release(app, release)
    except IntegrityError as exc:
        if not guard.changed:
            raise
        raise guard.failure(f"deployment #{result.id} of {result.version} to {env.name} failed",
                            f"not rolled back to {release.version}: {exc}", deployment=result) from None
    from trainmaster.masking import Masker
    from trainmaster.variables import resolve_variables

    resolved = resolve_variables(env.variables, app.registry.secret_resolvers, app.environ, env.name)
    return _run(app, env, release, target, files, resolved, Masker(resolved.secrets), True, "rollback", out, lock,
                guard, cancel=cancel)


def _finish_failed(result: Deployment, rollback: Deployment | None, guard: StoreGuard) -> NoReturn:
    message = f"deployment #{result.id} of {result.version} to {result.environment} {result.status}"
    then = f"rolled back to {rollback.version}: rollback {rollback.status}" if rollback is not None else ""
    if guard.changed:  # exit 4: the store was changed, whatever the rollback did
        raise guard.failure(message, then, deployment=result, rollback=rollback)
    raise DeploymentFailed(f"{message}; {then}" if then else message, deployment=result, rollback=rollback)


def rollback(app: App, env_name: str, to_version: str | None = None,
             out: Callable[[str], None] = _write) -> Result:
    """Redeploy the previous good release of ``env_name`` (or ``to_version``), never skipping."""
    env = app.environment(env_name)
    app.reap_interrupted()
    if to_version:
        release = find_release(app, to_version)
        if not app.ledger.succeeded_at(release.id, env.name) and not app.view.succeeded(release, env.name):
            raise Refused(f"{to_version} never succeeded in {env.name}; a rollback goes back to a known good release")
        version = to_version
    else:
        current = app.ledger.latest(env.name) or app.view.current(env.name)
        if current is None:
            raise Refused(f"nothing was ever deployed to {env.name}: there is nothing to roll back")
        exclude = current.release_id if current.status == "succeeded" else None
        previous = last_good(app, env.name, exclude_release=exclude)
        if previous is None:
            raise Refused(f"{env.name} has no earlier successful release to roll back to")
        version = previous.version
    return deploy(app, version, env_name, kind="rollback", out=out)
