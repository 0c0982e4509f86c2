"""End to end: the composite action's own steps run under bash with a simulated runner.

Each "job" gets fresh GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_ENV files, the GITHUB_* variables,
a fresh RUNNER_TEMP and the GitHub fake as GITHUB_API_URL. The ``run:`` steps of action.yml are
executed as the runner does (``bash --noprofile --norc -eo pipefail``), with ``${{ … }}`` evaluated
only where GitHub evaluates it (``env:``/``with:``, never inside ``run:``). The two ``uses:`` steps
are simulated: setup-python yields this interpreter, and the cache restore yields a venv that imports
this working tree (a cache hit), so no network is needed. Job 1 creates the release; job 2 deploys it
from a workspace holding nothing but the config. Linux only (that is all this machine can run).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainmaster_github._action import read_outputs

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")

CONFIG = """\
project: demo
packages:
  app: build/app.bin
publish: [github]
ledger: github
defaults:
  target: github
  deploy: echo "deploying $TRAINMASTER_VERSION to $TRAINMASTER_ENVIRONMENT"
  smoke: test -s "$TRAINMASTER_PACKAGE_APP"
train:
  - name: dev
    github:
      environment_url: https://dev.example.com
  - name: prod
    approvals: 1
"""


def entry_point_dir(tmp: Path) -> list[str]:
    """Until the package is installed with its entry points, expose the plugin through a dist-info."""
    if any(ep.name == "github" for ep in importlib.metadata.entry_points(group="trainmaster")):
        return []
    info = tmp / "ep" / "trainmaster_github_e2e-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trainmaster-github-e2e\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text("[trainmaster]\ngithub = trainmaster_github.adapter\n")
    return [str(tmp / "ep")]


class Job:
    """One simulated job on a fresh runner."""

    def __init__(self, tmp: Path, name: str, fake: Any, extra_paths: list[str]) -> None:
        self.dir = tmp / name
        self.workspace = self.dir / "workspace"
        self.temp = self.dir / "runner_temp"
        for d in (self.workspace, self.temp):
            d.mkdir(parents=True)
        self.summary = self.dir / "step_summary.md"
        self.env_file = self.dir / "github_env"
        self.summary.touch()
        self.env_file.touch()
        self.extra_paths = extra_paths
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_API_URL": fake.url,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SHA": "f" * 40,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_WORKFLOW": "release train",
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_ENV": str(self.env_file),
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(self.temp),
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }
        self.log = ""

    def evaluate(self, text: str, ctx: dict[str, str]) -> str:
        return EXPR.sub(lambda m: ctx.get(m.group(1), ""), text)

    def restore_cache(self, venv: Path) -> None:
        """Simulated actions/cache hit: a venv that imports this working tree and its dependencies."""
        if not venv.exists():
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
        deps = sysconfig.get_path("purelib")
        lines = [str(ROOT / "src"), str(ROOT / "plugins"), deps, *self.extra_paths]
        (site / "trainmaster-worktree.pth").write_text("\n".join(lines) + "\n")

    def run_action(self, inputs: dict[str, str], token: str, background: bool = False) -> Any:
        """Run the action's steps; with ``background`` the last step is started and its Popen returned."""
        ctx: dict[str, str] = {"github.token": token}
        for name, spec in ACTION["inputs"].items():
            value = inputs.get(name, spec.get("default", ""))
            ctx[f"inputs.{name}"] = self.evaluate(str(value), ctx)
        for index, step in enumerate(ACTION["runs"]["steps"]):
            sid = step.get("id", f"step{index}")
            outputs: dict[str, str] = {}
            if "uses" in step:
                with_ = {k: self.evaluate(str(v), ctx) for k, v in (step.get("with") or {}).items()}
                if step["uses"].startswith("actions/setup-python@"):
                    assert with_["update-environment"].lower() == "false"
                    outputs = {"python-path": sys.executable, "python-version": sys.version.split()[0]}
                elif step["uses"].startswith("actions/cache@"):
                    assert with_["key"].startswith("trainmaster-venv-v1-Linux-X64-py"), with_
                    self.restore_cache(Path(with_["path"]))
                    outputs = {"cache-hit": "true"}
                else:
                    raise AssertionError(f"unexpected action {step['uses']}")
            else:
                assert "${{" not in step["run"]
                out_file = self.dir / f"output_{index}"
                out_file.touch()
                script = self.dir / f"step_{index}.sh"
                script.write_text(step["run"])
                env = {**self.env, "GITHUB_OUTPUT": str(out_file)}
                env.update({k: self.evaluate(str(v), ctx) for k, v in (step.get("env") or {}).items()})
                bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
                if background and sid == "run":
                    self.output_file = out_file
                    return subprocess.Popen(
                        bash, cwd=self.workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                    )
                result = subprocess.run(
                    bash,
                    cwd=self.workspace,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                self.log += result.stdout + result.stderr
                if result.returncode != 0:
                    return result.returncode, read_outputs(str(out_file))  # the failed step's own outputs
                outputs = read_outputs(str(out_file))
            for key, value in outputs.items():
                ctx[f"steps.{sid}.outputs.{key}"] = value
        action_outputs = {name: self.evaluate(spec["value"], ctx) for name, spec in ACTION["outputs"].items()}
        return 0, action_outputs


@pytest.fixture
def jobs(tmp_path: Path, github_fake: Any) -> Any:
    paths = entry_point_dir(tmp_path)
    return lambda name: Job(tmp_path, name, github_fake, paths)


def test_build_job_creates_release_and_deploy_job_deploys_it(jobs: Any, github_fake: Any) -> None:
    build = jobs("build")
    (build.workspace / "build").mkdir()
    (build.workspace / "build" / "app.bin").write_bytes(b"the build output\n")
    (build.workspace / "trainmaster.yaml").write_text(CONFIG)
    code, out = build.run_action({"command": "release-create", "version": "1.2.3"}, github_fake.token)
    assert code == 0, build.log
    assert out["version"] == "1.2.3" and out["release-id"].startswith("sha256:")
    assert out["release-url"].endswith("/acme/app/releases/tag/v1.2.3")
    (gh,) = github_fake.repos[("acme", "app")].releases.values()
    assert gh["draft"] is False and gh["target_commitish"] == "f" * 40
    assert "| dev |" in build.summary.read_text()

    deploy = jobs("deploy-dev")
    (deploy.workspace / "ci").mkdir()
    (deploy.workspace / "ci" / "trainmaster.yaml").write_text(CONFIG.replace("build/app.bin", "../build/app.bin"))
    code, out2 = deploy.run_action(
        {"command": "deploy", "version": "1.2.3", "environment": "dev", "working-directory": "ci"}, github_fake.token
    )
    assert code == 0, deploy.log
    assert out2["status"] == "succeeded" and out2["deployment-id"]
    assert out2["environment-url"] == "https://dev.example.com"
    assert out2["release-url"] == out["release-url"]
    assert "deploying 1.2.3 to dev" in deploy.log
    (dep,) = github_fake.repos[("acme", "app")].deployments.values()
    assert dep["payload"]["trainmaster"]["release_id"] == out["release-id"]
    summary = deploy.summary.read_text()
    dev_row = next(line for line in summary.splitlines() if line.startswith("| dev |"))
    assert "1.2.3" in dev_row and "succeeded" in dev_row
    assert "| prod |" in summary and "```mermaid" in summary and "flowchart LR" in summary
    assert summary.count("### trainmaster") == 1
    assert github_fake.token not in build.log + deploy.log + summary

    # prod has approvals: 1, enforced by the GitHub environment's required reviewers, not by
    # approvals recorded in a local sqlite ledger that no job keeps.
    github_fake.set_environment("acme", "app", "prod", reviewers=["boss"])
    promote = jobs("promote-prod")
    (promote.workspace / "trainmaster.yaml").write_text(CONFIG)
    # The job runs once GitHub's reviewers approved it (the runner holds it before; nothing to do here).
    code, out3 = promote.run_action({"command": "promote", "from": "dev", "environment": "prod"}, github_fake.token)
    assert code == 0, promote.log
    assert "needs 1 approval" not in promote.log
    assert out3["status"] == "succeeded" and out3["version"] == "1.2.3"
    assert out3["release-url"] == out["release-url"]
    envs = sorted(d["environment"] for d in github_fake.repos[("acme", "app")].deployments.values())
    assert envs == ["dev", "prod"]


def test_bad_input_fails_the_step_with_an_annotation(jobs: Any, github_fake: Any) -> None:
    job = jobs("bad")
    code, _ = job.run_action({"command": "deploy", "version": "1.2.3"}, github_fake.token)
    assert code == 2
    assert "::error title=trainmaster action input::command 'deploy' needs the input(s) 'environment'" in job.log


@pytest.mark.parametrize("problem", ["bad_token", "no_permission", "unknown_repo"])
def test_auth_problems_exit_2_with_one_clear_message(jobs: Any, github_fake: Any, problem: str) -> None:
    job = jobs(problem)
    (job.workspace / "build").mkdir()
    (job.workspace / "build" / "app.bin").write_bytes(b"x")
    (job.workspace / "trainmaster.yaml").write_text(CONFIG)
    token = github_fake.token
    if problem == "bad_token":
        token = "ghp_notTheRightToken0000000000000000"
    elif problem == "no_permission":
        github_fake.fail(
            403,
            operation_id="repos/create-release",
            body={"message": "Resource not accessible by integration", "documentation_url": "x"},
        )
    else:
        job.env["GITHUB_REPOSITORY"] = "acme/missing"
    code, _ = job.run_action({"command": "release-create", "version": "1.0.0"}, token)
    assert code == 2, job.log
    expected = {
        "bad_token": "put a valid token in GITHUB_TOKEN",
        "no_permission": "permissions: contents: write",
        "unknown_repo": "check GITHUB_REPOSITORY",
    }[problem]
    errors = [line for line in job.log.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and expected in errors[0], job.log
    assert token not in job.log and "Traceback" not in job.log


def test_cli_validate_needs_required_reviewers_for_approvals(tmp_path: Path, github_fake: Any) -> None:
    paths = entry_point_dir(tmp_path)
    (tmp_path / "trainmaster.yaml").write_text(CONFIG)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "app.bin").write_text("app")  # validate checks the package's file is there
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "GITHUB_TOKEN": github_fake.token,
        "GITHUB_API_URL": github_fake.url,
        "GITHUB_REPOSITORY": "acme/app",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "plugins"), *paths]),
    }

    def validate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trainmaster", "validate"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    result = validate()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "prod" in result.stderr and "required reviewers" in result.stderr
    github_fake.set_environment("acme", "app", "prod", reviewers=["boss"])
    result = validate()
    assert result.returncode == 0, result.stdout + result.stderr


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_cancelling_the_job_cancels_the_deployment_and_stops_everything(jobs: Any, github_fake: Any) -> None:
    """The runner cancels a step by signalling its bash: the action, the CLI and the commands all stop."""
    build = jobs("build")
    (build.workspace / "build").mkdir()
    (build.workspace / "build" / "app.bin").write_bytes(b"the build output\n")
    (build.workspace / "trainmaster.yaml").write_text(CONFIG)
    code, _ = build.run_action({"command": "release-create", "version": "1.2.3"}, github_fake.token)
    assert code == 0, build.log

    job = jobs("deploy-dev")
    pidfile = job.dir / "sleep.pid"
    slow = re.sub(r"  deploy: .*", f"  deploy: 'sleep 60 & echo $! > {pidfile}; wait'", CONFIG)
    (job.workspace / "trainmaster.yaml").write_text(slow)
    proc = job.run_action({"command": "deploy", "version": "1.2.3", "environment": "dev"}, github_fake.token, True)
    tree: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.05)
        tree = descendants(proc.pid) + [int(pidfile.read_text())]
        proc.send_signal(signal.SIGTERM)  # what the runner sends to the step's bash on cancel
        log, _ = proc.communicate(timeout=30)
        assert proc.returncode == 143, log
        time.sleep(0.2)
        assert [pid for pid in tree if alive(pid)] == [], log
    finally:
        for pid in [proc.pid, *tree]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    (dep,) = github_fake.repos[("acme", "app")].deployments.values()
    final = github_fake.repos[("acme", "app")].statuses[dep["id"]][-1]
    assert final["state"] == "error" and final["description"].startswith("cancelled"), final
    assert read_outputs(str(job.output_file))["status"] == "cancelled"
    assert github_fake.token not in log
