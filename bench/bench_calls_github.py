"""Call budget of the GitHub adapter (issue 11): REST calls per user-level command against its floor.

A history of h previous releases (h = 5 and h = 200; each created, deployed to dev and promoted to
test through the real CLI) is built on the GitHub fake (``python -m tests.fakes.github``), then each
command runs once and its requests are counted from the fake's call log. Printed as
``command | h=5 | h=200 | floor | budget | verdict`` (bench/_calls.py), plus how many promotions from
a fresh runner fit in the 1,000 requests per hour a workflow's ``GITHUB_TOKEN`` gets.

Fails (exit 1) when a command exceeds floor + 2, grows with history where the API has a filtered
lookup, sends the same request twice, or fewer than 100 promotions an hour fit at h = 200.

Run: ``python bench/bench_calls_github.py [--sizes 5 200] [--spawn]`` (h = 200 seeds 600 commands).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _calls import SIZES, Budget, Cli, Count, FakeProcess, measure, report, seed  # noqa: E402

RATE_LIMIT = 1000  # requests per hour per repository for a workflow's GITHUB_TOKEN
PROMOTIONS_GOAL = 100

CONFIG = """\
project: demo
packages:
  app: build/app.bin
publish: [github]
ledger: github
github:
  repository: acme/app
defaults:
  target: github
  deploy: "true"
train:
  - name: dev
  - name: test
  - name: prod
"""

BUDGETS = [
    Budget("release create", 5,
           "create the draft release (1), upload the package and release.json (2), publish it (1), and "
           "list-releases to find a draft left by an interrupted create (drafts are invisible to "
           "get-release-by-tag): 1 page per 100 releases. Also spent: get-release-by-tag (1), which finds a "
           "published one without the listing (the `exists` path of a re-run or `sync`); make_latest is "
           "computed from the listing", flat=False, per_hundred=1),
    Budget("deploy (same runner)", 3,
           "create the deployment (1), its in_progress status (1) and its success status (1); the release and "
           "its digests are in the local store and ledger. Also spent: a deployment of this release left "
           "waiting for review by an earlier run (list-deployments of environment + tag, 1) and the new "
           "deployment's state (a protection rule may hold it, 1)"),
    Budget("promote (fresh runner)", 8,
           "the newest successful deployment of the source: list-deployments of the environment (1) + the "
           "statuses of the newest one (1; the gate's 'succeeded in dev' is answered from them); the release "
           "by tag (1, its assets embedded), release.json and the package downloaded to verify the digests "
           "(2); then create the deployment (1) and its in_progress and success statuses (2). Also spent: "
           "the waiting-deployment lookup and the new deployment's state, as for deploy (2)"),
    Budget("status (same runner)", 5,
           "per environment the newest deployment and its statuses: one list-deployments per environment (3) "
           "plus the statuses of the environments that have one (2); no filter lists several environments at once"),
    Budget("status (fresh runner)", 5, "as on the same runner: nothing of the remote state is kept locally"),
    Budget("history --limit 50", 51,
           "one list-deployments page (100 per page) plus one list-deployment-statuses per deployment shown "
           "(GitHub has no batch read of statuses); grows up to the limit by nature", flat=False),
]


def steps(i: int) -> list[list[str]]:
    version = f"0.{i}.0"
    return [["release", "create", version], ["deploy", version, "--to", "dev"],
            ["promote", "--from", "dev", "--to", "test"]]


def fresh_runner(tmp: Path, name: str) -> Path:
    """A workspace holding nothing but the config, as a new job's checkout (no state directory)."""
    work = tmp / name
    work.mkdir()
    (work / "trainmaster.yaml").write_text(CONFIG)
    return work


def run_at(h: int, spawn: bool) -> dict[str, Count]:
    with FakeProcess("github") as fake, tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        work = tmp / "runner"
        (work / "build").mkdir(parents=True)
        (work / "build" / "app.bin").write_bytes(b"app-binary\n" * 1000)
        (work / "trainmaster.yaml").write_text(CONFIG)
        keep = ("PATH", "HOME", "LANG", "TMPDIR")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update({"GITHUB_TOKEN": "test-token", "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": "acme/app",
                    "PYTHONDONTWRITEBYTECODE": "1"})
        cli = Cli(work, env, fork=not spawn, preload=("trainmaster.cli", "requests", "trainmaster_github.adapter"))
        print(f"  seeding h={h} ...", file=sys.stderr, flush=True)
        seed(cli, h, steps)
        new = f"1.{h}.0"
        out: dict[str, Count] = {}
        out["release create"] = measure(fake, lambda: cli.run("release", "create", new))
        out["deploy (same runner)"] = measure(fake, lambda: cli.run("deploy", new, "--to", "dev"))
        out["promote (fresh runner)"] = measure(
            fake, lambda: cli.run("promote", "--from", "dev", "--to", "test", cwd=fresh_runner(tmp, "promote")))
        out["status (same runner)"] = measure(fake, lambda: cli.run("status"))
        out["status (fresh runner)"] = measure(fake, lambda: cli.run("status", cwd=fresh_runner(tmp, "status")))
        out["history --limit 50"] = measure(fake, lambda: cli.run("history", "--limit", "50"))
        shutil.rmtree(work / ".trainmaster", ignore_errors=True)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--spawn", action="store_true", help="run `python -m trainmaster` instead of forking")
    args = parser.parse_args()
    results = {h: run_at(h, args.spawn) for h in args.sizes}
    status = report("GitHub: REST calls per command (polls excluded)", BUDGETS, results)
    h = max(results)
    promote = results[h]["promote (fresh runner)"].calls
    per_hour = RATE_LIMIT // max(promote, 1)
    ok = per_hour >= PROMOTIONS_GOAL
    print(f"promotions from a fresh runner per hour at h={h}: {per_hour} ({RATE_LIMIT} requests / {promote} calls; "
          f"goal >= {PROMOTIONS_GOAL})  {'PASS' if ok else 'FAIL'}")
    return status if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
