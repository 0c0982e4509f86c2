"""The ledger's ``status`` and ``history --env X --limit 50`` queries on 100,000 deployments against 1,000.

Run: ``python bench/bench_core_ledger.py [--small N] [--large N] [--seconds S]``.

Each ledger is built with the real schema and indexes (``SqliteLedger`` runs the
migrations), then filled directly with ``executemany`` in one transaction: a
train of three environments (dev → test → prod) where each release goes to dev,
then test, then prod, about one release per three deployments (1,000 deployments
hold 337 releases, 100,000 hold 33,359); about 5% of the deployments fail, which
stops that release and is followed by a rollback. Every row is then bound to the audit
log (one ``row_bound`` event per row, as a migrated ledger has them): both queries check
each row they read against its latest event.

Timed inside the process, on a warm connection, median of repetitions (at least
``--min-reps``, for at least ``--seconds`` each):

* ``status``: ``trainmaster.status.environment_status(app)``, the function behind
  ``trainmaster status`` (per environment: the latest deployment, the candidate
  release and its pending gates; what is really there: since when, whose bytes each package
  holds, the last failed attempt, running and queued deployments, the gates as data), plus its
  parts in isolation;
* ``history``: ``app.view.history("prod", 50)``, the call behind ``history --env prod --limit 50``.

Bar (issue 2): each ≤ 1.5× on the large ledger. When a query fails it, the
script prints ``EXPLAIN QUERY PLAN`` for the statements involved. Exit status 1 if a bar fails.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENVS = ("dev", "test", "prod")
BAR = 1.5
CONFIG = """\
project: bench
packages: {app: app.bin}
defaults: {deploy: 'true'}
train:
  - name: dev
  - name: test
  - name: prod
