"""A bad token is found before anything is written (issue 10, item 8): the GitHub target's preflight.

``deploy`` with a token GitHub rejects exits 2 with one message naming where the token comes from,
records no deployment in the ledger and creates nothing on GitHub; with a good token the preflight's
read is the deploy's own first read (no request is added).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.github import CONFIG, make_project

LOCAL_LEDGER = CONFIG.replace("  docs: build/docs.tar.gz\n", "").replace("ledger: github\n", "")


def run(root: Path, fake: Any, *argv: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update({"GITHUB_TOKEN": token or fake.token, "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": "acme/app",
                "PYTHONDONTWRITEBYTECODE": "1", "TRAINMASTER_LOAD_PLUGINS": "github"})
    return subprocess.run([sys.executable, "-m", "trainmaster", *argv], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def rows(root: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(root / ".trainmaster" / "ledger.db")
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("deployments", "audit")}
    finally:
        conn.close()


def test_a_rejected_token_exits_2_and_writes_nothing(tmp_path: Path, github_fake: Any) -> None:
    root = tmp_path / "runner"
    make_project(root, LOCAL_LEDGER)
    created = run(root, github_fake, "release", "create", "1.0.0")
    assert created.returncode == 0, created.stderr
    before = rows(root)
    github_fake.reset_log()

    bad = run(root, github_fake, "deploy", "1.0.0", "--to", "dev", token="ghp_expired-token-0000")

    assert bad.returncode == 2, bad.stdout + bad.stderr
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "rejected the token in GITHUB_TOKEN" in errors[0], bad.stderr
    assert "Traceback" not in bad.stderr and "ghp_expired" not in bad.stderr + bad.stdout
    assert rows(root) == before  # no deployment row, no audit event: dev is not recorded as failed
    assert [c.status for c in github_fake.calls] == [401]  # one read, and nothing created
    assert not github_fake.repos[("acme", "app")].deployments


def test_with_a_good_token_the_preflight_read_is_the_deploys_own(tmp_path: Path, github_fake: Any) -> None:
    root = tmp_path / "runner"
    make_project(root, LOCAL_LEDGER)
    assert run(root, github_fake, "release", "create", "1.0.0").returncode == 0
    github_fake.reset_log()
    done = run(root, github_fake, "deploy", "1.0.0", "--to", "dev")
    assert done.returncode == 0, done.stderr
    assert github_fake.count("repos/list-deployments") == 1
    assert [c.operation_id for c in github_fake.calls] == [
        "repos/list-deployments", "repos/create-deployment", "repos/list-deployment-statuses",
        "repos/create-deployment-status", "repos/create-deployment-status"]
