"""The train's decisions in-process, with an injected clock: order, approvals, soak, windows, freezes.

Each test builds the config from YAML, records deployments in a real SQLite ledger in
``tmp_path`` (their times set where the test needs exact ones), and asks
:func:`trainmaster.train.pending_gates` (or one check) at chosen instants, boundaries included.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.support.decisions import config, env, make_release
from trainmaster.builtin.sqlite import LocalLedgerView
from trainmaster.config.model import Config, Environment, Freeze, Window
from trainmaster.errors import ConfigError
from trainmaster.interfaces import Approval
from trainmaster.ledger import SqliteLedger, parse_time
from trainmaster.model import Release
from trainmaster.train import _human, check_freeze, check_windows, pending_gates, previous_stage_passed_at

UTC = dt.UTC
T0 = dt.datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # a Monday
MS = dt.timedelta(milliseconds=1)


def succeed(ledger: SqliteLedger, release: Release, environment: str, at: dt.datetime,
            status: str = "succeeded") -> None:
    """Record a finished deployment of ``release`` to ``environment`` that finished at ``at``."""
    dep = ledger.start_deployment(release, environment, "deploy", "ci", {})
    ledger.finish_deployment(dep.id, status, packages={"app": "deployed"})
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with ledger.transaction() as conn:  # as if it had finished then: the row and its audit event agree
        conn.execute("UPDATE deployments SET finished_at = ? WHERE id = ?", (stamp, dep.id))
        ledger._audit(conn, "deployment_finished", "ci", environment, {"deployment": dep.id},
                      bound=("deployments", dep.id))


@pytest.fixture
def ledger(tmp_path: Path) -> SqliteLedger:
    led = SqliteLedger(tmp_path / "state" / "ledger.db")
    yield led  # type: ignore[misc]
    led.close()


def gates(cfg: Config, name: str, release: Release, ledger: SqliteLedger, now: dt.datetime) -> list[str]:
    return pending_gates(cfg, env(cfg, name), release, LocalLedgerView(cfg, ledger), ledger, now)


# -- order ---------------------------------------------------------------------------------------------------

TWO = """\
train:
  - name: dev
  - name: prod
"""

REGIONS = """\
defaults: {{soak: 1h}}
train:
  - stage: regions
    require: {require}
    environments: [{{name: eu}}, {{name: us}}, {{name: ap}}]
  - name: prod