"""


def build(root: Path, deployments: int) -> Any:
    """A project in ``root`` whose ledger holds ``deployments`` deployments; returns its App."""
    from trainmaster.app import App
    from trainmaster.audit import bind_existing
    from trainmaster.ledger import SqliteLedger
    from trainmaster.model import Package, Release

    root.mkdir(parents=True)
    (root / "app.bin").write_bytes(b"x")
    (root / "trainmaster.yaml").write_text(CONFIG)
    ledger = SqliteLedger(root / ".trainmaster" / "ledger.db")
    rng = random.Random(42)
    releases: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
    last_good: dict[str, tuple[str, str]] = {}
    clock = 1_700_000_000.0
    n = 0

    def stamp() -> str:
        nonlocal clock
        clock += 60
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(clock))

    while n < deployments:
        version = f"1.{len(releases)}.0"
        digest = f"sha256:{rng.getrandbits(256):064x}"
        created = stamp()
        release = Release("bench", version, (Package("app", "app.bin", 1, digest),),
                          {"created_by": "ci", "created_at": created})
        releases.append((release.id, "bench", version, created, "ci", json.dumps(release.to_record())))
        for env in ENVS:
            if n >= deployments:
                break
            failed = rng.random() < 0.05
            started = stamp()
            packages = json.dumps({"app": "failed" if failed else "deployed"})
            state = json.dumps({"app": f"sha256:{rng.getrandbits(256):064x}"})
            rows.append((release.id, version, env, "deploy", "failed" if failed else "succeeded", "ci", started,
                         stamp(), packages, state))
            n += 1
            if failed and env in last_good and n < deployments:
                good_id, good_version = last_good[env]
                rows.append((good_id, good_version, env, "rollback", "succeeded", "ci", stamp(), stamp(),
                             json.dumps({"app": "deployed"}), state))
                n += 1
            if failed:
                break  # the train stops: this release goes no further
            last_good[env] = (release.id, version)
    with ledger.transaction() as conn:
        conn.executemany("INSERT INTO releases (id, project, version, created_at, created_by, record) "
                         "VALUES (?,?,?,?,?,?)", releases)
        conn.executemany("INSERT INTO deployments (release_id, version, environment, kind, status, actor, "
                         "started_at, finished_at, packages, state) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        bind_existing(conn)  # every row bound to the audit chain, as trainmaster's own writes leave them
    conn = ledger.conn
    conn.execute("ANALYZE")
    count = conn.execute("SELECT COUNT(*) FROM deployments").fetchone()[0]
    assert count == deployments, count
    ledger.close()
    return App(config_path=str(root / "trainmaster.yaml"), environ={"PATH": "/usr/bin:/bin", "HOME": str(root)})


def median_seconds(fn: Callable[[], object], seconds: float, min_reps: int) -> tuple[float, int]:
    fn()  # warm
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < min_reps or time.perf_counter() < deadline:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), len(samples)


def queries(app: Any) -> dict[str, Callable[[], object]]:
    from trainmaster.ledger_queries import bytes_from, last_attempt, since
    from trainmaster.status import environment_status

    ledger = app.ledger
    releases = ledger.list_releases(app.config.project)
    newest = releases[-1]

    return {
        "status (environment_status)": lambda: environment_status(app),
        "history --env prod --limit 50": lambda: app.view.history("prod", 50),
        "  part: latest(env) ×3": lambda: [ledger.latest(env) for env in ENVS],
        "  part: list_releases(project)": lambda: ledger.list_releases(app.config.project),
        "  part: attempted+succeeded_at ×3": lambda: [(ledger.attempted(newest.id, env),
                                                     ledger.succeeded_at(newest.id, env)) for env in ENVS],
        "  part: last_success(env) ×3": lambda: [ledger.last_success(env) for env in ENVS],
        "  part: in_progress()": lambda: ledger.in_progress(),
        "  part: since+bytes_from+last_attempt ×3": lambda: [
            (since(ledger, good), bytes_from(ledger, good.environment, "app", good.id),
             last_attempt(ledger, good.environment))
            for good in (ledger.last_success(env) for env in ENVS) if good is not None],
    }


PLANS = {
    "latest": "SELECT * FROM deployments WHERE environment = 'prod' ORDER BY id DESC LIMIT 1",
    "history": "SELECT * FROM deployments WHERE environment = 'prod' ORDER BY id DESC LIMIT 50",
    "list_releases": "SELECT record FROM releases WHERE project = 'bench' ORDER BY created_at, rowid",
    "attempted": "SELECT 1 FROM deployments WHERE release_id = 'x' AND environment = 'prod' LIMIT 1",
    "succeeded_at": "SELECT MIN(finished_at) FROM deployments WHERE release_id = 'x' AND environment = 'prod' "
                    "AND status = 'succeeded'",
    "in_progress": "SELECT * FROM deployments WHERE status = 'in_progress'",
    "since": "SELECT id FROM deployments WHERE environment = 'prod' AND id < 99999 AND status = 'succeeded' "
             "AND release_id != 'x' ORDER BY id DESC LIMIT 1",
    "bytes_from": "SELECT * FROM deployments WHERE environment = 'prod' AND id <= 99999 "
                  "AND json_extract(packages, '$.\"app\"') = 'deployed' ORDER BY id DESC LIMIT 1",
    "last_attempt": "SELECT * FROM deployments WHERE environment = 'prod' AND kind != 'rollback' "
                    "ORDER BY id DESC LIMIT 1",
}


def explain(app: Any) -> None:
    for name, sql in PLANS.items():
        plan = "; ".join(row[3] for row in app.ledger.conn.execute("EXPLAIN QUERY PLAN " + sql))
        print(f"    {name:<14} {plan}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum timing per query and ledger")
    parser.add_argument("--min-reps", type=int, default=30)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tm-bench-ledger-") as tmp:
        t0 = time.perf_counter()
        small = build(Path(tmp) / "small", args.small)
        large = build(Path(tmp) / "large", args.large)
        built = time.perf_counter() - t0
        results = {}
        for label, app in (("small", small), ("large", large)):
            for name, fn in queries(app).items():
                results[(label, name)] = median_seconds(fn, args.seconds, args.min_reps)
        n_small = small.ledger.conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0]
        n_large = large.ledger.conn.execute("SELECT COUNT(*) FROM releases").fetchone()[0]

        print(f"ledger queries, {args.small:,} vs {args.large:,} deployments ({n_small:,} vs {n_large:,} releases, "
              f"3 environments; built in {built:.1f} s); median, in-process")
        print(f"  {'query':<36} {args.small:>9,} {args.large:>11,}   ratio")
        ok = True
        for name in queries(small):
            (a, _), (b, _) = results[("small", name)], results[("large", name)]
            ratio = b / a
            verdict = ""
            if not name.startswith("  "):
                verdict = f"(bar ≤ {BAR}×)  {'PASS' if ratio <= BAR else 'FAIL'}"
                ok &= ratio <= BAR
            print(f"  {name:<36} {a * 1e3:7.3f} ms {b * 1e3:9.3f} ms  {ratio:6.2f}×  {verdict}")
        if not ok:
            print("  EXPLAIN QUERY PLAN on the large ledger:")
            explain(large)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
