"""Every GitHub call earns its place (issue 11): within one command no read is sent twice without a
write in between, in a GitHub Actions job (summary written) and on a plain shell, through the real
CLI against the GitHub fake, including a deploy whose create-deployment answer is lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.call_log import assert_no_repeated_reads, repeated_reads
from tests.support.github import CONFIG, make_project


class Runner:
    """One runner's workspace; ``ci`` simulates a GitHub Actions job with a job summary."""

    def __init__(self, root: Path, fake: Any, ci: bool, build: bool = True) -> None:
        self.root, self.fake = root, fake
        if build:
            make_project(root, CONFIG.replace("  docs: build/docs.tar.gz\n", ""))
        else:
            root.mkdir(parents=True)
            (root / "trainmaster.yaml").write_text(CONFIG.replace("  docs: build/docs.tar.gz\n", ""))
        keep = ("PATH", "HOME", "LANG", "TMPDIR")
        self.env = {k: os.environ[k] for k in keep if k in os.environ}
        self.env.update({"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": "acme/app",
                         "PYTHONDONTWRITEBYTECODE": "1", "TRAINMASTER_LOAD_PLUGINS": "github"})
        if ci:
            (root / "summary.md").touch()
            (root / "output").touch()
            self.env.update({"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_RUN_ID": "77", "GITHUB_ACTOR": "octocat",
                             "GITHUB_STEP_SUMMARY": str(root / "summary.md"), "GITHUB_OUTPUT": str(root / "output")})

    def run(self, *argv: str) -> list[Any]:
        """Run one command (it must succeed) and return its calls."""
        self.fake.reset_log()
        proc = subprocess.run([sys.executable, "-m", "trainmaster", *argv], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{argv}: {proc.stdout}\n{proc.stderr}"
        return list(self.fake.calls)


def test_the_helper_flags_a_read_repeated_without_a_write_between() -> None:
    get = {"method": "GET", "path": "/repos/acme/app/deployments", "query": {"environment": "dev"}, "status": 200}
    post = {"method": "POST", "path": "/repos/acme/app/deployments", "query": {}, "status": 201}
    retried = {**get, "status": 503}
    assert repeated_reads([get, post, get]) == {}
    assert repeated_reads([retried, get]) == {}
    assert repeated_reads([get, get]) == {"GET /repos/acme/app/deployments?environment=dev": 1}


@pytest.mark.parametrize("ci", [True, False], ids=["actions-job", "shell"])
def test_no_command_reads_the_same_thing_twice(tmp_path: Path, github_fake: Any, ci: bool) -> None:
    runner = Runner(tmp_path / "runner", github_fake, ci)
    for version in ("1.0.0", "1.1.0"):
        assert_no_repeated_reads(runner.run("release", "create", version), f"release create {version}")
        assert_no_repeated_reads(runner.run("deploy", version, "--to", "dev"), f"deploy {version}")
        fresh = Runner(tmp_path / f"fresh-{version}", github_fake, ci, build=False)
        assert_no_repeated_reads(fresh.run("promote", "--from", "dev", "--to", "test"), f"promote {version}")
    assert_no_repeated_reads(runner.run("rollback", "--env", "test"), "rollback")
    assert_no_repeated_reads(runner.run("status"), "status")
    assert_no_repeated_reads(runner.run("history", "--limit", "50"), "history")
    deps = github_fake.repos[("acme", "app")].deployments.values()
    assert sorted(d["environment"] for d in deps) == ["dev", "dev", "test", "test", "test"]
    if ci:
        assert "| test |" in (tmp_path / "runner" / "summary.md").read_text()


def test_a_lost_create_deployment_answer_is_recovered_without_repeating_reads(
    tmp_path: Path, github_fake: Any
) -> None:
    runner = Runner(tmp_path / "runner", github_fake, ci=True)
    runner.run("release", "create", "1.0.0")
    github_fake.lose_response(operation_id="repos/create-deployment")
    calls = runner.run("deploy", "1.0.0", "--to", "dev")
    assert_no_repeated_reads(calls, "deploy with a lost answer")
    (dep,) = github_fake.repos[("acme", "app")].deployments.values()  # found again, not created twice
    assert github_fake.count("repos/create-deployment") == 1
    assert dep["environment"] == "dev"


def test_sync_uploads_in_one_pass_and_an_altered_store_file_is_deleted_from_github(
    tmp_path: Path, github_fake: Any
) -> None:
    local = CONFIG.replace("  docs: build/docs.tar.gz\n", "").replace("publish: [github]\nledger: github\n", "")
    root = tmp_path / "runner"
    make_project(root, local)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    env.update({"GITHUB_TOKEN": github_fake.token, "GITHUB_API_URL": github_fake.url, "GITHUB_REPOSITORY": "acme/app",
                "PYTHONDONTWRITEBYTECODE": "1", "TRAINMASTER_LOAD_PLUGINS": "github"})

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *argv], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)

    created = cli("release", "create", "1.0.0")  # local ledger only: nothing on GitHub yet
    assert created.returncode == 0, created.stderr
    (stored,) = (p for p in (root / ".trainmaster" / "store" / "sha256").rglob("*") if p.is_file())
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-1] + b"X")  # same size, other bytes: only a hash can tell
    bad = cli("sync", "--to", "github", "1.0.0")
    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr and "the uploaded asset was deleted" in bad.stderr
    repo = github_fake.repos[("acme", "app")]
    assert [a["name"] for a in repo.assets.values()] == ["release.json"]  # the altered package is gone
    assert all(r["draft"] for r in repo.releases.values())  # never published
    assert github_fake.count("repos/upload-release-asset") == 2  # each file read once, as it was sent
