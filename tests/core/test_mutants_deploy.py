"""Deploy-time decisions in-process: the gates a deployment records, what a rollback picks and redeploys.

Each test drives :func:`trainmaster.deploy.deploy` through a real App (store, SQLite ledger, shell
commands) in ``tmp_path``; the commands append ``<version> <content>`` to ``deployed.log``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.support.decisions import InProcess, OtherRunner
from trainmaster import hookimpl
from trainmaster.builtin.shell import ShellContext
from trainmaster.builtin.sqlite import LocalLedgerView
from trainmaster.errors import DeploymentFailed, Refused
from trainmaster.ledger import SqliteLedger
from trainmaster.plugins import get_plugin_manager

TRAIN = "- name: dev\n- name: prod\n"


def test_the_gates_a_deployment_met_are_judged_at_the_apps_clock(tmp_path: Path) -> None:
    frozen = "- name: dev\n  freeze: [{from: '2000-01-01T00:00:00Z', to: '2999-01-01T00:00:00Z'}]\n"
    p = InProcess(tmp_path / "proj", frozen)
    p.release("1.0.0", "one")
    p.clock = lambda: dt.datetime(1999, 12, 31, 23, 0, tzinfo=dt.UTC)  # before the freeze
    dep = p.deploy("1.0.0")
    assert dep.gates == ["freeze: not frozen"]
    p.clock = lambda: dt.datetime(2000, 1, 1, 0, 0, tzinfo=dt.UTC)
    with pytest.raises(Refused, match="dev is frozen"):
        p.deploy("1.0.0")


def test_a_failed_rollback_is_not_rolled_back_again(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", TRAIN, defaults="on_failure: rollback\n")
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.deploy("1.0.0")
    p.deploy("1.1.0")
    (p.root / "fail-1.0.0").touch()
    with pytest.raises(DeploymentFailed):
        p.rollback()
    assert p.ran() == ["1.0.0 one", "1.1.0 two", "1.0.0 one"]
    assert p.history()[-1] == ("1.0.0", "rollback", "failed")


def test_a_failed_redeploy_rolls_back_to_another_release(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", TRAIN, defaults="on_failure: rollback\n")
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.deploy("1.0.0")
    p.deploy("1.1.0")
    (p.root / "fail-1.1.0").touch()
    with pytest.raises(DeploymentFailed) as failed:
        p.deploy("1.1.0", force=True)  # it succeeded here before, but it is the release that failed now
    assert failed.value.rollback is not None and failed.value.rollback.version == "1.0.0"
    assert p.ran()[-2:] == ["1.1.0 two", "1.0.0 one"]


def test_a_deployment_that_queued_re_hashes_the_store_once_it_holds_the_lock(tmp_path: Path) -> None:
    import os
    import stat
    import threading

    from trainmaster.errors import DigestMismatch
    from trainmaster.locks import EnvironmentLock

    p = InProcess(tmp_path / "proj", "- name: dev\n  concurrency: wait\n")
    release = p.release("1.0.0", "one")
    app = p.app()
    stored, queue, locks = app.store.path_for(release.packages[0].digest), app.state_dir / "queue", app.lock_dir
    app.ledger.close()
    errors: list[BaseException] = []

    def deploy() -> None:
        try:
            p.deploy("1.0.0")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    with EnvironmentLock(locks, "dev") as busy:
        assert busy.acquire(wait=False)
        worker = threading.Thread(target=deploy)
        worker.start()
        for _ in range(3000):  # until the deployment has verified the store and queued for the lock
            if list(queue.glob("*.json")) or not worker.is_alive():
                break
            threading.Event().wait(0.01)
        assert list(queue.glob("*.json")), errors
        os.chmod(stored, stat.S_IRUSR | stat.S_IWUSR)
        stored.write_text("tampered while it queued")
    worker.join(60)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], DigestMismatch), errors
    assert p.ran() == [] and p.history() == []


def test_a_rollback_may_go_to_a_release_that_succeeded_on_another_runner(tmp_path: Path,
                                                                        other_runner: SqliteLedger) -> None:
    p = InProcess(tmp_path / "proj", TRAIN, top="ledger: other-runner\n")
    one = p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    other_runner.insert_release(one, "ci")
    dep = other_runner.start_deployment(one, "dev", "deploy", "ci", {})
    other_runner.finish_deployment(dep.id, "succeeded", packages={"app": "deployed"})
    with pytest.raises(Refused, match="1.1.0 never succeeded in dev"):
        p.rollback(to="1.1.0")
    back = p.rollback(to="1.0.0")
    assert (back.version, back.kind, back.status) == ("1.0.0", "rollback", "succeeded")
    assert p.ran() == ["1.0.0 one"]


def test_after_a_failed_release_the_last_good_one_is_deployed_again_not_skipped(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", TRAIN)
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.deploy("1.0.0")
    (p.root / "fail-1.1.0").touch()
    with pytest.raises(DeploymentFailed):
        p.deploy("1.1.0")  # dev may hold some of 1.1.0 now
    again = p.deploy("1.0.0")
    assert again.packages == {"app": "deployed"}
    assert p.ran() == ["1.0.0 one", "1.1.0 two", "1.0.0 one"]


class StoppingView(LocalLedgerView):
    """A remote ledger that can stop at the newest success (``last_success``), as the GitHub ledger does."""

    def last_success(self, environment: str, *, exclude_release: str | None = None) -> Any:
        return self.local.last_success(environment, exclude_release=exclude_release)


class StoppingRunner(OtherRunner):
    @hookimpl
    def register_ledgers(self, register: Any) -> None:
        register("stopping", lambda config, local: StoppingView(config, SqliteLedger(self.path)))


def test_the_remote_newest_success_leaves_out_the_release_asked_to_exclude(tmp_path: Path) -> None:
    from trainmaster.deploy import last_good

    remote = SqliteLedger(tmp_path / "other" / "ledger.db")
    pm = get_plugin_manager()
    pm.register(StoppingRunner(remote.path), name="stopping")
    try:
        p = InProcess(tmp_path / "proj", TRAIN, top="ledger: stopping\n")
        one, two = p.release("1.0.0", "one"), p.release("1.1.0", "two")
        for release in (one, two):
            remote.insert_release(release, "ci")
            dep = remote.start_deployment(release, "dev", "deploy", "ci", {})
            remote.finish_deployment(dep.id, "succeeded", packages={"app": "deployed"})
        found = p.call(last_good, "dev", exclude_release=two.id)
        assert found is not None and found.version == "1.0.0"
        assert p.rollback().version == "1.0.0"  # 1.1.0 is in place (remotely): back to the one before
    finally:
        pm.unregister(name="stopping")
        remote.close()


def test_a_changed_smoke_command_is_a_change_that_deploys_again(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", "- name: dev\n  smoke: 'true'\n")
    p.release("1.0.0", "one")
    p.deploy("1.0.0")
    assert p.deploy("1.0.0").packages == {"app": "skipped"}
    p.write_config("- name: dev\n  smoke: 'test -f app.bin'\n")
    assert p.deploy("1.0.0").packages == {"app": "deployed"}
    assert p.ran() == ["1.0.0 one", "1.0.0 one"]


def test_a_deployment_queued_behind_a_deployer_that_died_stops_the_commands_it_left(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import threading

    from trainmaster.locks import EnvironmentLock

    p = InProcess(tmp_path / "proj", "- name: dev\n  concurrency: wait\n")
    release = p.release("1.0.0", "one")
    app = p.app()
    stale = app.ledger.start_deployment(release, "dev", "deploy", "ci", {})  # its deployer holds the lock
    locks, queue = app.lock_dir, app.state_dir / "queue"
    app.ledger.close()
    markers = {"TRAINMASTER_DEPLOYMENT_ID": str(stale.id), "TRAINMASTER_ENVIRONMENT": "dev",
               "TRAINMASTER_PROJECT": "demo"}
    orphan = subprocess.Popen(["/bin/sh", "-c", "sleep 60; true"], env={"PATH": os.environ["PATH"], **markers},
                              start_new_session=True)
    errors: list[BaseException] = []

    def deploy() -> None:
        try:
            p.deploy("1.0.0")
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    try:
        holder = EnvironmentLock(locks, "dev")
        assert holder.acquire(wait=False)
        holder.note_deployment(stale.id)
        holder.note_command(orphan.pid)
        worker = threading.Thread(target=deploy)
        worker.start()
        for _ in range(3000):  # until the deployment queued for the lock
            if list(queue.glob("*.json")) or not worker.is_alive():
                break
            threading.Event().wait(0.01)
        holder.release()  # as when its process dies: the file keeps what it recorded
        worker.join(60)
        assert not worker.is_alive() and errors == []
        assert orphan.wait(20) == -signal.SIGKILL
        assert [(v, s) for v, _, s in p.history()] == [("1.0.0", "interrupted"), ("1.0.0", "succeeded")]
    finally:
        if orphan.poll() is None:
            os.killpg(orphan.pid, signal.SIGKILL)
            orphan.wait()


class Outputs(ShellContext):
    """The CI's step outputs, recorded."""

    def __init__(self, environ: Any) -> None:
        super().__init__(environ)
        self.outputs: dict[str, str] = {}

    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value


