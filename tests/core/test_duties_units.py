"""Unit tests of the release duties' decisions: gate sampling, metric regressions, sign-off counting."""

from __future__ import annotations

from trainmaster.config.model import Gate, Gates, MetricBound, Signoff
from trainmaster.duty_records import Signoff as Record
from trainmaster.quality_gates import GateResult, check_body, wait_for_gates
from trainmaster.signoff import count_signoffs, signoff_counts
from trainmaster.verify import evaluate, read_metrics

A, B = Gate("a", command="a"), Gate("b", command="b")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def scripted(script: dict[str, list[bool]]):  # type: ignore[no-untyped-def]
    calls = {name: 0 for name in script}

    def check(gate: Gate) -> GateResult:
        ok = script[gate.name][min(calls[gate.name], len(script[gate.name]) - 1)]
        calls[gate.name] += 1
        return GateResult(gate.name, ok)

    return check


def test_gates_pass_only_when_all_succeed_in_the_same_sample() -> None:
    clock, samples = Clock(), []
    gates = Gates((A, B), delay=5, every=10, timeout=100)
    # a passes in sample 1, b in sample 2, neither alone is enough; both pass in sample 3
    check = scripted({"a": [True, False, True], "b": [False, True, True]})
    ok, last, count = wait_for_gates(gates, check, samples.append, wait=True, clock=clock, sleep=clock.sleep)
    assert ok and count == 3 and all(r.ok for r in last)
    assert [[r.ok for r in s] for s in samples] == [[True, False], [False, True], [True, True]]
    assert clock.slept == [5, 10, 10]  # the delay, then one sample every 10s


def test_without_wait_one_sample_and_no_delay() -> None:
    clock, samples = Clock(), []
    ok, last, count = wait_for_gates(Gates((A, B), delay=60), scripted({"a": [True], "b": [False, True]}),
                                     samples.append, wait=False, clock=clock, sleep=clock.sleep)
    assert not ok and count == 1 and len(samples) == 1 and clock.slept == []
    assert [r.gate for r in last if not r.ok] == ["b"]


def test_gates_time_out_with_the_last_sample() -> None:
    clock, samples = Clock(), []
    ok, last, count = wait_for_gates(Gates((A,), every=10, timeout=30), scripted({"a": [False]}), samples.append,
                                     wait=True, clock=clock, sleep=clock.sleep)
    assert not ok and count == 4 and len(samples) == 4  # at 0, 10, 20, 30
    assert clock.now == 30


def test_json_body_paths() -> None:
    body = {"status": {"healthy": True, "checks": [{"name": "db"}]}, "count": 1}
    assert check_body(body, (("status.healthy", True), ("status.checks.0.name", "db"))) is None
    assert check_body(body, (("count", True),)) == "count is 1, expected True"  # 1 is not true
    assert check_body(body, (("status.missing", 1),)) == "status.missing is missing from the answer"


def test_regress_percent_against_the_last_good_release() -> None:
    bounds = (("p95_ms", MetricBound(max=300, regress=0.10, relative=True)), ("error_rate", MetricBound(max=0.01)))
    ok = evaluate(bounds, {"p95_ms": 220, "error_rate": 0.0}, {"p95_ms": 200})
    assert all(r.ok for r in ok)
    worse = evaluate(bounds, {"p95_ms": 221, "error_rate": 0.0}, {"p95_ms": 200})
    assert not worse[0].ok and "regressed more than 10%" in worse[0].reason and worse[1].ok
    assert all(r.ok for r in evaluate(bounds, {"p95_ms": 290, "error_rate": 0}, None))  # no baseline: bounds only
    over = evaluate(bounds, {"p95_ms": 301, "error_rate": 0.02}, None)
    assert [r.ok for r in over] == [False, False] and "above the maximum 300" in over[0].reason
    missing = evaluate(bounds, {"p95_ms": 1}, None)
    assert not missing[1].ok and "missing" in missing[1].reason


def test_regress_absolute_and_lower_is_worse() -> None:
    throughput = (("rps", MetricBound(min=100, regress=50)),)
    assert evaluate(throughput, {"rps": 460}, {"rps": 500})[0].ok
    assert not evaluate(throughput, {"rps": 449}, {"rps": 500})[0].ok


def test_metrics_file_must_hold_numbers() -> None:
    assert read_metrics('{"a": 1, "b": 2.5}') == {"a": 1.0, "b": 2.5}
    for bad in ("[1]", '{"a": "1"}', '{"a": true}', "nope", '{"a": NaN}'):
        try:
            read_metrics(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


def _record(actor: str, revoked: bool = False) -> Record:
    return Record(1, "r", "1.0.0", "test", actor, "t", "", True, "t2" if revoked else None)


def test_signoff_counting() -> None:
    rule = Signoff(count=2, from_=("alice", "bob", "carol"))
    assert not signoff_counts(rule, "alice", "alice")  # the creator, without allow_self
    assert signoff_counts(Signoff(count=1, allow_self=True), "alice", "alice")
    assert not signoff_counts(rule, "carol", "mallory")  # not in from
    records = [_record("alice"), _record("bob", revoked=True), _record("mallory"), _record("carol"), _record("carol")]
    assert count_signoffs(rule, "dave", records) == 2  # alice and carol once; bob revoked; mallory not listed
    assert count_signoffs(rule, "alice", records) == 1
