"""A throwaway project driven through a real ``trainmaster`` subprocess, shared by the CLI tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

BASIC_CONFIG = """\
project: demo
packages:
  app: build/app.bin
defaults:
  deploy: sh deploy.sh
  smoke: sh smoke.sh
  on_failure: rollback
  pass_env: [DEST]
train:
  - name: dev
    variables: {GREETING: hello-dev}
  - name: test
    variables: {GREETING: hello-test}
  - name: prod
    approvals: 1
    variables:
      GREETING: hello-prod
      DB_PASSWORD: {secret: env:PROD_DB_PASSWORD}
"""

DEPLOY_SH = """\
set -eu
mkdir -p "$DEST/$TRAINMASTER_ENVIRONMENT"
cp "$TRAINMASTER_PACKAGE_APP" "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin"
echo "deployed $TRAINMASTER_VERSION greeting=$GREETING"
"""

SMOKE_SH = """\
set -eu
grep -q healthy "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin"
"""

SECRET = "pw-Zq8#k2!unique-sentinel"


@dataclass
class Project:
    """A temporary project directory with a config and an artefact, driven through the real CLI."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def build(self, content: str = "healthy", name: str = "build/app.bin") -> Path:
        return self.write(name, f"#!/bin/sh\necho {content}\n")

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        full_env = dict(self.env, **(env or {}))
        return subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=self.root, env=full_env,
                              capture_output=True, text=True, timeout=timeout, input=input)

    def ok(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, **kw)  # type: ignore[arg-type]
        assert result.returncode == 0, f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.ok(*args, "--json").stdout)

    @property
    def state(self) -> Path:
        return self.root / ".trainmaster"

    def snapshot(self) -> dict[str, object]:
        """The logical content of the ledger and the store, to prove a command changed nothing."""
        tables: dict[str, object] = {}
        db = self.state / "ledger.db"
        if db.exists():
            conn = sqlite3.connect(db)
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
                rows = conn.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()
                if rows and name != "sqlite_sequence":
                    tables[name] = rows
            conn.close()
        store = self.state / "store" / "sha256"
        files = {}
        if store.exists():
            for path in sorted(store.rglob("*")):
                if path.is_file():
                    files[str(path.relative_to(store))] = hashlib.sha256(path.read_bytes()).hexdigest()
        return {"tables": tables, "store": files}


def copy_project(template: Project, project: Project) -> None:
    """Make ``project`` what ``template`` is: its files, ledger, store and key, and the ``$DEST`` folder
    (``servers`` beside the project) its deployments wrote. Nothing in a project's state names its own
    folder, so the copy is the state the same commands would have left in ``project``."""
    shutil.copytree(template.root, project.root, dirs_exist_ok=True)
    servers = template.root.parent / "servers"
    if servers.exists():
        shutil.copytree(servers, project.root.parent / "servers", dirs_exist_ok=True)


def base_env(tmp: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"DEST": str(tmp / "servers"), "PROD_DB_PASSWORD": SECRET, "TRAINMASTER_LOAD_PLUGINS": "",
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


CI_MARKERS = ("CI", "GITHUB_ACTIONS", "TF_BUILD")


def host_env(**extra: str) -> dict[str, str]:
    """This process's environment for a ``trainmaster`` subprocess, minus the CI markers of the run
    the tests happen to be in (``CI=true`` in CI would refuse ``--by``) and any ``TRAINMASTER_*``."""
    env = {k: v for k, v in os.environ.items() if k not in CI_MARKERS and not k.startswith("TRAINMASTER_")}
    env.update(extra)
    return env
