"""Performance verification after a deployment.

``verify: {command, metrics: {NAME: {max, min, regress}}}`` on an environment: after the
smoke tests and monitoring, ``command`` runs like the deployment's other commands, with
``TRAINMASTER_METRICS`` naming a file it writes a JSON object of numbers to. Each
configured metric must be present and is compared with

* its absolute bounds ``max`` / ``min``;
* ``regress``: the same metric of the last good release in that environment (the newest
  succeeded deployment of another release, through its passed verification): the value may
  be worse by at most ``10%`` of it (a string with ``%``) or by an absolute amount (a number).
  Higher is worse, unless the metric has only a ``min`` (then lower is worse). No baseline
  (a first release, or one never verified): ``regress`` is not checked.

The results are recorded (``verifications``), audited and announced (``verification_finished``);
any failure fails the deployment, which then follows ``on_failure`` (``rollback``).
Verification runs for deployments, not for rollbacks (they go back to a release already
verified there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment, MetricBound
    from trainmaster.interfaces import Deployment
    from trainmaster.model import Release
    from trainmaster.steps import StepRunner

MAX_METRICS_BYTES = 1 << 20


@dataclass(frozen=True)
class MetricResult:
    metric: str
    value: float | None
    baseline: float | None
    ok: bool
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value, "baseline": self.baseline, "ok": self.ok,
                "reason": self.reason}


def regress_limit(bound: MetricBound, baseline: float) -> float | None:
    """The worst value ``regress`` allows given ``baseline`` (None: no regress bound)."""
    if bound.regress is None:
        return None
    allowance = abs(baseline) * bound.regress if bound.relative else bound.regress
    lower_is_worse = bound.min is not None and bound.max is None
    return baseline - allowance if lower_is_worse else baseline + allowance


def evaluate(bounds: tuple[tuple[str, MetricBound], ...], values: dict[str, float],
             baseline: dict[str, float] | None) -> list[MetricResult]:
    """Each configured metric against its absolute bounds and the baseline (the last good release's values)."""
    results = []
    for name, bound in bounds:
        value = values.get(name)
        base = (baseline or {}).get(name)
        if value is None:
            results.append(MetricResult(name, None, base, False, "missing from the metrics file"))
            continue
        problems = []
        if bound.max is not None and value > bound.max:
            problems.append(f"{value:g} is above the maximum {bound.max:g}")
        if bound.min is not None and value < bound.min:
            problems.append(f"{value:g} is below the minimum {bound.min:g}")
        limit = regress_limit(bound, base) if base is not None else None
        if limit is not None and base is not None:
            lower_is_worse = bound.min is not None and bound.max is None
            if (value < limit) if lower_is_worse else (value > limit):
                regress = bound.regress or 0.0
                how = f"{regress * 100:g}%" if bound.relative else f"{regress:g}"
                problems.append(f"{value:g} regressed more than {how} from {base:g} (the last good release)")
        results.append(MetricResult(name, value, base, not problems, "; ".join(problems)))
    return results


def read_metrics(text: str) -> dict[str, float]:
    """The metrics file: a JSON object of finite numbers; ``ValueError`` saying what is wrong."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("the metrics file is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the metrics file must hold a JSON object of numbers")
    metrics = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"metric {str(key)[:64]!r} is not a finite number")
        metrics[str(key)] = float(value)
    return metrics


def baseline(app: App, env: Environment, release: Release) -> dict[str, float] | None:
    """The metrics of the last good release (another one) in ``env``, from its passed verification."""
    from trainmaster.deploy import last_good
    from trainmaster.duty_records import verification

    previous = last_good(app, env.name, exclude_release=release.id)
    if previous is None:
        return None
    found = verification(app.ledger, release_id=previous.release_id, environment=env.name, passed_only=True)
    return found["metrics"] if found else None


def verifier(app: App, env: Environment, release: Release, dep: Deployment,
             kind: str) -> Callable[[StepRunner], str | None] | None:
    """The verification step of one deployment for :class:`~trainmaster.steps.StepRunner` (None: none)."""
    spec = env.verify
    if spec is None or kind != "deploy":
        return None

    def verify(runner: StepRunner) -> str | None:
        import os
        import tempfile
        from pathlib import Path

        from trainmaster.duty_records import record_verification

        fd, name = tempfile.mkstemp(prefix="trainmaster-metrics-", suffix=".json")
        os.close(fd)
        path = Path(name)
        try:
            result = runner.run("verify", spec.command, {"TRAINMASTER_METRICS": str(path)})
            problem, values = None, {}
            if not result.ok:
                problem = "the verify command timed out" if result.timed_out else \
                    f"the verify command failed (exit {result.returncode})"
            else:
                try:
                    raw = path.read_bytes()[:MAX_METRICS_BYTES + 1]
                    if len(raw) > MAX_METRICS_BYTES:
                        raise ValueError("the metrics file is too large")
                    values = read_metrics(raw.decode("utf-8", errors="replace"))
                except ValueError as exc:
                    problem = str(exc)
        finally:
            path.unlink(missing_ok=True)
        results = [] if problem else evaluate(spec.metrics, values, baseline(app, env, release))
        failed = [r for r in results if not r.ok]
        ok = problem is None and not failed
        shown = [r.to_json() for r in results] or [{"metric": None, "ok": False, "reason": problem}]
        record_verification(app.ledger, dep.id, release.id, release.version, env.name, dep.actor, ok, values, shown)
        reason = problem or "; ".join(f"{r.metric} {r.reason}" for r in failed) or None
        app.emit("verification_finished", verification={"passed": ok, "metrics": values, "results": shown,
                                                         "reason": reason},
                 deployment=dep, release=release, environment=env)
        for r in results:
            runner.out(f"verify {r.metric}: {'ok' if r.ok else 'FAILED'} ({r.value:g}"
                       f"{f', baseline {r.baseline:g}' if r.baseline is not None else ''})"
                       f"{': ' + r.reason if r.reason else ''}\n" if r.value is not None else
                       f"verify {r.metric}: FAILED: {r.reason}\n")
        if ok:
            return None
        return f"performance verification failed: {reason}"

    return verify
