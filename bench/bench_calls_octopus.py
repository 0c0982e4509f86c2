"""HTTP calls per user-level command of the ``octopus`` adapter, at h = 5 and h = 200 previous releases.

Each previous release is created (package pushed, release created), deployed to dev and promoted to
test (through the adapter, in process), then each command below runs as the real CLI in a subprocess
against the Octopus fake (tests/fakes/octopus.py), ``ledger: octopus``, and its requests are counted
from the fake's call log. Polls (task reads while waiting, beyond the one that sees the end) are
counted apart.

A command fails its budget when it makes more than floor + 2 calls, more calls at h = 200 than at
h = 5, or sends the same request twice (not a poll, not a retry).

Run: ``python bench/bench_calls_octopus.py [--history 5,200] [-v]``.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")]

from tests.fakes.octopus import OctopusFake  # noqa: E402

POLLS = ("getTask", "getTask_Spaces", "getListTasks", "getListTasks_Spaces", "getTaskDetails_Spaces")
START = "createDeployment"
DISCOVERY = "discovery"
CONFIG = """\
project: MyApp
packages:
  app: app.bin
publish: [octopus]
ledger: octopus
octopus:
  poll_interval: 0.01
  environments: {dev: Development, test: Test, prod: Production}
defaults:
  target: octopus
train:
  - name: dev
  - name: test
  - name: prod
"""
FLOORS: dict[str, tuple[int, str]] = {
    "release create": (3, "push the package (409-safe: the feed answers whether it exists) + create the "
                          "release + the project (its id for the release)"),
    "deploy (same runner)": (4, "project + release by version + create the deployment + the task read "
                                "that sees the end"),
    "promote --from dev --to test": (
        6, "project + progression (what succeeded in dev) + the package's hash in the feed (is it the pinned "
           "one?) + release by version + create the deployment + the task read that sees the end"),
    "status": (3, "space + project + one progression"),
    "history --limit 50": (3, "space + project + one progression"),
}
SLACK = 2


def _counts(fake: OctopusFake, start: int) -> tuple[int, int, dict[str, Any]]:
    """``(calls, polls, details)`` of the requests logged since ``start``.

    Polls are the task reads after the deployment is created, beyond the last one; discovery
    (``GET /api``, ``GET /api/{space}``) is counted apart too. ``details`` has the order, the count
    per operation and the duplicates: the same request sent twice within the command (neither a
    poll nor a retry).
    """
    calls = [c for c in fake.calls[start:] if c.operation_id != DISCOVERY]
    ops = [c.operation_id or c.path for c in calls]
    started = next((i for i, op in enumerate(ops) if op.startswith(START)), None)
    polls: list[int] = []
    if started is not None:
        polls = [i for i, op in enumerate(ops) if op in POLLS and i > started][:-1]
    keys = collections.Counter(
        f"{c.method} {c.path}?{sorted(c.query.items())}" for i, c in enumerate(calls)
        if i not in polls and not (c.status is None or c.status == 429 or c.status >= 500)
    )
    return len(calls) - len(polls), len(polls), {
        "order": ops, "per operation": dict(collections.Counter(ops)),
        "duplicates": {k: n for k, n in keys.items() if n > 1},
        "discovery": len(fake.calls[start:]) - len(calls),
    }


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


def scenario(h: int, tmp: Path) -> dict[str, tuple[int, int, dict[str, Any]]]:
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
        out: dict[str, tuple[int, int, dict[str, Any]]] = {}
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", default="5,200")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the calls per operation")
    args = parser.parse_args()
    sizes = [int(x) for x in args.history.split(",")]
    results: dict[int, dict[str, tuple[int, int, dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for h in sizes:
            results[h] = scenario(h, Path(tmp))
    print(f"octopus: HTTP calls per command (polls apart), h = {' / '.join(map(str, sizes))} previous releases")
    ok = True
    for name, (floor, why) in FLOORS.items():
        calls = [results[h][name][0] for h in sizes]
        polls = [results[h][name][1] for h in sizes]
        flat = all(c <= calls[0] for c in calls)
        fits = max(calls) <= floor + SLACK
        twice = {k: n for h in sizes for k, n in results[h][name][2]["duplicates"].items()}
        ok &= flat and fits and not twice
        verdict = "PASS" if flat and fits and not twice else "FAIL" + (" (over budget)" if not fits else "") + (
            " (grows with history)" if not flat else "") + (f" (sent twice: {twice})" if twice else "")
        print(f"  {name:44} {' / '.join(f'{c:3}' for c in calls)}  floor {floor} (budget {floor + SLACK})"
              f"  polls {' / '.join(map(str, polls))}  {verdict}")
        print(f"      floor: {why}")
        if args.verbose:
            for h in sizes:
                d = results[h][name][2]
                print(f"      h={h}: {' '.join(d['order'])}  (discovery {d['discovery']})")
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