"""


def test_the_first_stage_has_no_gate_and_the_next_waits_for_it(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, TWO)
    release = make_release(ledger)
    assert gates(cfg, "dev", release, ledger, T0) == []
    assert gates(cfg, "prod", release, ledger, T0) == ["1.0.0 has not succeeded in dev (the previous stage) yet"]
    succeed(ledger, release, "dev", T0, status="failed")
    assert gates(cfg, "prod", release, ledger, T0) != []  # a failure does not count
    other = make_release(ledger, "2.0.0")
    succeed(ledger, other, "dev", T0)
    assert gates(cfg, "prod", release, ledger, T0) != []  # another release's success does not count
    succeed(ledger, release, "dev", T0)
    assert gates(cfg, "prod", release, ledger, T0) == []


def test_require_all_waits_for_every_environment_and_soaks_from_the_last(tmp_path: Path,
                                                                          ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, REGIONS.format(require="all"))
    release = make_release(ledger)
    view = LocalLedgerView(cfg, ledger)
    prod = env(cfg, "prod")
    assert previous_stage_passed_at(cfg, prod, release, view) == (None, ["eu", "us", "ap"])
    succeed(ledger, release, "us", T0)
    succeed(ledger, release, "eu", T0 + dt.timedelta(minutes=10))
    assert previous_stage_passed_at(cfg, prod, release, view) == (None, ["ap"])
    assert gates(cfg, "prod", release, ledger, T0 + dt.timedelta(days=1)) == [
        "1.0.0 must first succeed in all of ap (stage 'regions')"]
    succeed(ledger, release, "ap", T0 + dt.timedelta(minutes=5))
    passed, missing = previous_stage_passed_at(cfg, prod, release, view)
    assert (parse_time(passed or ""), missing) == (T0 + dt.timedelta(minutes=10), [])
    last = T0 + dt.timedelta(minutes=10)
    assert gates(cfg, "prod", release, ledger, last + dt.timedelta(hours=1)) == []
    assert gates(cfg, "prod", release, ledger, last + dt.timedelta(hours=1) - MS) == [
        "1.0.0 must soak 1h in the previous stage before prod; 0s to go"]


def test_require_any_opens_with_the_first_success_and_soaks_from_it(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, REGIONS.format(require="any"))
    release = make_release(ledger)
    assert gates(cfg, "prod", release, ledger, T0) == [
        "1.0.0 must first succeed in any one of eu, us, ap (stage 'regions')"]
    succeed(ledger, release, "us", T0)
    succeed(ledger, release, "eu", T0 + dt.timedelta(minutes=30))
    assert gates(cfg, "prod", release, ledger, T0 + dt.timedelta(hours=1)) == []
    assert gates(cfg, "prod", release, ledger, T0 + dt.timedelta(minutes=59)) == [
        "1.0.0 must soak 1h in the previous stage before prod; 1m to go"]


# -- soak ------------------------------------------------------------------------------------------------------


def test_soak_counts_from_the_first_success_and_ends_exactly_at_its_duration(tmp_path: Path,
                                                                              ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, TWO + "    soak: 90m\n")
    release = make_release(ledger)
    succeed(ledger, release, "dev", T0)
    succeed(ledger, release, "dev", T0 + dt.timedelta(hours=1))  # a redeploy does not restart the soak
    assert ledger.succeeded_at(release.id, "dev") == "2025-06-02T12:00:00.000Z"
    end = T0 + dt.timedelta(minutes=90)
    assert gates(cfg, "prod", release, ledger, end) == []
    assert gates(cfg, "prod", release, ledger, end + dt.timedelta(days=30)) == []
    assert gates(cfg, "prod", release, ledger, end - MS) == [
        "1.0.0 must soak 1h30m in the previous stage before prod; 0s to go"]
    assert gates(cfg, "prod", release, ledger, T0 + dt.timedelta(seconds=1)) == [
        "1.0.0 must soak 1h30m in the previous stage before prod; 1h29m59s to go"]


def test_soak_is_not_reported_before_the_order_is_met_nor_in_the_first_stage(tmp_path: Path,
                                                                             ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "defaults: {soak: 1h}\n" + TWO)
    release = make_release(ledger)
    assert gates(cfg, "dev", release, ledger, T0) == []
    assert gates(cfg, "prod", release, ledger, T0) == ["1.0.0 has not succeeded in dev (the previous stage) yet"]


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.4, "0s"), (1, "1s"), (59, "59s"), (59.6, "1m"), (60, "1m"), (61, "1m1s"),
    (3599, "59m59s"), (3600, "1h"), (3601, "1h1s"), (3660, "1h1m"), (90000, "25h"),
])
def test_durations_in_messages(seconds: float, text: str) -> None:
    assert _human(seconds) == text


# -- approvals -------------------------------------------------------------------------------------------------

APPROVALS = """\
train:
  - name: prod
    approvals: {approvals}