def test_the_step_outputs_describe_the_deployment_asked_for(tmp_path: Path) -> None:
    from trainmaster.deploy import deploy

    p = InProcess(tmp_path / "proj", TRAIN, defaults="on_failure: rollback\n")
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.deploy("1.0.0")
    (p.root / "fail-1.1.0").touch()
    app = p.app()
    ci = app.__dict__["ci"] = Outputs(app.environ)
    try:
        with pytest.raises(DeploymentFailed):
            deploy(app, "1.1.0", "dev", out=lambda _text: None)
    finally:
        app.ledger.close()
    assert (ci.outputs["version"], ci.outputs["status"]) == ("1.1.0", "failed")  # not the rollback that followed


def test_a_busy_environment_names_its_own_deployment(tmp_path: Path) -> None:
    from trainmaster.locks import EnvironmentLock

    p = InProcess(tmp_path / "proj", TRAIN)
    release = p.release("1.0.0", "one")
    app = p.app()
    prod = app.ledger.start_deployment(release, "prod", "deploy", "carol", {})
    dev = app.ledger.start_deployment(release, "dev", "deploy", "dave", {})
    locks = app.lock_dir
    app.ledger.close()
    with EnvironmentLock(locks, "prod") as held_prod, EnvironmentLock(locks, "dev") as held_dev:
        assert held_prod.acquire(wait=False) and held_dev.acquire(wait=False)
        with pytest.raises(Refused, match=rf"dev is busy: deployment #{dev.id} of 1.0.0 by dave since"):
            p.deploy("1.0.0")
    assert prod.id != dev.id
