"""Every Octopus call earns its place (issue 11): within one command no read is sent twice without a
write in between (task polls apart), through the real CLI against the Octopus fake with the ``octopus``
ledger: release create, deploy, promote, status and history, on a plain shell and in a GitHub job
(which writes a summary after deploying)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.call_log import assert_no_repeated_reads

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
project: MyApp
packages:
  app: app.bin
publish: [octopus]
ledger: octopus
octopus:
  poll_interval: 0.01
  environments: {dev: Development, test: Test, prod: Production}
defaults:
  target: octopus
train:
  - name: dev
  - name: test
  - name: prod
"""
POLLS = ("getTaskById_Spaces", "getListTasks_Spaces", "getTaskDetails_Spaces", "getTask", "getListTasks")


@pytest.mark.parametrize("ci", [False, True], ids=["shell", "ci-summary"])
def test_no_command_reads_the_same_thing_twice(octopus_fake: Any, tmp_path: Path, ci: bool) -> None:
    ep = tmp_path / "ep" / "trainmaster_octopus_ep-0.dist-info"
    ep.mkdir(parents=True)
    (ep / "METADATA").write_text("Metadata-Version: 2.1\nName: trainmaster-octopus-ep\nVersion: 0\n")
    (ep / "entry_points.txt").write_text("[trainmaster]\noctopus = trainmaster_octopus.adapter\n")
    work = tmp_path / "proj"
    work.mkdir()
    (work / "trainmaster.yaml").write_text(CONFIG)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path / "ep"), str(ROOT / "src"), str(ROOT / "plugins")]),
               OCTOPUS_URL=octopus_fake.url, OCTOPUS_API_KEY=octopus_fake.api_key, OCTOPUS_SPACE="Default")
    if ci:
        (work / "summary.md").touch()
        env.update(GITHUB_ACTIONS="true", CI="true", GITHUB_RUN_ID="7", GITHUB_ACTOR="octocat",
                   GITHUB_REPOSITORY="acme/app", GITHUB_STEP_SUMMARY=str(work / "summary.md"))

    def run(*args: str) -> list[Any]:
        octopus_fake.reset_log()
        done = subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        calls = [c for c in octopus_fake.calls if c.operation_id != "discovery"]
        assert_no_repeated_reads(calls, f"trainmaster {' '.join(args)}", lambda c: c.operation_id in POLLS)
        return calls

    for version in ("1.0.0", "1.1.0"):
        (work / "app.bin").write_bytes(f"binary {version}".encode())
        run("release", "create", version)
        run("deploy", version, "--to", "dev")
    promote = run("promote", "--from", "dev", "--to", "test")
    assert sum(c.operation_id == "getProgressionView_Spaces" for c in promote) <= 2  # before and after deploying
    status = run("status")
    assert [c.operation_id for c in status].count("getProgressionView_Spaces") == 1
    run("history", "--limit", "50")
    assert len(octopus_fake.deployments) == 3
    if ci:
        assert "1.1.0" in (work / "summary.md").read_text()