"""


def approve(ledger: SqliteLedger, release: Release, actor: str, counts: bool = True) -> None:
    from trainmaster.rounds import record_approval  # what `trainmaster approve` records

    assert record_approval(ledger, Approval(release.id, release.version, "prod", actor, "2025-06-01T00:00:00Z",
                                            counts=counts), release)


def test_approvals_reach_their_count_exactly(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, APPROVALS.format(approvals=2))
    release = make_release(ledger)
    assert gates(cfg, "prod", release, ledger, T0) == [
        "needs 2 approval(s) for 1.0.0 in prod, has 0: run `trainmaster approve 1.0.0 --env prod`"]
    approve(ledger, release, "alice")
    assert gates(cfg, "prod", release, ledger, T0) == [
        "needs 2 approval(s) for 1.0.0 in prod, has 1: run `trainmaster approve 1.0.0 --env prod`"]
    approve(ledger, release, "carol")
    assert gates(cfg, "prod", release, ledger, T0) == []
    other = make_release(ledger, "2.0.0")
    assert len(gates(cfg, "prod", other, ledger, T0)) == 1  # approvals belong to one release


def test_the_creator_does_not_count_unless_self_approval_is_allowed(tmp_path: Path, ledger: SqliteLedger) -> None:
    release = make_release(ledger, created_by="bob")
    approve(ledger, release, "bob")
    cfg = config(tmp_path, APPROVALS.format(approvals=1))
    assert gates(cfg, "prod", release, ledger, T0) == [
        "needs 1 approval(s) for 1.0.0 in prod, has 0: run `trainmaster approve 1.0.0 --env prod`"]
    allowed = config(tmp_path, APPROVALS.format(approvals=1) + "    allow_self_approval: true\n")
    assert gates(allowed, "prod", release, ledger, T0) == []


def test_approvals_are_counted_against_the_current_config_not_the_one_at_approval_time(
        tmp_path: Path, ledger: SqliteLedger) -> None:
    release = make_release(ledger)
    approve(ledger, release, "carol", counts=True)  # carol was in `from` when she approved
    approve(ledger, release, "dave", counts=False)  # dave was not
    now_carol = config(tmp_path, APPROVALS.format(approvals="{count: 1, from: [carol]}"))
    assert gates(now_carol, "prod", release, ledger, T0) == []
    now_erin = config(tmp_path, APPROVALS.format(approvals="{count: 1, from: [erin]}"))
    assert gates(now_erin, "prod", release, ledger, T0) == [
        "needs 1 approval(s) from erin for 1.0.0 in prod, has 0: run `trainmaster approve 1.0.0 --env prod`"]
    now_dave = config(tmp_path, APPROVALS.format(approvals="{count: 2, from: [dave, carol]}"))
    assert gates(now_dave, "prod", release, ledger, T0) == []
    anyone = config(tmp_path, APPROVALS.format(approvals="{count: 2}"))
    assert gates(anyone, "prod", release, ledger, T0) == []


class RemoteApprovalsView(LocalLedgerView):
    """The local ledger, for a system that enforces approvals itself (as GitHub's required reviewers do)."""

    def approvals_enforced_remotely(self, environment: Environment) -> bool:
        return environment.name == "prod"


def test_approvals_enforced_remotely_are_not_counted_locally(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, APPROVALS.format(approvals=1))
    release = make_release(ledger)
    assert pending_gates(cfg, env(cfg, "prod"), release, RemoteApprovalsView(cfg, ledger), ledger, T0) == []
    assert len(pending_gates(cfg, env(cfg, "prod"), release, LocalLedgerView(cfg, ledger), ledger, T0)) == 1


# -- windows ---------------------------------------------------------------------------------------------------


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def opened(windows: str, now: dt.datetime, tmp_path: Path) -> bool:
    cfg = config(tmp_path, f"train:\n  - name: prod\n    windows: {windows}\n")
    return check_windows(env(cfg, "prod"), now) is None


def test_window_boundaries_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    w = "[{days: [mon, tue, wed, thu, fri], hours: '09:00-17:00'}]"
    assert not opened(w, at("2025-06-02T08:59:59.999+00:00"), tmp_path)
    assert opened(w, at("2025-06-02T09:00:00+00:00"), tmp_path)
    assert opened(w, at("2025-06-02T16:59:59.999+00:00"), tmp_path)
    assert not opened(w, at("2025-06-02T17:00:00+00:00"), tmp_path)
    assert not opened(w, at("2025-06-07T10:00:00+00:00"), tmp_path)  # a Saturday
    assert opened(w, at("2025-06-06T10:00:00+00:00"), tmp_path)  # a Friday
    odd = "[{hours: '09:30-17:05'}]"
    assert not opened(odd, at("2025-06-02T09:29:59+00:00"), tmp_path)
    assert opened(odd, at("2025-06-02T09:30:00+00:00"), tmp_path)
    assert opened(odd, at("2025-06-02T17:04:59+00:00"), tmp_path)
    assert not opened(odd, at("2025-06-02T17:05:00+00:00"), tmp_path)


def test_window_message_names_every_window(tmp_path: Path) -> None:
    cfg = config(tmp_path, "train:\n  - name: prod\n    windows: [{days: [mon, fri], hours: '09:30-17:05'}, "
                           "{days: [sat], timezone: Europe/Berlin}]\n")
    assert check_windows(env(cfg, "prod"), at("2025-06-03T12:00:00+00:00")) == (
        "prod is outside its deployment windows (mon,fri 09:30-17:05 UTC; sat 00:00-24:00 Europe/Berlin)")


def test_a_whole_day_window_ends_at_midnight(tmp_path: Path) -> None:
    w = "[{days: [mon]}]"
    assert opened(w, at("2025-06-02T00:00:00+00:00"), tmp_path)
    assert opened(w, at("2025-06-02T23:59:59.999+00:00"), tmp_path)
    assert not opened(w, at("2025-06-03T00:00:00+00:00"), tmp_path)
    assert not opened(w, at("2025-06-01T23:59:59+00:00"), tmp_path)


def test_an_overnight_window_is_two_windows_and_a_reversed_one_is_refused(tmp_path: Path) -> None:
    """Hours never wrap past midnight: 22:00-02:00 is a config error; the night from Friday to
    Saturday is written as Friday 22:00-24:00 plus Saturday 00:00-02:00."""
    with pytest.raises(ConfigError, match="must be after its start"):
        config(tmp_path, "train:\n  - name: prod\n    windows: [{hours: '22:00-02:00'}]\n")
    night = "[{days: [fri], hours: '22:00-24:00'}, {days: [sat], hours: '00:00-02:00'}]"
    fri = "2025-06-06"
    assert not opened(night, at(f"{fri}T21:59:59+00:00"), tmp_path)
    assert opened(night, at(f"{fri}T22:00:00+00:00"), tmp_path)
    assert opened(night, at(f"{fri}T23:59:59+00:00"), tmp_path)
    assert opened(night, at("2025-06-07T00:00:00+00:00"), tmp_path)
    assert opened(night, at("2025-06-07T01:59:59+00:00"), tmp_path)
    assert not opened(night, at("2025-06-07T02:00:00+00:00"), tmp_path)
    assert not opened(night, at("2025-06-07T22:30:00+00:00"), tmp_path)  # Saturday night is not Friday night
    assert not opened(night, at("2025-06-06T01:00:00+00:00"), tmp_path)  # nor is Thursday's


def test_windows_are_read_in_their_own_time_zone_and_weekday(tmp_path: Path) -> None:
    tokyo = "[{days: [mon], hours: '08:00-10:00', timezone: Asia/Tokyo}]"  # UTC+9, no DST
    assert opened(tokyo, at("2025-06-01T23:00:00+00:00"), tmp_path)  # Sunday in UTC, Monday 08:00 in Tokyo
    assert not opened(tokyo, at("2025-06-02T09:00:00+00:00"), tmp_path)  # Monday in UTC, 18:00 in Tokyo
    assert not opened(tokyo, at("2025-06-02T01:00:00+00:00"), tmp_path)  # 10:00 in Tokyo: the end
    york = "[{days: [fri], hours: '20:00-22:00', timezone: America/New_York}]"  # UTC-4 in June
    assert opened(york, at("2025-06-07T00:30:00+00:00"), tmp_path)  # Saturday in UTC, Friday 20:30 there
    assert not opened(york, at("2025-06-06T20:30:00+00:00"), tmp_path)
    assert opened(york, at("2025-06-07T00:30:00+02:00"), tmp_path) is False  # 22:30 UTC: 18:30 there


def test_windows_follow_daylight_saving_time(tmp_path: Path) -> None:
    """Europe/Berlin: CET (UTC+1) until the last Sunday of March, CEST (UTC+2) until the last of October."""
    sundays = "[{days: [sun], hours: '09:00-10:00', timezone: Europe/Berlin}]"
    assert opened(sundays, at("2025-03-23T08:30:00+00:00"), tmp_path)  # 09:30 CET
    assert not opened(sundays, at("2025-03-23T07:30:00+00:00"), tmp_path)
    assert opened(sundays, at("2025-03-30T07:30:00+00:00"), tmp_path)  # 09:30 CEST, the day clocks went forward
    assert not opened(sundays, at("2025-03-30T08:30:00+00:00"), tmp_path)  # 10:30 CEST
    assert opened(sundays, at("2025-10-26T08:30:00+00:00"), tmp_path)  # 09:30 CET, the day clocks went back
    assert not opened(sundays, at("2025-10-26T07:30:00+00:00"), tmp_path)  # 08:30 CET

    skipped = "[{days: [sun], hours: '02:00-03:00', timezone: Europe/Berlin}]"
    minutes = [at("2025-03-30T00:00:00+00:00") + dt.timedelta(minutes=m) for m in range(180)]
    assert not [m for m in minutes if opened(skipped, m, tmp_path)]  # 02:00-03:00 did not exist that night
    minutes = [at("2025-10-26T00:00:00+00:00") + dt.timedelta(minutes=m) for m in range(180)]
    open_at = [m for m in minutes if opened(skipped, m, tmp_path)]
    assert (open_at[0], open_at[-1], len(open_at)) == (  # 02:00-03:00 happened twice: CEST, then CET
        at("2025-10-26T00:00:00+00:00"), at("2025-10-26T01:59:00+00:00"), 120)


def test_a_utc_window_needs_no_time_zone_database(tmp_path: Path) -> None:
    for name in ("UTC", "utc", "Etc/UTC", "Z"):
        window = Window(days=(0,), start_minute=0, end_minute=60, timezone=name)
        prod = Environment(name="prod", stage="prod", stage_index=0, windows=(window,))
        assert check_windows(prod, at("2025-06-02T00:59:00+00:00")) is None
        assert check_windows(prod, at("2025-06-02T01:00:00+00:00")) is not None


# -- freezes ---------------------------------------------------------------------------------------------------


def test_freeze_boundaries_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    cfg = config(tmp_path, "train:\n  - name: prod\n    freeze:\n"
                           "      - {from: '2025-12-20T18:00:00+01:00', to: '2026-01-05T08:00:00+01:00'}\n"
                           "      - {from: '2026-02-01T00:00:00Z', to: '2026-02-02T00:00:00Z'}\n")
    prod = env(cfg, "prod")
    start, end = at("2025-12-20T17:00:00+00:00"), at("2026-01-05T07:00:00+00:00")
    assert check_freeze(prod, start - MS) is None
    assert check_freeze(prod, start) == ("prod is frozen from 2025-12-20T18:00:00+01:00 "
                                         "to 2026-01-05T08:00:00+01:00")
    assert check_freeze(prod, end - MS) is not None
    assert check_freeze(prod, end) is None
    assert check_freeze(prod, at("2026-02-01T12:00:00+00:00")) == (
        "prod is frozen from 2026-02-01T00:00:00+00:00 to 2026-02-02T00:00:00+00:00")
    assert check_freeze(prod, at("2026-02-02T00:00:00+00:00")) is None


def test_every_unmet_gate_is_reported_together(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, TWO + "    approvals: 1\n    soak: 1h\n    windows: [{days: [sat]}]\n"
                                 "    freeze: [{from: '2025-06-01T00:00:00Z', to: '2025-06-03T00:00:00Z'}]\n")
    release = make_release(ledger)
    succeed(ledger, release, "dev", T0 - dt.timedelta(minutes=30))
    reasons = gates(cfg, "prod", release, ledger, T0)
    assert [r.split()[0] for r in reasons] == ["needs", "1.0.0", "prod", "prod"]
    assert "30m to go" in reasons[1] and "outside" in reasons[2] and "frozen" in reasons[3]
    prod = env(cfg, "prod")
    freeze = Freeze(start=T0 + dt.timedelta(days=30), end=T0 + dt.timedelta(days=31))
    open_prod = Environment(name="prod", stage=prod.stage, stage_index=prod.stage_index, freeze=(freeze,))
    assert pending_gates(cfg, open_prod, release, LocalLedgerView(cfg, ledger), ledger, T0) == []
