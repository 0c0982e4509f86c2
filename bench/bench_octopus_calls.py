"""HTTP calls for "push one package, create the release, deploy to one environment, wait until success".

trainmaster's Octopus adapter (publisher + target in one process, as ``release create`` with
``publish: [octopus]`` followed by ``deploy`` share one client) against the official TypeScript
api-client's equivalent flow, each against a fresh Octopus fake (tests/fakes/octopus.py), counted
from the fake's request log. The bar: trainmaster ≤ api-client + one lookup per object created
(package, release, deployment), and each extra poll interval adds exactly one call however many
tasks are pending.

Run: ``python bench/bench_octopus_calls.py`` (needs ``npm ci`` in tests/fakes/node).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")]

from tests.fakes.octopus import OctopusFake  # noqa: E402
from tests.support.octopus import make_config, make_job, make_release  # noqa: E402

from trainmaster_octopus._publish import OctopusPublisher  # noqa: E402
from trainmaster_octopus._settings import reset_clients  # noqa: E402
from trainmaster_octopus._target import OctopusTarget  # noqa: E402

OBJECTS_CREATED = 3  # package, release, deployment


def _breakdown(fake: OctopusFake) -> dict[str, int]:
    return dict(collections.Counter(c.operation_id or c.path for c in fake.calls))


def trainmaster_flow(tmp: Path, extra_tasks: int = 0) -> tuple[int, dict[str, int], int]:
    reset_clients()
    fake = OctopusFake().start()
    try:
        env = {"OCTOPUS_URL": fake.url, "OCTOPUS_API_KEY": fake.api_key, "OCTOPUS_SPACE": "Default"}
        projects = {}
        files = {"app.zip": b"bench package" * 1000}
        for i in range(extra_tasks):
            fake.seed_project(f"C{i}", lifecycle_id=next(iter(fake.lifecycles)))
            files[f"c{i}.zip"] = b"component %d" % i
            projects[f"c{i}"] = f"C{i}"
        config = make_config(tmp, {"poll_interval": 0.0, "projects": projects, "components": "parallel"},
                             [("dev", {"environment": "Development"})])
        release, paths = make_release(tmp, files)
        OctopusPublisher(env).ensure(release, paths, config)
        outcome = OctopusTarget(config, config.environment("dev"), env).deploy(make_job(config, "dev", release, paths))
        assert outcome.status == "succeeded", outcome
        assert not fake.violations, fake.violations
        return len(fake.calls), _breakdown(fake), fake.count("getListTasks_Spaces")
    finally:
        fake.stop()


def api_client_flow(tmp: Path) -> tuple[int, dict[str, int]]:
    fake = OctopusFake().start()
    try:
        pkg = tmp / "app.1.2.3.zip"
        pkg.write_bytes(b"bench package" * 1000)
        env = {**os.environ, "OCTOPUS_URL": fake.url, "OCTOPUS_API_KEY": fake.api_key, "OCTOPUS_SPACE": "Default"}
        script = ROOT / "bench" / "octopus" / "flow.js"
        out = subprocess.run(["node", str(script), "flow", str(pkg), "MyApp", "1.2.3", "Development"], env=env,
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise SystemExit(f"api-client flow failed: {out.stderr.strip()}")
        assert json.loads(out.stdout)["tasks"] == ["Success"], out.stdout
        assert not fake.violations, fake.violations
        return len(fake.calls), _breakdown(fake)
    finally:
        fake.stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, \
            tempfile.TemporaryDirectory() as c:
        tm, tm_ops, tm_polls = trainmaster_flow(Path(a))
        ac, ac_ops = api_client_flow(Path(b))
        tm3, _, tm3_polls = trainmaster_flow(Path(c), extra_tasks=2)
    print(f"trainmaster: {tm} HTTP calls  {tm_ops}")
    print(f"api-client : {ac} HTTP calls  {ac_ops}")
    allowed = ac + OBJECTS_CREATED
    print(f"allowed    : {allowed} (api-client + {OBJECTS_CREATED} lookups, one per object created)")
    print(f"polls with 1 pending task: {tm_polls}; with 3 pending tasks: {tm3_polls} (one batched GET per interval)")
    ok = tm <= allowed and tm3_polls == tm_polls
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
