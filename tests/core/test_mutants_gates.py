"""The gates as ``status`` describes them, at their boundaries and in their own time zones.

:func:`trainmaster.gates.describe_gates` must agree with the deploy's decision
(:func:`trainmaster.train.pending_gates`) at every instant, and say when a closed gate opens.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.decisions import config, env, finished, make_release
from trainmaster.builtin.sqlite import LocalLedgerView
from trainmaster.config.model import Config, Environment, Window
from trainmaster.gates import Gate, describe_gates, next_opening
from trainmaster.interfaces import Approval
from trainmaster.ledger import SqliteLedger
from trainmaster.model import Release
from trainmaster.rounds import record_approval
from trainmaster.train import pending_gates

UTC = dt.UTC
T0 = dt.datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # a Monday
MS = dt.timedelta(milliseconds=1)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    led = SqliteLedger(tmp_path / "state" / "ledger.db")
    yield led
    led.close()


def described(cfg: Config, name: str, release: Release, ledger: SqliteLedger, now: dt.datetime) -> dict[str, Gate]:
    gates = describe_gates(cfg, env(cfg, name), release, LocalLedgerView(cfg, ledger), ledger, now)
    return {g.kind: g for g in gates}


def test_a_window_that_already_closed_today_opens_again_next_week() -> None:
    monday = Window(days=(0,), start_minute=9 * 60, end_minute=10 * 60)
    assert next_opening((monday,), T0) == dt.datetime(2025, 6, 9, 9, 0, tzinfo=UTC)
    assert next_opening((monday,), T0.replace(hour=8)) == T0.replace(hour=9)


def test_the_next_opening_is_in_the_windows_own_time_zone() -> None:
    tokyo = Window(days=(0,), start_minute=8 * 60, end_minute=10 * 60, timezone="Asia/Tokyo")  # UTC+9
    sunday = dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # Sunday 21:00 in Tokyo
    assert next_opening((tokyo,), sunday) == dt.datetime(2025, 6, 1, 23, 0, tzinfo=UTC)  # Monday 08:00 there
    berlin = Window(days=(0,), start_minute=9 * 60, end_minute=17 * 60, timezone="Europe/Berlin")  # UTC+2 in June
    assert next_opening((berlin,), T0.replace(hour=5)) == T0.replace(hour=7)


def test_status_says_when_a_closed_window_opens(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "train:\n  - name: prod\n"
                           "    windows: [{days: [mon], hours: '09:00-10:00', timezone: America/New_York}]\n")
    release = make_release(ledger)
    assert list(described(cfg, "prod", release, ledger, T0)) == ["window"]  # no approvals gate without approvals
    closed = described(cfg, "prod", release, ledger, T0)["window"]  # Monday 08:00 in New York
    assert (closed.met, closed.until, closed.left) == (False, "2025-06-02T13:00:00.000Z", 3600)
    inside = described(cfg, "prod", release, ledger, T0 + dt.timedelta(hours=1))["window"]
    assert inside.met and inside.until is None


def test_the_approvals_gate_is_met_at_exactly_its_count(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "train:\n  - name: prod\n    approvals: {count: 2, from: [alice, carol, dave]}\n")
    release = make_release(ledger)
    for actor in ("alice", "carol"):
        assert record_approval(ledger, Approval(release.id, release.version, "prod", actor, "2025-06-01T00:00:00Z"),
                               release)
        gate = described(cfg, "prod", release, ledger, T0)["approvals"]
        assert gate.met is (actor == "carol"), gate
    assert gate.detail == "2/2 approval(s): alice, carol"
    assert pending_gates(cfg, env(cfg, "prod"), release, LocalLedgerView(cfg, ledger), ledger, T0) == []


def test_the_soak_gate_is_met_at_exactly_its_end(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "train:\n  - name: dev\n  - name: prod\n    soak: 1h\n")
    release = make_release(ledger)
    finished(ledger, release, "dev", T0)
    end = T0 + dt.timedelta(hours=1)
    before = described(cfg, "prod", release, ledger, end - MS)["soak"]
    assert (before.met, before.until) == (False, "2025-06-02T13:00:00.000Z")
    at_end = described(cfg, "prod", release, ledger, end)["soak"]
    assert (at_end.met, at_end.detail, at_end.until) == (True, "soaked 1h", None)


def test_a_frozen_environment_names_the_end_of_the_freeze_in_force(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "train:\n  - name: prod\n    freeze:\n"
                           "      - {from: '2025-05-01T00:00:00Z', to: '2025-05-02T00:00:00Z'}\n"
                           "      - {from: '2025-06-01T00:00:00Z', to: '2025-06-03T00:00:00Z'}\n")
    release = make_release(ledger)
    gate = described(cfg, "prod", release, ledger, T0)["freeze"]
    assert (gate.met, gate.until) == (False, "2025-06-03T00:00:00.000Z")
    assert gate.left == 12 * 3600


class RemoteApprovalsView(LocalLedgerView):
    """A system that enforces the approvals of ``prod`` itself (GitHub's required reviewers), not of ``test``."""

    def approvals_enforced_remotely(self, environment: Environment) -> bool:
        return environment.name == "prod"


def test_only_the_environments_the_remote_enforces_skip_the_local_approvals(tmp_path: Path,
                                                                           ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "train:\n  - name: test\n    approvals: 1\n  - name: prod\n    approvals: 1\n")
    release = make_release(ledger)
    view = RemoteApprovalsView(cfg, ledger)
    finished(ledger, release, "test", T0 - dt.timedelta(days=1))
    assert pending_gates(cfg, env(cfg, "prod"), release, view, ledger, T0) == []
    assert pending_gates(cfg, env(cfg, "test"), release, view, ledger, T0) == [
        "needs 1 approval(s) for 1.0.0 in test, has 0: run `trainmaster approve 1.0.0 --env test`"]
    kinds = [g.kind for g in describe_gates(cfg, env(cfg, "test"), release, view, ledger, T0)]
    assert kinds == ["approvals"]


def test_who_may_still_approve_without_a_from_list(tmp_path: Path, ledger: SqliteLedger) -> None:
    release = make_release(ledger, created_by="bob")
    cfg = config(tmp_path, "train:\n  - name: prod\n    approvals: 1\n")
    gate = described(cfg, "prod", release, ledger, T0)["approvals"]
    assert (gate.met, gate.detail, gate.may_approve) == (False, "0/1 approval(s); may approve: anyone but bob", ())
    selfish = config(tmp_path, "train:\n  - name: prod\n    approvals: 1\n    allow_self_approval: true\n")
    gate = described(selfish, "prod", release, ledger, T0)["approvals"]
    assert gate.detail == "0/1 approval(s); may approve: anyone"
    named = config(tmp_path, "train:\n  - name: prod\n    approvals: {count: 1, from: [alice, bob]}\n")
    gate = described(named, "prod", release, ledger, T0)["approvals"]
    assert (gate.detail, gate.may_approve) == ("0/1 approval(s); may approve: alice", ("alice",))


def test_each_approval_keeps_whether_it_counted_when_it_was_given(tmp_path: Path, ledger: SqliteLedger) -> None:
    from trainmaster.rounds import record_approval  # what `trainmaster approve` records

    release = make_release(ledger)
    for actor, counts in (("alice", True), ("mallory", False)):
        assert record_approval(ledger, Approval(release.id, release.version, "prod", actor, "2025-06-01T00:00:00Z",
                                                counts=counts), release)
    assert [(a.actor, a.counts) for a in ledger.approvals(release.id, "prod")] == [("alice", True),
                                                                                   ("mallory", False)]


def test_the_newest_rejection_is_the_one_named(tmp_path: Path, ledger: SqliteLedger) -> None:
    from trainmaster.rounds import record_approval, reject

    cfg = config(tmp_path, "train:\n  - name: prod\n    approvals: 1\n")
    release = make_release(ledger)
    reject(ledger, release, "prod", "carol", "2025-06-01T00:00:00Z", "CVE-1")
    assert record_approval(ledger, Approval(release.id, release.version, "prod", "alice", "2025-06-01T01:00:00Z"),
                           release)
    assert pending_gates(cfg, env(cfg, "prod"), release, LocalLedgerView(cfg, ledger), ledger, T0) == []
    reject(ledger, release, "prod", "dave", "2025-06-01T02:00:00Z", "")
    (reason,) = pending_gates(cfg, env(cfg, "prod"), release, LocalLedgerView(cfg, ledger), ledger, T0)
    assert reason.startswith("1.0.0 was rejected in prod by dave at 2025-06-01T02:00:00Z; a new round"), reason
    gate = described(cfg, "prod", release, ledger, T0)["approvals"]
    assert gate.detail == "0/1 approval(s); rejected by dave, a new round; may approve: anyone but bob"
