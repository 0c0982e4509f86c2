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
from tests.support.octopus_cli import OCTOPUS_LEDGER_CONFIG as CONFIG
from tests.support.octopus_cli import entry_point

ROOT = Path(__file__).resolve().parents[2]
POLLS = ("getTaskById_Spaces", "getListTasks_Spaces", "getTaskDetails_Spaces", "getTask", "getListTasks")


@pytest.mark.parametrize("ci", [False, True], ids=["shell", "ci-summary"])
def test_no_command_reads_the_same_thing_twice(octopus_fake: Any, tmp_path: Path, ci: bool) -> None:
    ep = entry_point(tmp_path)
    work = tmp_path / "proj"
    work.mkdir()
    (work / "trainmaster.yaml").write_text(CONFIG)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(PYTHONPATH=os.pathsep.join([str(ep), str(ROOT / "src"), str(ROOT / "plugins")]),
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


def test_sync_pushes_in_one_pass_and_deletes_a_package_that_is_not_the_pinned_one(octopus_fake: Any,
                                                                                 tmp_path: Path) -> None:
    """``sync`` no longer re-hashes the store first: the push hashes while it sends, and an altered
    artefact is deleted from the feed again (exit 4), leaving Octopus as it was."""
    import hashlib

    ep = entry_point(tmp_path)
    work = tmp_path / "proj"
    work.mkdir()
    (work / "trainmaster.yaml").write_text(CONFIG.replace("publish: [octopus]\n", "").replace("app.bin", "app.zip"))
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update(PYTHONPATH=os.pathsep.join([str(ep), str(ROOT / "src"), str(ROOT / "plugins")]),
               OCTOPUS_URL=octopus_fake.url, OCTOPUS_API_KEY=octopus_fake.api_key, OCTOPUS_SPACE="Default")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=60)

    data = b"PK\x05\x06" + b"\0" * 18 + b"the app" * 1000
    (work / "app.zip").write_bytes(data)
    assert run("release", "create", "1.0.0").returncode == 0
    blob = work / ".trainmaster" / "store" / "sha256" / hashlib.sha256(data).hexdigest()[:2]
    blob = blob / hashlib.sha256(data).hexdigest()
    blob.chmod(0o644)
    blob.write_bytes(data.replace(b"the app", b"evil!!!"))  # same size, other bytes
    bad = run("sync", "--to", "octopus", "1.0.0")
    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "pinned" in bad.stderr and "deleted" in bad.stderr and "Traceback" not in bad.stderr
    assert octopus_fake.count("createPackageRepositoryUpload_Spaces") == 1  # sent once, hashed on the way
    assert octopus_fake.count("deletePackageRepository_Spaces") == 1
    assert not octopus_fake.packages and not octopus_fake.releases
    blob.write_bytes(data)
    good = run("sync", "--to", "octopus", "1.0.0")
    assert good.returncode == 0, good.stdout + good.stderr
    assert len(octopus_fake.packages) == 1 and len(octopus_fake.releases) == 1
