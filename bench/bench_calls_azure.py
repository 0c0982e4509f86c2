"""HTTP calls per user-level command of the ``azure-devops`` adapter, at h = 5 and h = 200 previous releases.

Each previous release is created, deployed to dev and promoted to test (through the adapter, in
process), then each command below runs as the real CLI in a subprocess against the Azure DevOps
fake (tests/fakes/azure.py) and its requests are counted from the fake's call log. Polls (stage
reads while waiting, beyond the one that sees the final state) are counted apart.

A command fails its budget when it makes more than floor + 2 calls, or more calls at h = 200 than
at h = 5 (every lookup here has an indexed or filtered form in the API).

Run: ``python bench/bench_calls_azure.py [--history 5,200] [-v]`` (~15 s).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")]

from tests.fakes.azure import AzureDevOpsFake  # noqa: E402
from tests.support import azure as support  # noqa: E402

POLL = "Releases_Get Release Environment"  # the one read repeated per poll interval
DISCOVERY = "discovery"
# The fewest calls the API allows for the same end state, and why (discovery is the SDK's
# per-process location lookup: OPTIONS + ResourceAreas; counted, as they are requests).
FLOORS: dict[str, tuple[int, str]] = {
    "release create (in build)": (
        2, "release.json goes up as a build artifact (agent logging command, no REST call); the classic "
        "release is deferred: 0 REST calls needed beyond discovery (2)"),
    "sync --to azure-devops": (
        2, "one filtered lookup (does a classic release already hold this id/version?) + Releases_Create"),
    "deploy (same runner)": (
        5, "definition (stage ids) + release lookup + PATCH the stage + the stage read that sees the end "
        "+ the stage's latest deployment (is it still current?)"),
    "promote --from dev --to test (fresh runner)": (
        6, "definition + dev's newest deployment + release lookup + PATCH + final stage read + "
        "the stage's latest deployment"),
    "status": (3, "definition + one Deployments_List per... in one call + the releases' marks in one batch"),
    "history --limit 50": (3, "definition + Deployments_List (top 50) + the releases' marks in one batch"),
}
SLACK = 2


def _counts(fake: AzureDevOpsFake, start: int) -> tuple[int, int, dict[str, Any]]:
    """``(calls, polls, details)`` of the requests logged since ``start``.

    Polls are the stage reads after the start beyond the last one; discovery (the SDK's location
    lookups, cached on disk per organisation URL, so only a machine's first command pays them) is
    counted apart too. ``details`` has the order, the count per operation and the duplicates: the
    same request sent twice within the command (neither a poll nor a retry).
    """
    calls = [c for c in fake.calls[start:] if c.operation_id != DISCOVERY]
    ops = [c.operation_id or c.path for c in calls]
    started = next((i for i, op in enumerate(ops) if op == "Releases_Update Release Environment"), None)
    polls: list[int] = []
    if started is not None:
        polls = [i for i, op in enumerate(ops) if op == POLL and i > started][:-1]
    keys = collections.Counter(
        f"{c.method} {c.path}?{sorted(c.query.items())}" for i, c in enumerate(calls)
        if i not in polls and not (c.status is None or c.status == 429 or c.status >= 500)
    )
    return len(calls) - len(polls), len(polls), {
        "order": ops, "per operation": dict(collections.Counter(ops)),
        "duplicates": {k: n for k, n in keys.items() if n > 1},
        "discovery": len(fake.calls[start:]) - len(calls),
    }


def _seed(fake: AzureDevOpsFake, root: Path, env: dict[str, str], h: int) -> None:
    """h releases, each created (own build), deployed to dev and to test, through the adapter's own calls."""
    from trainmaster_azure import _remote
    from trainmaster_azure._publish import create
    from trainmaster_azure._settings import Settings
    from trainmaster_azure._target import start

    config = support.load(root / "trainmaster.yaml")
    s = Settings.resolve(config, None, env)
    remote = _remote.Remote(s, _remote.connect(s, env))
    rm = remote.client.release
    for i in range(h):
        build = 1000 + i
        fake.seed_build(build, f"2024.{build}", definition_id=7, definition_name="app-ci")
        rel = support.release(root, f"0.{i}.0", str(build))
        classic = create(remote, rel, (str(build), f"2024.{build}"))
        for stage in ("Dev", "Test"):
            env_id = next(e.id for e in classic.environments if e.name == stage)
            start(remote, classic.id, env_id, f"seed {rel.version}")
            while rm.get_release_environment(s.project, classic.id, env_id).status != "succeeded":
                pass


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([support.PYTHON, "-m", "trainmaster", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"trainmaster {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def scenario(h: int, tmp: Path) -> dict[str, tuple[int, int, dict[str, Any]]]:
    fake = AzureDevOpsFake()
    fake.start()
    try:
        root = tmp / f"h{h}"
        support.make_project(root, fake.url)
        seed_env = support.agent_env(fake, tmp, BUILD_BUILDID="9", BUILD_BUILDNUMBER="2024.9")
        t0 = time.perf_counter()
        _seed(fake, root, seed_env, h)
        seeded = time.perf_counter() - t0
        build = 5000
        fake.seed_build(build, f"2024.{build}", definition_id=7, definition_name="app-ci")
        (tmp / "agent-temp").mkdir(exist_ok=True)

        def agent(build_id: int, where: Path, **extra: str) -> dict[str, str]:
            return support.cli_env(
                where, TF_BUILD="True", SYSTEM_COLLECTIONURI=fake.url + "/", SYSTEM_TEAMPROJECT="MyProject",
                SYSTEM_ACCESSTOKEN=fake.token, BUILD_BUILDID=str(build_id), BUILD_BUILDNUMBER=f"2024.{build_id}",
                BUILD_REQUESTEDFOREMAIL="dev@example.com", AGENT_TEMPDIRECTORY=str(tmp / "agent-temp"),
                BUILD_ARTIFACTSTAGINGDIRECTORY=str(root / "staging"), **extra)

        out: dict[str, tuple[int, int, dict[str, Any]]] = {}
        later = agent(build + 1, root)
        steps: list[tuple[str, Path, dict[str, str], tuple[str, ...]]] = [
            ("release create (in build)", root, agent(build, root), ("release", "create", "9.0.0")),
            ("sync --to azure-devops", root, later, ("sync", "--to", "azure-devops", "9.0.0")),
            ("deploy (same runner)", root, later, ("deploy", "9.0.0", "--to", "dev")),
        ]
        for name, where, env, args in steps:
            mark = len(fake.calls)
            run(where, env, *args)
            out[name] = _counts(fake, mark)
        # a fresh runner: a copy of the repository without state, the release among the downloaded artefacts
        fresh = tmp / f"fresh{h}"
        shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".trainmaster", "staging"))
        arts = fresh / "_artifacts" / "trainmaster"
        arts.mkdir(parents=True)
        shutil.copy(root / "staging" / "trainmaster" / "release.json", arts / "release.json")
        shutil.copy(root / "build" / "app.bin", arts / "app.bin")
        fresh_env = agent(build + 2, fresh, SYSTEM_ARTIFACTSDIRECTORY=str(fresh / "_artifacts"))
        for name, args in (
            ("promote --from dev --to test (fresh runner)", ("promote", "--from", "dev", "--to", "test")),
            ("status", ("status",)),
            ("history --limit 50", ("history", "--limit", "50")),
        ):
            mark = len(fake.calls)
            run(fresh, fresh_env, *args)
            out[name] = _counts(fake, mark)
        assert not fake.violations, fake.violations
        assert not fake.response_problems, fake.response_problems
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
    print(f"azure-devops: HTTP calls per command (polls apart), h = {' / '.join(map(str, sizes))} previous releases")
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
