"""A bad API key is found before anything is written (issue 10, item 8): the Octopus target's preflight.

``deploy`` with a key Octopus rejects exits 2 with one message naming the variable, records no
deployment in the ledger and creates no Octopus deployment.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.support.octopus_cli import cli_project


def rows(work: Path) -> list[Any]:
    conn = sqlite3.connect(work / ".trainmaster" / "ledger.db")
    try:
        return conn.execute("SELECT * FROM deployments").fetchall() + conn.execute("SELECT * FROM audit").fetchall()
    finally:
        conn.close()


def test_a_rejected_api_key_exits_2_and_writes_nothing(tmp_path: Path, octopus_fake: Any) -> None:
    run, work, _ = cli_project(tmp_path, octopus_fake)
    assert run("release", "create", "1.0.0").returncode == 0
    before = rows(work)
    bad = run("deploy", "1.0.0", "--to", "dev", OCTOPUS_API_KEY="API-NOTTHEKEY123")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    errors = [line for line in bad.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "OCTOPUS_API_KEY" in errors[0], bad.stderr
    assert "Traceback" not in bad.stderr and "API-NOTTHEKEY123" not in bad.stdout + bad.stderr
    assert rows(work) == before  # dev is not recorded as failed
    assert not octopus_fake.deployments
