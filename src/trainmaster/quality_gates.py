"""Automated quality gates before a deployment, with Azure DevOps's semantics.

``gates:`` lists checks: a ``command`` (passes on exit 0) or an ``http`` URL (passes when
it answers ``expect``, default 200, and its JSON body holds each ``json`` path's value).
A **sample** evaluates every gate once; the gates pass only when *all* succeed in the
*same* sample (a gate that passed in an earlier sample does not count later).

* Without ``--wait``: one sample, taken at once (``delay`` does not apply). Not met:
  exit 3 naming what failed.
* With ``deploy --wait``: wait ``delay``, then sample every ``every`` until a sample passes
  or ``timeout`` has passed since the first one (exit 3 on timeout, with the last failures).

Every sample is recorded in the ledger (``gate_samples``) and audited, then announced
(``gate_sampled``); the decision is announced too (``gates_finished``). Commands run in the
deployment's clean environment (variables and secrets, ``TRAINMASTER_*``), output masked;
HTTP gates go through the core's :mod:`trainmaster.http`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trainmaster.errors import Refused

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment, Gate, Gates
    from trainmaster.masking import Masker
    from trainmaster.model import Release

_MISSING = object()


@dataclass(frozen=True)
class GateResult:
    gate: str
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"gate": self.gate, "ok": self.ok, "detail": self.detail}


Check = Callable[["Gate"], GateResult]


def sample(gates: Gates, check: Check) -> list[GateResult]:
    """One sample: every gate evaluated once (never short-circuited)."""
    return [check(gate) for gate in gates.checks]


def passed(results: list[GateResult]) -> bool:
    return bool(results) and all(r.ok for r in results)


def wait_for_gates(gates: Gates, check: Check, record: Callable[[list[GateResult]], None], *, wait: bool,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep) -> tuple[bool, list[GateResult], int]:
    """Sample until one sample passes (or just once without ``wait``); returns (passed, last results, samples).

    ``record`` is called with each sample's results. With ``wait``: ``delay`` first, then a sample
    every ``every`` seconds while no more than ``timeout`` seconds have passed since the first.
    """
    if wait and gates.delay:
        sleep(gates.delay)
    start = clock()
    count = 0
    while True:
        results = sample(gates, check)
        count += 1
        record(results)
        if passed(results) or not wait:
            return passed(results), results, count
        due = start + count * gates.every
        if due - start > gates.timeout:
            return False, results, count
        now = clock()
        if due > now:
            sleep(due - now)


def json_path(body: Any, path: str) -> Any:
    """The value at dotted ``path`` (list indices as numbers) in ``body``, or a sentinel when absent."""
    node = body
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def check_body(body: Any, expected: tuple[tuple[str, Any], ...]) -> str | None:
    """Why the JSON ``body`` does not hold the expected values, or None."""
    for path, want in expected:
        got = json_path(body, path)
        if got is _MISSING:
            return f"{path} is missing from the answer"
        if got != want or isinstance(got, bool) != isinstance(want, bool):
            return f"{path} is {got!r}, expected {want!r}"
    return None


def http_check(gate: Gate, masker: Masker) -> GateResult:
    """GET the gate's URL once (no retries: the next sample is the retry)."""
    from trainmaster.errors import TrainmasterError
    from trainmaster.http import HttpClient, RetryPolicy, Rules
    from trainmaster.webhook import redact_url

    assert gate.http is not None
    client = HttpClient(policy=RetryPolicy(attempts=1, budget=0), rules=Rules("the gate", redact=redact_url),
                        timeout=(10.0, 30.0))
    try:
        response = client.send("GET", gate.http, what=f"check {redact_url(gate.http)}", ok=range(100, 600),
                               allow_redirects=False)
    except TrainmasterError as exc:
        return GateResult(gate.name, False, masker.mask(str(exc)))
    if response.status_code != gate.expect:
        return GateResult(gate.name, False, f"HTTP {response.status_code}, expected {gate.expect}")
    if gate.json:
        try:
            body = response.json()
        except ValueError:
            return GateResult(gate.name, False, "the answer is not JSON")
        problem = check_body(body, gate.json)
        if problem:
            return GateResult(gate.name, False, masker.mask(problem))
    return GateResult(gate.name, True, f"HTTP {response.status_code}")


def run_gates(app: App, env: Environment, release: Release, variables: dict[str, str], masker: Masker, *,
              wait: bool, out: Callable[[str], None]) -> None:
    """Enforce ``env.gates`` for deploying ``release`` (see the module docstring); exit 3 when not met."""
    gates = env.gates
    if gates is None:
        return
    import os

    from trainmaster.duty_records import record_gate_sample
    from trainmaster.runner import clean_environment, run_command

    base = clean_environment(os.environ, env.pass_env, variables, {
        "TRAINMASTER_PROJECT": app.config.project, "TRAINMASTER_VERSION": release.version,
        "TRAINMASTER_RELEASE_ID": release.id, "TRAINMASTER_ENVIRONMENT": env.name})
    actor = app.actor()

    def check(gate: Gate) -> GateResult:
        if gate.http:
            return http_check(gate, masker)
        assert gate.command is not None
        result = run_command(gate.command, env=base, cwd=app.config.root, timeout=env.timeout or gates.timeout,
                             masker=masker, out=out, label="[gate] ")
        why = "timed out" if result.timed_out else f"exit {result.returncode}"
        return GateResult(gate.name, result.ok, "exit 0" if result.ok else why)

    taken: list[int] = []

    def record(results: list[GateResult]) -> None:
        ok = passed(results)
        shown = [r.to_json() for r in results]
        sample_id = record_gate_sample(app.ledger, release.id, release.version, env.name, actor, ok, shown)
        taken.append(sample_id)
        failed = [r for r in results if not r.ok]
        out(f"gates for {env.name}: {'passed' if ok else 'not met: ' + _describe(failed)}\n")
        app.emit("gate_sampled", sample={"id": sample_id, "number": len(taken), "passed": ok, "results": shown},
                 release=release, environment=env)

    if wait and gates.delay:
        out(f"gates for {env.name}: first sample in {gates.delay:g}s\n")
    ok, results, count = wait_for_gates(gates, check, record, wait=wait)
    failed = [r for r in results if not r.ok]
    app.emit("gates_finished", gates={"passed": ok, "samples": count, "waited": wait,
                                      "failed": [r.to_json() for r in failed]}, release=release, environment=env)
    if ok:
        return
    if wait:
        raise Refused(f"the gates of {env.name} did not pass within {gates.timeout:g}s ({count} samples); "
                      f"last sample: {_describe(failed)}")
    raise Refused(f"the gates of {env.name} are not met for {release.version}: {_describe(failed)} "
                  "(run `deploy --wait` to sample until they pass)")


def _describe(failed: list[GateResult]) -> str:
    return "; ".join(f"{r.gate} ({r.detail})" for r in failed)
