"""Deploy-time decisions in-process: what is skipped, what a rollback picks, the clock the gates see.

Each test drives :func:`trainmaster.deploy.deploy` and :func:`~trainmaster.deploy.rollback`
through a real :class:`~trainmaster.app.App` (real store, real SQLite ledger, real shell
commands) in ``tmp_path``. Every deploy command appends ``<version> <artefact content>`` to
``deployed.log``, so a test sees exactly which commands ran; a file ``fail-<version>`` makes
that version's command fail.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trainmaster.app import App
from trainmaster.deploy import deploy, last_good, rollback
from trainmaster.errors import DeploymentFailed, DigestMismatch, Refused
from trainmaster.ledger import SqliteLedger
from trainmaster.locks import EnvironmentLock
from trainmaster.model import Package, Release
from trainmaster.publish import create_release

DEPLOY = ('echo "$TRAINMASTER_VERSION $(cat "$TRAINMASTER_PACKAGE_APP")" >> deployed.log; '
          'test ! -f fail-$TRAINMASTER_VERSION')


class Project:
    def __init__(self, root: Path, extra: str = "", on_failure: str = "stop") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "trainmaster.yaml").write_text(textwrap.dedent(f"""\
            project: demo
            packages: {{app: app.bin}}
            defaults:
              deploy: '{DEPLOY}'
              on_failure: {on_failure}
            train:
              - name: dev
              - name: prod
            """) + extra)
        self.clock: Callable[[], dt.datetime] | None = None

    def app(self) -> App:
        environ = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        return App(str(self.root / "trainmaster.yaml"), environ=dict(environ, TRAINMASTER_LOAD_PLUGINS=""),
                   clock=self.clock)

    def release(self, version: str, content: str) -> Release:
        (self.root / "app.bin").write_text(content)
        app = self.app()
        release, created = create_release(app, version, by="bob", out=lambda _text: None)
        assert created
        app.ledger.close()
        return release

    def deploy(self, version: str, env: str = "dev", **kw: Any) -> Any:
        app = self.app()
        try:
            return deploy(app, version, env, out=lambda _text: None, **kw).deployment
        finally:
            app.ledger.close()

    def rollback(self, env: str = "dev", to: str | None = None) -> Any:
        app = self.app()
        try:
            return rollback(app, env, to, out=lambda _text: None).deployment
        finally:
            app.ledger.close()

    def ran(self) -> list[str]:
        log = self.root / "deployed.log"
        return log.read_text().splitlines() if log.exists() else []

    def history(self, env: str = "dev") -> list[tuple[str, str, str]]:
        app = self.app()
        try:
            return [(d.version, d.kind, d.status) for d in app.ledger.history(env)]
        finally:
            app.ledger.close()


@pytest.fixture
def p(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


# -- what is skipped -------------------------------------------------------------------------------------------


def test_an_unchanged_package_is_skipped_only_after_a_success(p: Project) -> None:
    p.release("1.0.0", "one")
    (p.root / "fail-1.0.0").touch()
    with pytest.raises(DeploymentFailed):
        p.deploy("1.0.0")
    (p.root / "fail-1.0.0").unlink()
    p.deploy("1.0.0")  # the retry after a failure runs the command again
    assert p.ran() == ["1.0.0 one", "1.0.0 one"]
    skipped = p.deploy("1.0.0")  # now it is in place: nothing to do
    assert (skipped.status, skipped.packages) == ("succeeded", {"app": "skipped"})
    assert p.ran() == ["1.0.0 one", "1.0.0 one"]
    p.deploy("1.0.0", force=True)
    assert p.ran() == ["1.0.0 one"] * 3
    assert p.history() == [("1.0.0", "deploy", "failed")] + [("1.0.0", "deploy", "succeeded")] * 3


def test_a_change_of_variables_or_content_is_deployed(p: Project) -> None:
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.deploy("1.0.0")
    p.deploy("1.1.0")
    assert p.ran() == ["1.0.0 one", "1.1.0 two"]
    (p.root / "trainmaster.yaml").write_text((p.root / "trainmaster.yaml").read_text().replace(
        "  - name: dev\n", "  - name: dev\n    variables: {COLOUR: blue}\n"))
    p.deploy("1.1.0")
    assert p.ran() == ["1.0.0 one", "1.1.0 two", "1.1.0 two"]


def test_the_same_content_under_a_new_version_is_skipped_but_a_rollback_redeploys(p: Project) -> None:
    p.release("1.0.0", "same")
    p.release("1.0.1", "same")  # a rebuild with identical bytes
    p.deploy("1.0.0")
    assert p.deploy("1.0.1").packages == {"app": "skipped"}
    back = p.rollback()
    assert (back.version, back.kind, back.status, back.packages) == ("1.0.0", "rollback", "succeeded",
                                                                     {"app": "deployed"})
    again = p.rollback(to="1.0.0")  # to the version already in place: still redeployed
    assert again.packages == {"app": "deployed"}
    assert p.ran() == ["1.0.0 same"] * 3


# -- what a rollback picks -------------------------------------------------------------------------------------


def test_rollback_goes_to_the_newest_other_good_release(p: Project) -> None:
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        p.release(version, version)
    with pytest.raises(Refused, match="nothing was ever deployed to dev"):
        p.rollback()
    p.deploy("1.0.0")
    with pytest.raises(Refused, match="no earlier successful release"):
        p.rollback()
    p.deploy("1.1.0")
    (p.root / "fail-1.2.0").touch()
    with pytest.raises(DeploymentFailed):
        p.deploy("1.2.0")
    with pytest.raises(Refused, match="1.2.0 never succeeded in dev"):
        p.rollback(to="1.2.0")
    assert p.rollback().version == "1.1.0"  # the current attempt failed: back to the last success
    assert p.rollback().version == "1.0.0"  # 1.1.0 is in place now: back to the one before
    assert p.rollback().version == "1.1.0"
    assert p.rollback(to="1.1.0").version == "1.1.0"
    assert p.ran()[-4:] == ["1.1.0 1.1.0", "1.0.0 1.0.0", "1.1.0 1.1.0", "1.1.0 1.1.0"]
    (p.root / "fail-1.1.0").touch()
    with pytest.raises(DeploymentFailed):
        p.deploy("1.1.0", force=True)
    (p.root / "fail-1.1.0").unlink()
    assert p.rollback().version == "1.1.0"  # its last success is still the last good release


def test_a_failure_rolls_back_to_the_last_good_release(tmp_path: Path) -> None:
    p = Project(tmp_path / "proj", on_failure="rollback")
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.release("1.2.0", "three")
    p.deploy("1.0.0")
    p.deploy("1.1.0")
    (p.root / "fail-1.2.0").touch()
    with pytest.raises(DeploymentFailed) as failed:
        p.deploy("1.2.0")
    assert failed.value.rollback is not None and failed.value.rollback.version == "1.1.0"
    assert p.ran() == ["1.0.0 one", "1.1.0 two", "1.2.0 three", "1.1.0 two"]
    assert p.history()[-2:] == [("1.2.0", "deploy", "failed"), ("1.1.0", "rollback", "succeeded")]


def test_the_automatic_rollback_re_hashes_what_it_redeploys(tmp_path: Path) -> None:
    p = Project(tmp_path / "proj", on_failure="rollback")
    good = p.release("1.0.0", "good")
    p.release("1.1.0", "bad")
    p.deploy("1.0.0")
    app = p.app()
    stored = app.store.path_for(good.packages[0].digest)
    app.ledger.close()
    os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
    stored.write_text("tampered")
    (p.root / "fail-1.1.0").touch()
    with pytest.raises(DigestMismatch, match="package 'app' stored file .* not the pinned"):
        p.deploy("1.1.0")
    assert p.ran() == ["1.0.0 good", "1.1.0 bad"]  # the tampered file was never deployed
    assert p.history() == [("1.0.0", "deploy", "succeeded"), ("1.1.0", "deploy", "failed")]


# -- the remote ledger answers what this runner has not seen ----------------------------------------------------


def _record(ledger: SqliteLedger, version: str, status: str, env: str = "dev") -> Release:
    release = Release("demo", version, (Package("app", "app.bin", 1, "sha256:" + version[0] * 64),))
    ledger.insert_release(release, "ci")
    dep = ledger.start_deployment(release, env, "deploy", "ci", {})
    ledger.finish_deployment(dep.id, status, packages={"app": "deployed"})
    return release


def test_last_good_reads_the_remote_history_newest_first(tmp_path: Path, other_runner: SqliteLedger) -> None:
    p = Project(tmp_path / "proj", "ledger: other-runner\n")
    first = _record(other_runner, "1.0.0", "succeeded")
    second = _record(other_runner, "2.0.0", "succeeded")
    _record(other_runner, "3.0.0", "failed")
    _record(other_runner, "4.0.0", "succeeded", env="prod")
    app = p.app()
    found = last_good(app, "dev")
    assert found is not None and found.release_id == second.id
    found = last_good(app, "dev", exclude_release=second.id)
    assert found is not None and found.release_id == first.id
    assert last_good(app, "dev", exclude_release=first.id) is not None
    assert last_good(app, "test-nothing") is None
    app.ledger.close()


def test_the_local_ledger_answers_first(tmp_path: Path, other_runner: SqliteLedger) -> None:
    p = Project(tmp_path / "proj", "ledger: other-runner\n")
    mine = p.release("9.0.0", "mine")
    app = p.app()
    dep = app.ledger.start_deployment(mine, "dev", "deploy", "me", {})
    app.ledger.finish_deployment(dep.id, "succeeded", packages={"app": "deployed"})
    _record(other_runner, "10.0.0", "succeeded")
    found = last_good(app, "dev")
    assert found is not None and found.version == "9.0.0"
    remote = last_good(app, "dev", exclude_release=mine.id)
    assert remote is not None and remote.version == "10.0.0"
    app.ledger.close()


def test_with_the_sqlite_ledger_there_is_no_other_history(p: Project) -> None:
    p.release("1.0.0", "one")
    p.deploy("1.0.0")
    app = p.app()
    assert last_good(app, "dev") is not None
    assert last_good(app, "dev", exclude_release=app.ledger.latest("dev").release_id) is None  # type: ignore[union-attr]
    app.ledger.close()


# -- the clock the gates see -----------------------------------------------------------------------------------


def test_deploy_checks_windows_at_the_apps_clock(tmp_path: Path) -> None:
    p = Project(tmp_path / "proj", "    windows: [{days: [mon], hours: '09:00-17:00', timezone: Europe/Berlin}]\n")
    p.release("1.0.0", "one")
    p.deploy("1.0.0")
    p.clock = lambda: dt.datetime(2025, 6, 2, 15, 0, tzinfo=dt.UTC)  # Monday 17:00 in Berlin: closed
    with pytest.raises(Refused, match="prod is outside its deployment windows"):
        p.deploy("1.0.0", "prod")
    app = p.app()
    from trainmaster.status import environment_status

    status = {row.name: row.to_json() for row in environment_status(app)}
    app.ledger.close()
    assert any("outside its deployment windows" in reason for reason in status["prod"]["pending"]), status
    assert p.history("prod") == []
    app = p.app()
    with EnvironmentLock(app.lock_dir, "prod") as busy:  # a closed gate is reported before a busy environment
        assert busy.acquire(wait=False)
        with pytest.raises(Refused, match="outside its deployment windows"):
            p.deploy("1.0.0", "prod")
    app.ledger.close()
    p.clock = lambda: dt.datetime(2025, 6, 2, 14, 59, tzinfo=dt.UTC)  # 16:59 in Berlin: open
    assert p.deploy("1.0.0", "prod").status == "succeeded"
    p.clock = lambda: dt.datetime(2025, 6, 2, 15, 0, tzinfo=dt.UTC)
    back = p.rollback("prod", to="1.0.0")  # a rollback restores a known good release whatever the gates
    assert (back.kind, back.status) == ("rollback", "succeeded")
