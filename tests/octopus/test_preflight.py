"""A bad API key is found before anything is written (issue 10, item 8): the Octopus target's preflight.

``deploy`` with a key Octopus rejects exits 2 with one message naming the variable, records no
deployment in the ledger and creates no Octopus deployment.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
project: MyApp
packages:
  app: app.bin
publish: [octopus]
octopus:
  poll_interval: 0.05
  environments: {dev: Development, test: Test, prod: Production}
defaults:
  target: octopus
train:
  - name: dev
  - name: test
  - name: prod
"""


def rows(work: Path) -> list[Any]:
    conn = sqlite3.connect(work / ".trainmaster" / "ledger.db")
    try:
        return conn.execute("SELECT * FROM deployments").fetchall() + conn.execute("SELECT * FROM audit").fetchall()
    finally:
        conn.close()


def test_a_rejected_api_key_exits_2_and_writes_nothing(tmp_path: Path, octopus_fake: Any) -> None:
    work = tmp_path / "proj"
    work.mkdir()
    (work / "app.bin").write_bytes(b"binary-v1")
    (work / "trainmaster.yaml").write_text(CONFIG)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update({"OCTOPUS_URL": octopus_fake.url, "OCTOPUS_API_KEY": octopus_fake.api_key, "OCTOPUS_SPACE": "Default",
                "TRAINMASTER_LOAD_PLUGINS": "octopus", "PYTHONDONTWRITEBYTECODE": "1"})

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env={**env, **extra},
                              capture_output=True, text=True, timeout=60)

    assert run("release", "create", "1.0.0").returncode == 0
    before = rows(work)
    bad = run("deploy", "1.0.0", "--to", "dev", OCTOPUS_API_KEY="API-NOTTHEKEY123")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    errors = [line for line in bad.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "OCTOPUS_API_KEY" in errors[0], bad.stderr
    assert "Traceback" not in bad.stderr and "API-NOTTHEKEY123" not in bad.stdout + bad.stderr
    assert rows(work) == before  # dev is not recorded as failed
    assert not octopus_fake.deployments
