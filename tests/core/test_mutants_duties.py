"""The release duties' decisions in-process: sign-off across a stage, metric bounds, gate sampling."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.decisions import InProcess, config, env, finished, make_release
from trainmaster.builtin.sqlite import LocalLedgerView
from trainmaster.config.model import Config, Gate, Gates, MetricBound
from trainmaster.duty_records import record_signoff
from trainmaster.errors import DeploymentFailed
from trainmaster.ledger import SqliteLedger
from trainmaster.masking import Masker
from trainmaster.model import Release
from trainmaster.quality_gates import GateResult, check_body, http_check, json_path, wait_for_gates
from trainmaster.signoff import check_signoffs
from trainmaster.verify import evaluate, regress_limit

T0 = dt.datetime(2025, 6, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[SqliteLedger]:
    led = SqliteLedger(tmp_path / "state" / "ledger.db")
    yield led
    led.close()


# -- sign-off --------------------------------------------------------------------------------------------------

REGIONS = """\
train:
  - stage: regions
    require: {require}
    environments:
      - {{name: eu, signoff: {{count: {count}, from: [alice, carol]}}}}
      - {{name: us}}
  - name: prod
"""


def signoff_gate(cfg: Config, release: Release, ledger: SqliteLedger) -> str | None:
    return check_signoffs(cfg, env(cfg, "prod"), release, LocalLedgerView(cfg, ledger), ledger)


def sign(ledger: SqliteLedger, release: Release, actor: str, environment: str = "eu") -> None:
    assert record_signoff(ledger, release.id, release.version, environment, actor, "", True)


def test_require_any_is_not_met_by_an_environment_the_release_never_reached(tmp_path: Path,
                                                                            ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, REGIONS.format(require="any", count=1))
    release = make_release(ledger)
    finished(ledger, release, "eu", T0)  # us needs no sign-off, but the release is not there
    assert signoff_gate(cfg, release, ledger) == (
        "1.0.0 needs 1 sign-off(s) from alice, carol in eu before it may leave it, has 0: "
        "run `trainmaster signoff 1.0.0 --env eu`")
    sign(ledger, release, "alice")
    assert signoff_gate(cfg, release, ledger) is None


def test_require_any_is_met_by_one_environment_that_needs_no_sign_off(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, REGIONS.format(require="any", count=1))
    release = make_release(ledger)
    finished(ledger, release, "eu", T0)
    finished(ledger, release, "us", T0)
    assert signoff_gate(cfg, release, ledger) is None
    every = config(tmp_path, REGIONS.format(require="all", count=1))
    assert signoff_gate(every, release, ledger) is not None


def test_sign_offs_reach_their_count_exactly(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, REGIONS.format(require="all", count=2))
    release = make_release(ledger)
    finished(ledger, release, "eu", T0)
    finished(ledger, release, "us", T0)
    sign(ledger, release, "alice")
    gate = signoff_gate(cfg, release, ledger)
    assert gate is not None and "needs 2 sign-off(s) from alice, carol in eu" in gate and "has 1" in gate
    sign(ledger, release, "carol")
    assert signoff_gate(cfg, release, ledger) is None


# -- performance verification ------------------------------------------------------------------------------------


def test_a_metric_with_both_bounds_regresses_upwards() -> None:
    both = MetricBound(min=10, max=500, regress=0.10, relative=True)
    assert regress_limit(both, 200) == pytest.approx(220)
    results = evaluate((("latency", both),), {"latency": 150}, {"latency": 200})  # better: lower
    assert results[0].ok, results
    assert not evaluate((("latency", both),), {"latency": 221}, {"latency": 200})[0].ok


def test_a_relative_regress_of_a_negative_baseline_allows_its_magnitude() -> None:
    score = MetricBound(max=100, regress=0.5, relative=True)
    assert regress_limit(score, -10) == pytest.approx(-5)
    assert evaluate((("score", score),), {"score": -6}, {"score": -10})[0].ok
    assert not evaluate((("score", score),), {"score": -4}, {"score": -10})[0].ok


def test_the_absolute_bounds_are_inclusive() -> None:
    bounds = (("p95_ms", MetricBound(max=300)), ("rps", MetricBound(min=100)))
    assert all(r.ok for r in evaluate(bounds, {"p95_ms": 300, "rps": 100}, None))
    assert [r.ok for r in evaluate(bounds, {"p95_ms": 300.5, "rps": 99.5}, None)] == [False, False]


def test_the_regress_bound_is_inclusive_in_both_directions() -> None:
    up = (("p95_ms", MetricBound(max=1000, regress=20)),)
    assert evaluate(up, {"p95_ms": 220}, {"p95_ms": 200})[0].ok
    down = (("rps", MetricBound(min=1, regress=20)),)
    assert evaluate(down, {"rps": 180}, {"rps": 200})[0].ok
    assert evaluate(down, {"rps": 900}, {"rps": 200})[0].ok  # more throughput is never a regression


# -- quality gates ---------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_sample_at_exactly_the_timeout_is_still_taken() -> None:
    clock, samples = Clock(), list[list[GateResult]]()
    calls = iter([False, False, True])
    ok, _, count = wait_for_gates(Gates((Gate("a", command="a"),), every=10, timeout=20),
                                  lambda gate: GateResult(gate.name, next(calls)), samples.append,
                                  wait=True, clock=clock, sleep=clock.sleep)
    assert (ok, count, clock.now) == (True, 3, 20)


def test_json_paths_index_lists_only_within_them() -> None:
    body = {"checks": [{"ok": True}]}
    assert json_path(body, "checks.0.ok") is True
    assert check_body(body, (("checks.1.ok", True),)) == "checks.1.ok is missing from the answer"
    assert check_body({"on": 1}, (("on", True),)) == "on is 1, expected True"
    assert check_body({"on": True}, (("on", 1),)) == "on is True, expected 1"


class _Answers(BaseHTTPRequestHandler):
    """``/<status>`` answers that status with ``{"ok": true}``."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server interface
        body = b'{"ok": true}'
        self.send_response(int(self.path.strip("/")))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def answers() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_http_gate_passes_only_on_the_status_it_expects(answers: str) -> None:
    masker = Masker()
    assert http_check(Gate("up", http=f"{answers}/200"), masker) == GateResult("up", True, "HTTP 200")
    assert http_check(Gate("gone", http=f"{answers}/200", expect=204), masker) == GateResult(
        "gone", False, "HTTP 200, expected 204")
    assert http_check(Gate("down", http=f"{answers}/503", expect=503, json=(("ok", True),)), masker).ok
    assert not http_check(Gate("up", http=f"{answers}/503"), masker).ok


