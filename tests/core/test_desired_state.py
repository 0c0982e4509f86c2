"""The skip rule's desired state: digest, variables, the commands that would run, and keyed secret hashes.

A package is skipped only when all of these equal the last successful attempt's: changing a
command or rotating a secret runs the deployment again, and the ledger never holds a secret
or an unkeyed hash of one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from tests.support.project import Project

CONFIG = """\
project: demo
packages:
  app: build/app.bin
defaults:
  deploy: mkdir -p "$DEST" && echo "$TRAINMASTER_VERSION $GREETING" >> "$DEST/runs"
  pass_env: [DEST]
train:
  - name: dev
    variables:
      GREETING: hello
      TOKEN: {secret: env:DEV_TOKEN}
"""


def _runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "servers" / "runs"
    return path.read_text().splitlines() if path.exists() else []


def _setup(bare_project: Project) -> Project:
    bare_project.write("trainmaster.yaml", CONFIG)
    bare_project.build()
    bare_project.env["DEV_TOKEN"] = "first-token-value"
    for version in ("1.0.0", "1.0.1", "1.0.2", "1.0.3"):
        bare_project.ok("release", "create", version)  # the same bytes each time
    return bare_project


def test_same_bytes_variables_commands_and_secrets_are_skipped(bare_project: Project, tmp_path: Path) -> None:
    project = _setup(bare_project)
    project.ok("deploy", "1.0.0", "--to", "dev")
    second = project.ok("deploy", "1.0.1", "--to", "dev")
    assert "same digest, variables, commands and secrets" in second.stdout
    assert _runs(tmp_path) == ["1.0.0 hello"]


def test_a_changed_command_is_a_change(bare_project: Project, tmp_path: Path) -> None:
    project = _setup(bare_project)
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.write("trainmaster.yaml", CONFIG.replace('>> "$DEST/runs"', '>> "$DEST/runs" && true'))
    project.ok("deploy", "1.0.1", "--to", "dev")
    assert _runs(tmp_path) == ["1.0.0 hello", "1.0.1 hello"]


def test_a_rotated_secret_is_a_change(bare_project: Project, tmp_path: Path) -> None:
    project = _setup(bare_project)
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.ok("deploy", "1.0.1", "--to", "dev", env={"DEV_TOKEN": "first-token-value"})
    project.ok("deploy", "1.0.2", "--to", "dev", env={"DEV_TOKEN": "rotated-token-value"})
    assert _runs(tmp_path) == ["1.0.0 hello", "1.0.2 hello"]


def test_the_ledger_holds_no_secret_and_no_plain_hash_of_one(bare_project: Project) -> None:
    project = _setup(bare_project)
    project.ok("deploy", "1.0.0", "--to", "dev")
    dump = "\n".join(sqlite3.connect(project.state / "ledger.db").iterdump())
    secret = "first-token-value"
    assert secret not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() not in dump
    key = project.state / "state.key"
    assert key.stat().st_mode & 0o077 == 0, "the state key is readable by others"
    states = json.loads(sqlite3.connect(project.state / "ledger.db").execute(
        "SELECT state FROM deployments").fetchone()[0])
    assert set(states) == {"app"} and states["app"].startswith("sha256:")
