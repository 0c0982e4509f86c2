"""HTTP calls per user-level command of the ``azure-devops`` adapter, at h = 5 and h = 200 previous releases.

Each previous release is created, deployed to dev and promoted to test (through the adapter, in
process), then each command below runs as the real CLI in a subprocess against the Azure DevOps
fake (tests/fakes/azure.py) and its requests are counted from the fake's call log. Polls (stage
reads while waiting, beyond the one that sees the final state) are counted apart.

A command fails its budget when it makes more than floor + 2 calls, or more calls at h = 200 than
at h = 5 where its floor is flat (every lookup here has an indexed or filtered form in the API; only the
stage reads of ``deploy``/``promote``/``status`` step up once, at h = 25).

Run: ``python bench/bench_calls_azure.py [--history 5,200]`` (~15 s).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT), str(ROOT / "src"), str(ROOT / "plugins")]

from _calls import Budget, Count, main_for, tally  # noqa: E402
from tests.fakes.azure import AzureDevOpsFake  # noqa: E402
from tests.support import azure as support  # noqa: E402

POLL = "Releases_Get Release Environment"  # the one read repeated per poll interval
DISCOVERY = "discovery"
WIDE = 50  # deployments read at once for every stage's latest (trainmaster_azure._ledger.STATUS_PAGE)
LOOKUP = ("the version is found by an indexed lookup, flat with history: each classic release trainmaster creates "
          "is renamed to end in '(trainmaster <version>)' (Releases_Create cannot choose a name), and "
          "Releases_List searchText=<that mark> returns only the releases of that version (the marks in the "
          "properties decide); the +1 over the floor is the pinned build's releases (artifactVersionId), read "
          "first: a re-run finds its release there, also one created before names were marked")
STEP = (f"; +1 once a stage's latest deployment is older than the definition's newest {WIDE} (here prod, never "
        f"deployed, from h = {WIDE // 2}: 2 deployments per release): one top-1 query for that stage, constant after")


@dataclass(frozen=True)
class Stepped(Budget):
    """A floor that needs one more call from a history size on, and stays constant after it."""

    beyond: int = 0

    def floor_at(self, h: int) -> int:
        return self.floor + (1 if self.beyond and h >= self.beyond else 0) + self.per_hundred * (h // 100)

    def label(self, what: str = "floor") -> str:
        base = self.floor if what == "floor" else self.budget
        extra = f" +1 from h={self.beyond}" if self.beyond else ""
        return f"{base}{extra}" + (f" +{self.per_hundred}/100h" if self.per_hundred else "")


# The fewest calls the API allows for the same end state, and why. The pipeline runs in Azure
# Pipelines (TF_BUILD), whose build summary trainmaster writes after deploying.
BUDGETS = [
    Stepped("release create (in build)", 2,
            "definition by name (Definitions_List, with its stages) + the lookup by name mark (Releases_List "
            "searchText): release.json goes up as a build artifact (a logging command) and the classic release "
            "is deferred; " + LOOKUP),
    Stepped("sync --to azure-devops", 5,
            "definition by name (Definitions_List) + its artifacts (Definitions_Get: the list's $expand takes "
            "one value) + the lookup by name mark + Releases_Create + the rename that sets the mark "
            "(Releases_Update ReleaseUpdateMetadata.name); " + LOOKUP),
    Stepped("deploy (same runner)", 5,
            "definition + lookup (its stages come with it, $expand=environments) + PATCH the stage + the stage "
            "read that sees the end + the summary's Deployments_List (the +2: the summary's marks in one "
            "releaseIdFilter batch)" + STEP, flat=False, beyond=WIDE // 2),
    Stepped("promote --from dev --to test (fresh runner)", 6,
            "definition + Deployments_List (dev's newest success) + the releases' marks in one batch + PATCH + "
            "the stage read that sees the end + the summary's Deployments_List" + STEP, flat=False,
            beyond=WIDE // 2),
    Stepped("status", 3, "definition + one Deployments_List for every stage + the releases' marks in one batch"
            + STEP, flat=False, beyond=WIDE // 2),
    Stepped("history --limit 50", 3, "definition + Deployments_List (top 50) + the releases' marks in one batch"),
]


def _counts(fake: Any, start: int) -> Count:
    """The requests logged since ``start``, counted by bench/_calls.py: polls are the stage reads
    after the stage is started beyond the last one; discovery (the SDK's location lookups, cached on
    disk per organisation URL, so only a machine's first command pays them) is left out.
    """
    calls = [{"method": c.method, "path": c.path, "operation_id": c.operation_id, "query": dict(c.query),
              "status": c.status, "fault": c.fault} for c in fake.calls[start:] if c.operation_id != DISCOVERY]
    ops = [c["operation_id"] or c["path"] for c in calls]
    started = next((i for i, op in enumerate(ops) if op == "Releases_Update Release Environment"), None)
    polls: set[int] = set()
    if started is not None:
        polls = set([i for i, op in enumerate(ops) if op == POLL and i > started][:-1])
    for i in polls:
        calls[i]["poll"] = True
    return tally(calls, lambda c: bool(c.get("poll")))


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


def scenario(h: int, tmp: Path) -> dict[str, Count]:
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

        out: dict[str, Count] = {}
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
    main_for("azure-devops", scenario, BUDGETS, __doc__)


if __name__ == "__main__":
    main()