# -- verification in a deployment ------------------------------------------------------------------------------

VERIFY = """\
verify:
  command: 'cp metrics-$TRAINMASTER_VERSION.json "$TRAINMASTER_METRICS"'
  metrics: {p95_ms: {max: 300, regress: "10%"}, error_rate: {max: 0.01}}
"""


def _verified(tmp_path: Path) -> InProcess:
    p = InProcess(tmp_path / "proj", "- name: dev\n", defaults=VERIFY)
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    return p


def _metrics(p: InProcess, version: str, p95: float, error_rate: float = 0.0) -> None:
    (p.root / f"metrics-{version}.json").write_text(json.dumps({"p95_ms": p95, "error_rate": error_rate}))


def test_the_baseline_is_the_last_good_releases_passed_verification(tmp_path: Path) -> None:
    p = _verified(tmp_path)
    _metrics(p, "1.0.0", 200)
    p.deploy("1.0.0")
    _metrics(p, "1.0.0", 100, error_rate=0.5)  # a later, failed verification of the same release
    with pytest.raises(DeploymentFailed) as failed:
        p.deploy("1.0.0", force=True)
    assert "error_rate 0.5 is above the maximum" in failed.value.deployment.reason
    _metrics(p, "1.1.0", 215)  # within 10% of 200 (the passed one), not of 100
    assert p.deploy("1.1.0").status == "succeeded"


def test_a_redeploy_is_compared_with_the_release_before_it_not_with_itself(tmp_path: Path) -> None:
    p = _verified(tmp_path)
    _metrics(p, "1.0.0", 200)
    p.deploy("1.0.0")
    _metrics(p, "1.1.0", 215)
    p.deploy("1.1.0")
    _metrics(p, "1.1.0", 225)  # within 10% of its own 215, not of 1.0.0's 200
    with pytest.raises(DeploymentFailed) as failed:
        p.deploy("1.1.0", force=True)
    assert "p95_ms 225 regressed more than 10% from 200" in failed.value.deployment.reason


def test_a_rollback_is_not_verified_again(tmp_path: Path) -> None:
    p = _verified(tmp_path)
    _metrics(p, "1.0.0", 200)
    p.deploy("1.0.0")
    _metrics(p, "1.1.0", 210)
    p.deploy("1.1.0")
    (p.root / "metrics-1.0.0.json").unlink()  # its verify command would fail now
    back = p.rollback()
    assert (back.version, back.status) == ("1.0.0", "succeeded")


def test_samples_keep_their_schedule_however_long_a_check_takes() -> None:
    clock, starts = Clock(), []

    def slow(gate: Gate) -> GateResult:
        starts.append(clock.now)
        clock.now += 3  # each check takes 3s
        return GateResult(gate.name, False)

    ok, _, count = wait_for_gates(Gates((Gate("a", command="a"),), every=10, timeout=30), slow, lambda _r: None,
                                  wait=True, clock=clock, sleep=clock.sleep)
    assert (ok, count, starts) == (False, 4, [0, 10, 20, 30])


def test_the_sign_off_that_counts_is_the_previous_stages(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "train:\n  - name: dev\n  - name: test\n    signoff: {count: 1}\n  - name: prod\n")
    release = make_release(ledger)
    finished(ledger, release, "dev", T0)
    finished(ledger, release, "test", T0)
    assert check_signoffs(cfg, env(cfg, "test"), release, LocalLedgerView(cfg, ledger), ledger) is None
    assert "needs 1 sign-off(s) in test" in (signoff_gate(cfg, release, ledger) or "")
    sign(ledger, release, "alice", "test")
    assert signoff_gate(cfg, release, ledger) is None


def test_a_metrics_file_over_one_mebibyte_fails_the_verification(tmp_path: Path) -> None:
    p = _verified(tmp_path)
    (p.root / "metrics-1.0.0.json").write_text('{"p95_ms": 200, "error_rate": 0}' + " " * (1 << 20))
    with pytest.raises(DeploymentFailed) as failed:
        p.deploy("1.0.0")
    assert failed.value.deployment.reason == "performance verification failed: the metrics file is too large"


def test_every_missing_sign_off_of_the_stage_is_named(tmp_path: Path, ledger: SqliteLedger) -> None:
    cfg = config(tmp_path, "train:\n  - stage: regions\n    environments:\n"
                           "      - {name: eu, signoff: {count: 1}}\n      - {name: us, signoff: {count: 2}}\n"
                           "  - name: prod\n")
    release = make_release(ledger)
    finished(ledger, release, "eu", T0)
    finished(ledger, release, "us", T0)
    gate = signoff_gate(cfg, release, ledger) or ""
    assert "needs 1 sign-off(s) in eu" in gate and "needs 2 sign-off(s) in us" in gate, gate
