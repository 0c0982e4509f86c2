"""Every Azure DevOps call earns its place (issue 11): within one command no read is sent twice without
a write in between (stage polls apart), through the real CLI against the Azure DevOps fake, in a build
(release create), a later pipeline (sync, deploy) and a fresh runner (promote, status, history)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.support.azure import PYTHON, cli_env, make_project
from tests.support.call_log import assert_no_repeated_reads

POLL = "Releases_Get Release Environment"


def _agent(fake: Any, root: Path, build: str, **extra: str) -> dict[str, str]:
    (root / "agent-temp").mkdir(parents=True, exist_ok=True)
    return cli_env(root, TF_BUILD="True", SYSTEM_COLLECTIONURI=fake.url + "/", SYSTEM_TEAMPROJECT="MyProject",
                   SYSTEM_ACCESSTOKEN=fake.token, BUILD_BUILDID=build, BUILD_BUILDNUMBER=f"2024.{build}",
                   BUILD_REQUESTEDFOREMAIL="dev@example.com", AGENT_TEMPDIRECTORY=str(root / "agent-temp"),
                   BUILD_ARTIFACTSTAGINGDIRECTORY=str(root / "staging"), **extra)


def _run(fake: Any, root: Path, env: dict[str, str], *args: str) -> list[Any]:
    fake.reset_log()
    done = subprocess.run([PYTHON, "-m", "trainmaster", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    calls = [c for c in fake.calls if c.operation_id != "discovery"]  # the SDK's, cached on disk
    assert_no_repeated_reads(calls, f"trainmaster {' '.join(args)}", lambda c: c.operation_id == POLL)
    return calls


def test_no_command_reads_the_same_thing_twice(azure_fake: Any, tmp_path: Path) -> None:
    root = tmp_path / "build"
    make_project(root, azure_fake.url)
    azure_fake.seed_build(102, "2024.102", definition_id=7, definition_name="app-ci")
    for version, build in (("1.0.0", "101"), ("1.1.0", "102")):
        _run(azure_fake, root, _agent(azure_fake, root, build), "release", "create", version)
        later = _agent(azure_fake, root, "900")
        if version == "1.0.0":  # 1.1.0's classic release is created by its deploy
            _run(azure_fake, root, later, "sync", "--to", "azure-devops", version)
        deploy = _run(azure_fake, root, later, "deploy", version, "--to", "dev")
        assert sum(c.operation_id == "Releases_Update Release Environment" for c in deploy) == 1
    # a fresh runner: the repository and the artefacts the pipeline downloaded, no state
    fresh = tmp_path / "fresh"
    shutil.copytree(root, fresh, ignore=shutil.ignore_patterns(".trainmaster", "staging"))
    arts = fresh / "_artifacts" / "trainmaster"
    arts.mkdir(parents=True)
    shutil.copy(root / "staging" / "trainmaster" / "release.json", arts / "release.json")
    shutil.copy(root / "build" / "app.bin", arts / "app.bin")
    env = _agent(azure_fake, fresh, "901", SYSTEM_ARTIFACTSDIRECTORY=str(fresh / "_artifacts"))
    _run(azure_fake, fresh, env, "promote", "--from", "dev", "--to", "test")
    assert azure_fake.stage_status(max(azure_fake.releases), "Test") == "succeeded"
    status = _run(azure_fake, fresh, env, "status")
    history = _run(azure_fake, fresh, env, "history", "--limit", "50")
    assert sum(c.operation_id == "Releases_Get Release" for c in history) == 0  # marks in one batch
    assert len(status) <= 5 and len(history) <= 3
