"""Azure DevOps classic releases anchor the local audit chain (issue 10, item 3): ``audit verify --against
azure-devops``.

Each deployment keeps the chain's head after its first ledger event in the classic release's
properties (``trainmaster.audit.<stage>``); ``audit verify --against azure-devops`` reads them back and
exits 4 once the local chain no longer holds an anchored event (here: events removed from the end,
rows put back as they were before, so ``audit verify`` alone passes).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from tests.support.azure import CONFIG, PYTHON, cli_env, make_project

LOCAL_LEDGER = CONFIG.replace("ledger: azure-devops\n", "")


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "trainmaster", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def agent(fake: Any, tmp: Path, build: str) -> dict[str, str]:
    (tmp / "agent-temp").mkdir(exist_ok=True)
    return cli_env(tmp, TF_BUILD="True", SYSTEM_COLLECTIONURI=fake.url + "/", SYSTEM_TEAMPROJECT="MyProject",
                   SYSTEM_ACCESSTOKEN=fake.token, BUILD_BUILDID=build, BUILD_BUILDNUMBER=f"2024.{build}",
                   BUILD_REQUESTEDFOREMAIL="dev@example.com", AGENT_TEMPDIRECTORY=str(tmp / "agent-temp"),
                   BUILD_ARTIFACTSTAGINGDIRECTORY=str(tmp / "staging"))


def test_each_stage_deployment_anchors_the_chain_and_a_shortened_chain_is_exit_4(
    azure_fake: Any, tmp_path: Path
) -> None:
    make_project(tmp_path, azure_fake.url, LOCAL_LEDGER)
    assert run(tmp_path, agent(azure_fake, tmp_path, "101"), "release", "create", "1.0.0").returncode == 0
    later = agent(azure_fake, tmp_path, "202")
    db = tmp_path / ".trainmaster" / "ledger.db"
    done = run(tmp_path, later, "deploy", "1.0.0", "--to", "dev")
    assert done.returncode == 0, done.stdout + done.stderr
    snapshot = tmp_path / "before-test.db"
    with sqlite3.connect(db) as src, sqlite3.connect(snapshot) as dst:
        src.backup(dst)  # the ledger as it was before the test deployment
    done = run(tmp_path, later, "deploy", "1.0.0", "--to", "test")
    assert done.returncode == 0, done.stdout + done.stderr

    (classic,) = azure_fake.releases.values()
    props = classic["_properties"]
    assert props["trainmaster.audit.Dev"].startswith("trainmaster-audit v1 ledger=")
    assert props["trainmaster.audit.Test"].startswith("trainmaster-audit v1 ledger=")
    ok = run(tmp_path, later, "audit", "verify", "--against", "azure-devops", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    data = json.loads("".join(line for line in ok.stdout.splitlines(True) if not line.startswith("##")))
    assert data["anchors"]["checked"] == 2

    with sqlite3.connect(snapshot) as src, sqlite3.connect(db) as dst:
        src.backup(dst)  # the test deployment erased from the ledger: rows and events as they were
    assert run(tmp_path, later, "audit", "verify").returncode == 0  # the chain alone cannot tell
    bad = run(tmp_path, later, "audit", "verify", "--against", "azure-devops")
    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "(stage Test)" in bad.stderr and "events were removed from the end" in bad.stderr
    assert "Traceback" not in bad.stderr
