"""A bad token is found before anything is written (issue 10, item 8): the Azure DevOps target's preflight.

``deploy`` with a token Azure DevOps rejects exits 2 with one message, records no deployment in the
ledger and neither creates a classic release nor starts a stage.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from tests.support.azure import CONFIG, PYTHON, cli_env, make_project

LOCAL_LEDGER = CONFIG.replace("ledger: azure-devops\n", "")


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "trainmaster", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def agent(fake: Any, tmp: Path, build: str, token: str) -> dict[str, str]:
    (tmp / "agent-temp").mkdir(exist_ok=True)
    return cli_env(tmp, TF_BUILD="True", SYSTEM_COLLECTIONURI=fake.url + "/", SYSTEM_TEAMPROJECT="MyProject",
                   SYSTEM_ACCESSTOKEN=token, BUILD_BUILDID=build, BUILD_BUILDNUMBER=f"2024.{build}",
                   BUILD_REQUESTEDFOREMAIL="dev@example.com", AGENT_TEMPDIRECTORY=str(tmp / "agent-temp"),
                   BUILD_ARTIFACTSTAGINGDIRECTORY=str(tmp / "staging"))


def deployments(root: Path) -> list[Any]:
    conn = sqlite3.connect(root / ".trainmaster" / "ledger.db")
    try:
        return conn.execute("SELECT * FROM deployments").fetchall() + conn.execute("SELECT * FROM audit").fetchall()
    finally:
        conn.close()


def test_a_rejected_token_exits_2_and_writes_nothing(azure_fake: Any, tmp_path: Path) -> None:
    make_project(tmp_path, azure_fake.url, LOCAL_LEDGER)
    created = run(tmp_path, agent(azure_fake, tmp_path, "101", azure_fake.token), "release", "create", "1.0.0")
    assert created.returncode == 0, created.stderr
    before = deployments(tmp_path)

    bad = run(tmp_path, agent(azure_fake, tmp_path, "202", "not-the-pat"), "deploy", "1.0.0", "--to", "dev")

    assert bad.returncode == 2, bad.stdout + bad.stderr
    errors = [line for line in bad.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "SYSTEM_ACCESSTOKEN" in errors[0], bad.stderr
    assert "Traceback" not in bad.stderr and "not-the-pat" not in bad.stdout + bad.stderr
    assert deployments(tmp_path) == before  # dev is not recorded as failed
    assert not azure_fake.releases and azure_fake.count("Releases_UpdateReleaseEnvironment") == 0
