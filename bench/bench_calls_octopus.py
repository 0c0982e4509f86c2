"""HTTP calls per user-level command of the ``octopus`` adapter, at h = 5 and h = 200 previous releases.

Each previous release is created (package pushed, release created), deployed to dev and promoted to
test (through the adapter, in process), then each command below runs as the real CLI in a subprocess
against the Octopus fake (tests/fakes/octopus.py), ``ledger: octopus``, and its requests are counted
from the fake's call log. Polls (task reads while waiting, beyond the one that sees the end) are
counted apart.

A command fails its budget when it makes more than floor + 2 calls, more calls at h = 200 than at
h = 5, or sends the same request twice (not a poll, not a retry).

Run: ``python bench/bench_calls_octopus.py [--history 5,200]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")]

from _calls import Budget, Count, main_for, tally  # noqa: E402
from tests.fakes.octopus import OctopusFake  # noqa: E402
from tests.support.octopus_cli import OCTOPUS_LEDGER_CONFIG as CONFIG  # noqa: E402

POLLS = ("getTask", "getTask_Spaces", "getListTasks", "getListTasks_Spaces", "getTaskDetails_Spaces")
START = "createDeployment"
DISCOVERY = "discovery"
FLOORS: dict[str, tuple[int, str]] = {
    "release create": (4, "the space's id (OCTOPUS_SPACE is a name) + the project's id + push the package + "
                          "create the release (the +2: the feed asked first, so a re-run never uploads again; "
                          "the new release read back, since Octopus picks each step's package itself)"),
    "deploy (same runner)": (6, "space + project + release by version + create the deployment + PUT the release "
                                "with the audit anchor in its notes (the write that anchors the local chain; it "
                                "sends back the release read by version, so no read is added) + the task read "
                                "that sees the end (the +2: the feed's hash against the pin before deploying; "
                                "the release's deployments, to attach instead of deploying twice)"),
    "promote --from dev --to test": (
        7, "space + project + progression (what succeeded in dev; it names the environments' ids too) + "
           "release by version + create the deployment + PUT the audit anchor into the release's notes + the "
           "task read that sees the end (+2 as for deploy)"),
    "status": (3, "space + project + one progression"),
    "history --limit 50": (3, "space + project + one progression"),
}


def _counts(fake: Any, start: int) -> Count:
    """The requests logged since ``start``, counted by bench/_calls.py: polls are the task reads
    after the deployment is created beyond the last one; discovery (``GET /api``, ``GET /api/{space}``) is left out.
    """
    calls = [{"method": c.method, "path": c.path, "operation_id": c.operation_id, "query": dict(c.query),
              "status": c.status, "fault": c.fault} for c in fake.calls[start:] if c.operation_id != DISCOVERY]
    ops = [c["operation_id"] or c["path"] for c in calls]
    started = next((i for i, op in enumerate(ops) if op.startswith(START)), None)
    polls: set[int] = set()
    if started is not None:
        polls = set([i for i, op in enumerate(ops) if op in POLLS and i > started][:-1])
    for i in polls:
        calls[i]["poll"] = True
    return tally(calls, lambda c: bool(c.get("poll")))


def _seed(fake: OctopusFake, root: Path, env: dict[str, str], h: int) -> None:
    """h releases, each pushed and created, deployed to dev and to test, through the adapter in process."""
    import hashlib

    from trainmaster.config import load_config
    from trainmaster.interfaces import DeployJob, DeployOutcome, PackagePlan
    from trainmaster.masking import Masker
    from trainmaster.model import Package, Release
    from trainmaster_octopus._publish import OctopusPublisher
    from trainmaster_octopus._settings import SCHEMA, reset_clients
    from trainmaster_octopus._target import OctopusTarget

    config = load_config(root / "trainmaster.yaml", plugin_schemas={"octopus": SCHEMA})
    publisher = OctopusPublisher(env)
    ok = DeployOutcome("succeeded")
    for i in range(h):
        data = b"app %d\n" % i
        path = root / "seed" / f"{i}" / "app.bin"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        rel = Release("MyApp", f"0.{i}.0", (Package("app", "app.bin", len(data),
                                                     "sha256:" + hashlib.sha256(data).hexdigest()),), {})
        assert publisher.ensure(rel, {"app": path}, config).state == "created"
        for name in ("dev", "test"):
            environment = config.environment(name)
            assert environment is not None
            job = DeployJob(config=config, environment=environment, release=rel, deployment_id=1, kind="deploy",
                            plan=[PackagePlan(rel.packages[0], path, "deploy", rel.packages[0].digest)],
                            variables={}, masker=Masker(), out=lambda _: None, ci=None,  # type: ignore[arg-type]
                            run_steps=lambda: ok, run_checks=lambda: ok,
                            run_command=lambda a, b: None)  # type: ignore[arg-type,return-value]
            outcome = OctopusTarget(config, environment, env).deploy(job)
            assert outcome.status == "succeeded", outcome
    reset_clients()


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"trainmaster {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def cli_env(where: Path, fake: OctopusFake) -> dict[str, str]:
    ep = where / "_ep" / "trainmaster_octopus_ep-0.dist-info"
    ep.mkdir(parents=True, exist_ok=True)
    (ep / "METADATA").write_text("Metadata-Version: 2.1\nName: trainmaster-octopus-ep\nVersion: 0\n")
    (ep / "entry_points.txt").write_text("[trainmaster]\noctopus = trainmaster_octopus.adapter\n")
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(PYTHONPATH=os.pathsep.join([str(where / "_ep"), str(ROOT / "src"), str(ROOT / "plugins")]),
               OCTOPUS_URL=fake.url, OCTOPUS_API_KEY=fake.api_key, OCTOPUS_SPACE="Default",
               PYTHONDONTWRITEBYTECODE="1")
    return env


def scenario(h: int, tmp: Path) -> dict[str, Count]:
    fake = OctopusFake()
    fake.start()
    try:
        root = tmp / f"h{h}"
        root.mkdir()
        (root / "app.bin").write_bytes(b"the measured release\n")
        (root / "trainmaster.yaml").write_text(CONFIG)
        env = cli_env(root, fake)
        t0 = time.perf_counter()
        _seed(fake, root, env, h)
        seeded = time.perf_counter() - t0
        out: dict[str, Count] = {}
        for name, args in (("release create", ("release", "create", "9.0.0")),
                           ("deploy (same runner)", ("deploy", "9.0.0", "--to", "dev"))):
            mark = len(fake.calls)
            run(root, env, *args)
            out[name] = _counts(fake, mark)
        # Octopus is no source of releases (publisher.fetch answers None): a runner without the ledger
        # cannot promote, so promote runs where the release was created (a new process, nothing cached)
        for name, args in (
            ("promote --from dev --to test", ("promote", "--from", "dev", "--to", "test")),
            ("status", ("status",)),
            ("history --limit 50", ("history", "--limit", "50")),
        ):
            mark = len(fake.calls)
            run(root, env, *args)
            out[name] = _counts(fake, mark)
        assert not fake.violations, fake.violations
        print(f"  (h = {h}: history seeded in {seeded:.1f} s)", file=sys.stderr)
        return out
    finally:
        fake.stop()


def main() -> None:
    main_for("octopus", scenario, [Budget(name, floor, why) for name, (floor, why) in FLOORS.items()], __doc__)


if __name__ == "__main__":
    main()
