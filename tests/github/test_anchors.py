"""The GitHub deployments anchor the local audit chain (issue 10, item 3): ``audit verify --against github``.

Each deployment's payload carries the chain's head after the deployment's first ledger event. A local
chain rewritten consistently (every hash recomputed, so ``audit verify`` alone passes) no longer
matches the anchors: exit 4 naming the first mismatch. A forged anchor on GitHub is refused as data.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.chain import rewrite_from
from tests.support.github import CONFIG, make_project

LOCAL_LEDGER = CONFIG.replace("  docs: build/docs.tar.gz\n", "").replace("ledger: github\n", "")


class Runner:
    def __init__(self, root: Path, fake: Any) -> None:
        self.root, self.fake = root, fake
        make_project(root, LOCAL_LEDGER)
        self.env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        self.env.update({"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": "acme/app",
                         "PYTHONDONTWRITEBYTECODE": "1", "TRAINMASTER_LOAD_PLUGINS": "github"})

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *argv], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=120)

    def ok(self, *argv: str) -> subprocess.CompletedProcess[str]:
        done = self.run(*argv)
        assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
        return done


def audit(root: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(root / ".trainmaster" / "ledger.db")
    try:
        return conn.execute("SELECT seq, hash FROM audit ORDER BY seq").fetchall()
    finally:
        conn.close()


def deployed(tmp_path: Path, fake: Any) -> Runner:
    runner = Runner(tmp_path / "runner", fake)
    runner.ok("release", "create", "1.0.0")
    runner.ok("deploy", "1.0.0", "--to", "dev")
    runner.ok("promote", "--from", "dev", "--to", "test")
    return runner


def test_each_deployment_anchors_the_chain_and_verify_against_github_checks_them(
    tmp_path: Path, github_fake: Any
) -> None:
    runner = deployed(tmp_path, github_fake)
    chain = dict(audit(runner.root))
    for dep in github_fake.repos[("acme", "app")].deployments.values():
        anchor = dep["payload"]["trainmaster"]["audit"]
        seq = int(anchor.split(" seq=")[1].split()[0])
        assert anchor.endswith(f" hash={chain[seq]}")  # the head right after its deployment_started event

    data = json.loads(runner.ok("audit", "verify", "--against", "github", "--json").stdout)
    assert data["anchors"]["checked"] == 2 and data["anchors"]["other_ledgers"] == {}
    assert "2 anchor(s) on github match this ledger" in runner.ok("audit", "verify", "--against", "github").stdout


def test_a_chain_rewritten_after_an_anchor_is_exit_4_naming_the_first_mismatch(
    tmp_path: Path, github_fake: Any
) -> None:
    runner = deployed(tmp_path, github_fake)
    anchors = sorted(int(d["payload"]["trainmaster"]["audit"].split(" seq=")[1].split()[0])
                     for d in github_fake.repos[("acme", "app")].deployments.values())
    rewrite_from(runner.root, 2)  # before both anchors
    runner.ok("audit", "verify")  # the chain alone is consistent: only the anchors can tell

    bad = runner.run("audit", "verify", "--against", "github")

    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert f"audit event #{anchors[0]} is sha256:" in bad.stderr and "rewritten after that anchor" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_forged_anchor_on_github_is_refused_as_data(tmp_path: Path, github_fake: Any) -> None:
    runner = deployed(tmp_path, github_fake)
    dep = next(iter(github_fake.repos[("acme", "app")].deployments.values()))
    dep["payload"]["trainmaster"]["audit"] = "trainmaster-audit v1 ledger=../../etc seq=1e9 hash=\n::error::x"

    bad = runner.run("audit", "verify", "--against", "github")

    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert f"the audit anchor of GitHub deployment {dep['id']} (dev) is malformed" in bad.stderr
    assert "Traceback" not in bad.stderr
