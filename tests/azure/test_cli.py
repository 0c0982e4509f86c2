"""End to end: the real CLI in subprocesses against the Azure DevOps fake (build, then release, then deploy)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.azure import CONFIG, PYTHON, cli_env, make_project


def run(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "trainmaster", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def agent(fake: Any, tmp: Path, build: str) -> dict[str, str]:
    (tmp / "agent-temp").mkdir(exist_ok=True)
    return cli_env(tmp, TF_BUILD="True", SYSTEM_COLLECTIONURI=fake.url + "/", SYSTEM_TEAMPROJECT="MyProject",
                   SYSTEM_ACCESSTOKEN=fake.token, BUILD_BUILDID=build, BUILD_BUILDNUMBER=f"2024.{build}",
                   BUILD_REQUESTEDFOREMAIL="dev@example.com", AGENT_TEMPDIRECTORY=str(tmp / "agent-temp"),
                   BUILD_ARTIFACTSTAGINGDIRECTORY=str(tmp / "staging"))


def test_build_then_release_then_deploy_through_an_approval(azure_fake: Any, tmp_path: Path) -> None:
    azure_fake.require_approval(1, "Prod")
    make_project(tmp_path, azure_fake.url)
    build = agent(azure_fake, tmp_path, "101")
    created = run(tmp_path, build, "release", "create", "1.0.0")
    assert created.returncode == 0, created.stderr
    assert "azure-devops: deferred" in created.stdout and azure_fake.count("Releases_Create") == 0
    assert "##vso[artifact.upload" in created.stdout
    later = agent(azure_fake, tmp_path, "202")  # a pipeline triggered by build 101's completion
    for env_name in ("dev", "test"):
        done = run(tmp_path, later, "deploy", "1.0.0", "--to", env_name)
        assert done.returncode == 0, done.stdout + done.stderr
    assert azure_fake.count("Releases_Create") == 1
    (classic,) = azure_fake.releases.values()
    assert classic["artifacts"][0]["definitionReference"]["version"]["id"] == "101"
    waiting = run(tmp_path, later, "deploy", "1.0.0", "--to", "prod")
    assert waiting.returncode == 3, waiting.stdout + waiting.stderr
    assert "_releaseProgress?releaseId=" in waiting.stdout + waiting.stderr
    azure_fake.approve(classic["id"], "Prod")
    done = run(tmp_path, later, "deploy", "1.0.0", "--to", "prod")
    assert done.returncode == 0, done.stdout + done.stderr
    status = run(tmp_path, later, "status", "--json")
    assert status.returncode == 0, status.stderr
    data = "".join(line for line in status.stdout.splitlines(True) if not line.startswith("##vso["))
    envs = {e["name"]: e for e in json.loads(data)["environments"]}
    assert envs["prod"]["version"] == "1.0.0" and envs["prod"]["status"] == "succeeded"
    for proc in (created, waiting, done, status):
        assert azure_fake.token not in proc.stdout + proc.stderr


def test_a_pat_from_another_variable_is_masked_before_use(azure_fake: Any, tmp_path: Path) -> None:
    make_project(tmp_path, azure_fake.url)
    env = agent(azure_fake, tmp_path, "202")
    env["AZURE_DEVOPS_EXT_PAT"] = env.pop("SYSTEM_ACCESSTOKEN")
    done = run(tmp_path, env, "status")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "##vso[task.setsecret]" + azure_fake.token
    assert all(azure_fake.token not in line for line in lines[1:] + done.stderr.splitlines())


@pytest.mark.parametrize("organization", ["/myorg", "myorg"])
def test_an_organization_without_a_scheme_is_a_located_config_error_at_every_command(
        tmp_path: Path, organization: str) -> None:
    path = make_project(tmp_path, organization)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "organization:" in text)
    env = cli_env(tmp_path, SYSTEM_ACCESSTOKEN="t0ken-xyz", SYSTEM_TEAMPROJECT="MyProject")
    for args in (["validate"], ["status"], ["history"], ["release", "create", "1.0.0"],
                 ["deploy", "1.0.0", "--to", "dev"]):
        done = run(tmp_path, env, *args)
        assert done.returncode == 2, (args, done.stdout + done.stderr)
        assert f"trainmaster.yaml:{line}:" in done.stderr and "organization" in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr and "t0ken-xyz" not in done.stdout + done.stderr


def test_a_collection_uri_without_a_scheme_names_the_variable(tmp_path: Path) -> None:
    no_org = "\n".join(line for line in CONFIG.splitlines() if "organization:" not in line) + "\n"
    make_project(tmp_path, "unused", no_org)
    env = cli_env(tmp_path, SYSTEM_ACCESSTOKEN="t0ken-xyz", SYSTEM_TEAMPROJECT="MyProject",
                  SYSTEM_COLLECTIONURI="myorg")
    for args in (["validate"], ["status"]):
        done = run(tmp_path, env, *args)
        assert done.returncode == 2, (args, done.stdout + done.stderr)
        assert "SYSTEM_COLLECTIONURI" in done.stderr and "Traceback" not in done.stderr, done.stderr
