"""In-process helpers for the decision tests: a config from YAML, releases and deployments in a real
SQLite ledger (their times set where a test needs exact ones), and a project driven through
:func:`trainmaster.deploy.deploy` whose commands log what they ran.
"""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainmaster import hookimpl
from trainmaster.app import App
from trainmaster.config import load_config
from trainmaster.config.model import Config, Environment
from trainmaster.ledger import SqliteLedger
from trainmaster.model import Package, Release

UTC = dt.UTC


def config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "trainmaster.yaml"
    path.write_text("project: demo\npackages: {app: app.bin}\n" + textwrap.dedent(text))
    return load_config(path)


def env(cfg: Config, name: str) -> Environment:
    found = cfg.environment(name)
    assert found is not None
    return found


def make_release(ledger: SqliteLedger, version: str = "1.0.0", created_by: str = "bob") -> Release:
    digest = "sha256:" + version.replace(".", "").ljust(64, "a")[:64]
    release = Release("demo", version, (Package("app", "app.bin", 1, digest),), {"created_by": created_by})
    ledger.insert_release(release, created_by)
    return release


def finished(ledger: SqliteLedger, release: Release, environment: str, at: dt.datetime | None = None,
             status: str = "succeeded", kind: str = "deploy") -> int:
    """Record a finished deployment of ``release`` (that finished at ``at``); returns its id."""
    dep = ledger.start_deployment(release, environment, kind, "ci", {})
    ledger.finish_deployment(dep.id, status, packages={"app": "deployed"})
    if at is not None:
        stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        with ledger.transaction() as conn:  # as if it had finished then: the row and its audit event agree
            conn.execute("UPDATE deployments SET finished_at = ? WHERE id = ?", (stamp, dep.id))
            ledger._audit(conn, "deployment_finished", "ci", environment, {"deployment": dep.id},
                          bound=("deployments", dep.id))
    return dep.id


DEPLOY = ('echo "$TRAINMASTER_VERSION $(cat "$TRAINMASTER_PACKAGE_APP")" >> deployed.log; '
          'test ! -f fail-$TRAINMASTER_VERSION')


class InProcess:
    """A project deployed in-process; each deploy command appends ``<version> <content>`` to ``deployed.log``
    and fails while a file ``fail-<version>`` exists."""

    def __init__(self, root: Path, train: str, defaults: str = "", top: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.write_config(train, defaults, top)
        self.clock: Callable[[], dt.datetime] | None = None

    def write_config(self, train: str, defaults: str = "", top: str = "") -> None:
        (self.root / "trainmaster.yaml").write_text(
            "project: demo\npackages: {app: app.bin}\n"
            f"defaults:\n  deploy: '{DEPLOY}'\n" + textwrap.indent(textwrap.dedent(defaults), "  ")
            + "train:\n" + textwrap.indent(textwrap.dedent(train), "  ") + textwrap.dedent(top))

    def app(self) -> App:
        environ = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        return App(str(self.root / "trainmaster.yaml"), environ=dict(environ, TRAINMASTER_LOAD_PLUGINS=""),
                   clock=self.clock)

    def release(self, version: str, content: str, by: str = "bob") -> Release:
        from trainmaster.publish import create_release

        (self.root / "app.bin").write_text(content)
        app = self.app()
        try:
            release, _ = create_release(app, version, by=by, out=lambda _text: None)
        finally:
            app.ledger.close()
        return release

    def call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        app = self.app()
        try:
            return fn(app, *args, **kw)
        finally:
            app.ledger.close()

    def deploy(self, version: str, env_name: str = "dev", **kw: Any) -> Any:
        from trainmaster.deploy import deploy

        return self.call(deploy, version, env_name, out=lambda _text: None, **kw).deployment

    def rollback(self, env_name: str = "dev", to: str | None = None) -> Any:
        from trainmaster.deploy import rollback

        return self.call(rollback, env_name, to, out=lambda _text: None).deployment

    def ran(self) -> list[str]:
        log = self.root / "deployed.log"
        return log.read_text().splitlines() if log.exists() else []

    def history(self, env_name: str = "dev") -> list[tuple[str, str, str]]:
        return self.call(lambda app: [(d.version, d.kind, d.status) for d in app.ledger.history(env_name)])


class OtherRunner:
    """``ledger: other-runner``: the train's questions answered from another runner's ledger file
    (the plugin behind the ``other_runner`` fixture of ``tests/core/conftest.py``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @hookimpl
    def register_ledgers(self, register: Any) -> None:
        from trainmaster.builtin.sqlite import LocalLedgerView

        register("other-runner", lambda config, local: LocalLedgerView(config, SqliteLedger(self.path)))
