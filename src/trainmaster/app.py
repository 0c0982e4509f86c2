"""One invocation's wiring: config, plugins, CI context, ledger and store, created on first use."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainmaster.errors import ConfigError, InvalidInput, did_you_mean

if TYPE_CHECKING:
    import pluggy

    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import CIContext, RemoteLedger
    from trainmaster.ledger import SqliteLedger
    from trainmaster.plugins import Registry
    from trainmaster.store import Store


class App:
    """Lazily built collaborators for one CLI command."""

    def __init__(self, config_path: str | None = None, environ: Mapping[str, str] | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.clock = clock or _utc_now  # when the gates (windows, freezes, soak) are checked: aware UTC
        self.config_arg = config_path or self.environ.get("TRAINMASTER_CONFIG") or "trainmaster.yaml"
        self._deferred_noted = False

    # -- plugins -----------------------------------------------------------------------

    @cached_property
    def pm(self) -> pluggy.PluginManager:
        from trainmaster.plugins import get_plugin_manager, warn_load_errors

        pm = get_plugin_manager()
        warn_load_errors()
        return pm

    @cached_property
    def registry(self) -> Registry:
        from trainmaster.plugins import build_registry

        return build_registry(self.pm)

    @cached_property
    def ci(self) -> CIContext:
        context: CIContext = self.pm.hook.ci_context(environ=self.environ)
        return context

    # -- config ------------------------------------------------------------------------

    @cached_property
    def config(self) -> Config:
        from trainmaster.config import load_config

        path = Path(self.config_arg)
        config = load_config(
            path.resolve(),
            plugin_schemas=self.registry.config_schemas,
            secret_schemes=tuple(self.registry.secret_resolvers),
            display_path=self.config_arg,
            targets=self.registry.targets,
        )
        for env in config.environments:  # every command refuses what `validate` refuses, before anything runs
            if env.target not in self.registry.targets:
                raise self._unknown_target(env)
        return config

    def _unknown_target(self, env: Environment) -> ConfigError:
        known = ", ".join(sorted(self.registry.targets))
        return ConfigError(f"environment {env.name!r} uses target {env.target!r}, which no installed plugin "
                           f"provides (installed: {known}); see `trainmaster plugins`",
                           file=self.config_arg, line=env.location.line if env.location else None,
                           column=env.location.column if env.location else None, key="target")

    def environment(self, name: str) -> Environment:
        env = self.config.environment(name)
        if env is None:
            hint = did_you_mean(name, [e.name for e in self.config.environments], "environments")
            raise InvalidInput(f"unknown environment {name!r}{hint}")
        return env

    def target(self, env: Environment) -> Any:
        factory = self.registry.targets.get(env.target)
        if factory is None:
            raise self._unknown_target(env)
        target = factory(self.config, env)
        whole = getattr(target, "whole_environment", None)
        if whole:  # an engine that deploys the environment in one job cannot apply a strategy
            from trainmaster.strategies import refuse_strategy

            refuse_strategy(env, env.target, *whole)
        return target

    # -- state -------------------------------------------------------------------------

    @cached_property
    def state_dir(self) -> Path:
        return self.config.state_dir or (self.config.root / ".trainmaster")

    @cached_property
    def store(self) -> Store:
        from trainmaster.store import Store

        return Store(self.state_dir / "store")

    @cached_property
    def ledger(self) -> SqliteLedger:
        from trainmaster.ledger import SqliteLedger
        from trainmaster.ledger_lock import ledger_timeout

        ledger = SqliteLedger(self.state_dir / "ledger.db", key=self.audit_key, timeout=ledger_timeout(self.environ))
        others = ledger.other_projects(self.config.project)
        if others:
            ledger.close()
            raise ConfigError(f"the state directory {self.state_dir} already holds the ledger of project "
                              f"{others[0]!r}; give each project its own state_dir",
                              file=self.config_arg, key="state_dir")
        return ledger

    @cached_property
    def audit_key(self) -> bytes | None:
        """The configured audit key (``audit: {key: …}``), resolved and masked; exit 2 if it is missing."""
        if self.config.audit_key is None:
            return None
        from trainmaster.variables import resolve_value

        secret = resolve_value(self.config.audit_key, self.registry.secret_resolvers, self.environ, "audit.key: ")
        self.ci.mask(secret)
        return secret.encode("utf-8")

    @cached_property
    def view(self) -> RemoteLedger:
        """The ledger the train's rules read (``ledger:`` in the config; default the local one)."""
        name = self.config.ledger
        factory = self.registry.ledgers.get(name)
        if factory is None:
            known = ", ".join(sorted(self.registry.ledgers))
            raise ConfigError(f"ledger {name!r} is provided by no installed plugin (installed: {known})",
                              file=self.config_arg, key="ledger")
        view: RemoteLedger = factory(self.config, self.ledger)
        return view

    @property
    def lock_dir(self) -> Path:
        return self.state_dir / "locks"

    def reap_interrupted(self, *, wait: bool = True) -> list[int]:
        """Mark ``in_progress`` deployments whose process died as ``interrupted``.

        A read-only command passes ``wait=False``: it never waits for another process writing to
        the ledger, but leaves those deployments ``in_progress`` for the next command and says so
        in one line on stderr.
        """
        from trainmaster.ledger_lock import LedgerBusy
        from trainmaster.locks import EnvironmentLock, stop_orphans

        reaped, deferred = [], []
        for dep in self.ledger.in_progress():
            lock = EnvironmentLock(self.lock_dir, dep.environment)
            if lock.is_free():
                stopped = stop_orphans(lock.recorded_groups(), dep.id, dep.environment, self.config.project,
                                       lock.recorded_token())
                reason = "the deploying process is gone (its lock was free)"
                if stopped:
                    reason += f"; stopped {stopped} command group(s) it left running"
                try:
                    if self.ledger.mark_interrupted(dep.id, reason, wait=wait):
                        reaped.append(dep.id)
                except LedgerBusy:
                    deferred.append(f"deployment #{dep.id} ({dep.environment})")
        self._remove_leftovers(wait, deferred)
        if deferred and not self._deferred_noted:  # once per command (`logs --follow` reaps in its loop)
            from trainmaster._output import echo

            self._deferred_noted = True
            echo(f"note: {', '.join(deferred)} lost its process but is still shown in_progress: another "
                 "trainmaster process is writing to the ledger, so a later command records it interrupted", err=True)
        return reaped

    def _remove_leftovers(self, wait: bool, deferred: list[str]) -> None:
        """Delete what killed processes left: staging files of ``release create``, work folders of dead runs.

        A staging file goes once no live process holds its lock; a work folder once its run is dead
        (:meth:`_dead_run`), after the blobs it links to are re-hashed
        (:func:`trainmaster.store_guard.abandoned`): one its commands changed is quarantined, with a
        warning naming the package and the run.
        """
        from trainmaster.store import sweep

        sweep(self.state_dir / "store")
        work = self.state_dir / "work"
        if not work.is_dir():
            return
        dead = [found for found in (self._dead_run(folder, wait, deferred) for folder in work.iterdir()) if found]
        if not dead:
            return
        from trainmaster.store_guard import abandoned, reaping

        with reaping(self.lock_dir) as mine:
            for folder, label, run, release_id in dead if mine else []:
                if not folder.exists():  # another command checked and removed it meanwhile
                    continue
                release = self.ledger.get_release_by_id(release_id)
                try:
                    changed = abandoned(self.store, folder, label, release.packages if release else ())
                except OSError as exc:
                    print(f"warning: cannot check and remove the work folder {folder}: {exc.strerror or exc}",
                          file=sys.stderr)
                    continue
                for text in changed.values():
                    print(f"warning: {run}: {text}", file=sys.stderr)

    def _dead_run(self, folder: Path, wait: bool, deferred: list[str]) -> tuple[Path, str, str, str] | None:
        """``(folder, quarantine label, what ran, release id)`` when ``folder`` is a dead run's work folder.

        A deployment's (``<id>-…``) once it is recorded ``interrupted`` (:meth:`reap_interrupted`); a
        runbook run's (``runbook-<id>-…``) once it is recorded ``interrupted``, or is ``in_progress``
        while its environment's lock is free (it holds the lock from before it is recorded until after
        it finishes): then it is recorded ``interrupted`` here (without ``wait``, not while another process
        writes to the ledger: then it is named in ``deferred`` and its folder is left for a later command).
        """
        first, _, rest = folder.name.partition("-")
        if first.isdigit():
            dep = self.ledger.get_deployment(int(first))
            if dep is None or dep.status != "interrupted":
                return None
            return (folder, f"deployment-{dep.id}", f"interrupted deployment #{dep.id} of {dep.version} to "
                    f"{dep.environment}", dep.release_id)
        run_id = rest.split("-", 1)[0]
        if first != "runbook" or not run_id.isdigit():
            return None
        from trainmaster.duty_records import finish_run, runs
        from trainmaster.locks import EnvironmentLock

        found = [r for r in runs(self.ledger) if r["id"] == int(run_id)]
        if not found:
            return None
        run = found[0]
        if run["status"] == "in_progress" and EnvironmentLock(self.lock_dir, run["environment"]).is_free():
            from trainmaster.ledger_lock import LedgerBusy

            try:
                finish_run(self.ledger, run["id"], "interrupted", run["excerpt"] or "", wait=wait)
            except LedgerBusy:
                deferred.append(f"runbook run #{run['id']} ({run['environment']})")
                return None
        elif run["status"] != "interrupted":
            return None
        return (folder, f"runbook-{run['id']}", f"interrupted runbook run #{run['id']} ({run['runbook']}) in "
                f"{run['environment']}", run["release_id"])

    # -- people ------------------------------------------------------------------------

    def actor(self, by: str | None = None) -> str:
        if by:
            if self.ci.in_ci:
                raise InvalidInput(f"--by is refused inside CI ({self.ci.name}): the actor comes from the CI context")
            return by
        return self.ci.actor()

    def emit(self, hook: str, **kwargs: Any) -> None:
        """Broadcast an event through the plugin manager, one plugin at a time.

        Each plugin is called through its own subset hook caller, so ``TRAINMASTER_TRACE_PLUGINS``
        shows the call like any other hook call; a plugin that raises is a warning naming it, and
        the others still run (in pluggy's order). An event never changes an outcome.
        """
        from trainmaster.plugins import each_plugin

        kwargs.update(config=self.config, secret_resolvers=self.registry.secret_resolvers)
        for plugin, call in each_plugin(self.pm, hook):
            try:
                call(**kwargs)
            except Exception as exc:
                print(f"warning: plugin {plugin!r} failed while handling {hook}: {type(exc).__name__}: {exc}",
                      file=sys.stderr)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
