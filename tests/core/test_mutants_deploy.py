"""Deploy-time decisions in-process: the gates a deployment records, what a rollback picks and redeploys.

Each test drives :func:`trainmaster.deploy.deploy` through a real App (store, SQLite ledger, shell
commands) in ``tmp_path``; the commands append ``<version> <content>`` to ``deployed.log``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support.decisions import InProcess
from trainmaster.errors import DeploymentFailed, Refused

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
