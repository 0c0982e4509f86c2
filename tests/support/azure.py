"""Shared helpers for the Azure DevOps adapter's tests: a temp project, releases, a recording sleep.

Holds no tests of its own apart from a self-check of the helpers.
"""

from __future__ import annotations

import hashlib
import os
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

from trainmaster.config import load_config
from trainmaster.config.model import Config
from trainmaster.http import RetryPolicy
from trainmaster.interfaces import DeployJob, DeployOutcome
from trainmaster.masking import Masker
from trainmaster.model import Package, Release
from trainmaster_azure._settings import SCHEMA

REPO = Path(__file__).resolve().parents[2]
TASK = REPO / "azure-pipelines-task"
CONFIG = """\
project: demo
packages:
  app: build/app.bin
publish: [azure-devops]
ledger: azure-devops
azure-devops:
  organization: {url}
  project: MyProject
  definition: app-release
  poll_interval: 0
  timeout: 30
defaults:
  target: azure-devops
  deploy: echo deploying
train:
  - name: dev
  - name: test
    azure-devops:
      stage: Test
  - name: prod
"""


def make_project(root: Path, url: str, config: str = CONFIG, app: bytes = b"app-binary\n" * 100) -> Path:
    (root / "build").mkdir(parents=True, exist_ok=True)
    (root / "build" / "app.bin").write_bytes(app)
    path = root / "trainmaster.yaml"
    path.write_text(textwrap.dedent(config).replace("{url}", url))
    return path


def load(path: Path) -> Config:
    return load_config(path, plugin_schemas={"azure-devops": SCHEMA})


def release(root: Path, version: str = "1.2.3", build: str = "101", content: bytes | None = None) -> Release:
    data = content if content is not None else (root / "build" / "app.bin").read_bytes()
    pkg = Package("app", "app.bin", len(data), "sha256:" + hashlib.sha256(data).hexdigest())
    source = {"ci": "azure-pipelines", "build_id": build, "build_number": "20240101.1", "commit": "a" * 40}
    return Release("demo", version, (pkg,), {"source": source, "created_by": "dev@example.com"})


def agent_env(fake: Any, tmp: Path, **extra: str) -> dict[str, str]:
    """The variables an Azure Pipelines agent gives a build job."""
    (tmp / "agent-temp").mkdir(exist_ok=True)
    return {
        "TF_BUILD": "True", "SYSTEM_COLLECTIONURI": fake.url + "/", "SYSTEM_TEAMPROJECT": "MyProject",
        "SYSTEM_ACCESSTOKEN": fake.token, "BUILD_BUILDID": "101", "BUILD_BUILDNUMBER": "20240101.1",
        "BUILD_SOURCEVERSION": "a" * 40, "BUILD_SOURCEBRANCH": "refs/heads/main",
        "BUILD_REQUESTEDFOREMAIL": "dev@example.com", "AGENT_TEMPDIRECTORY": str(tmp / "agent-temp"),
        "BUILD_ARTIFACTSTAGINGDIRECTORY": str(tmp / "staging"), **extra,
    }


class Sleeps(list[float]):
    """Records the client's sleeps instead of waiting."""

    def http(self, timeout: tuple[float, float] | None = None, **policy: Any) -> dict[str, Any]:
        """The client's keyword arguments: a policy recording its sleeps (jitter fixed at 0.5)."""
        kw: dict[str, Any] = {"policy": RetryPolicy(sleep=self.append, rand=lambda: 0.5, **policy)}
        return kw if timeout is None else {**kw, "timeout": timeout}


class Checks:
    """Stands in for the core's run_steps / run_checks: counts calls, returns an outcome."""

    def __init__(self, status: str = "succeeded") -> None:
        self.status = status
        self.ran = 0

    def __call__(self) -> DeployOutcome:
        self.ran += 1
        return DeployOutcome(status=self.status, packages={"app": "deployed"})  # type: ignore[arg-type]


class Ci:
    name, in_ci = "test", True

    def actor(self) -> str:
        return "dev@example.com"


def job(config: Config, env_name: str, rel: Release, *, steps: Checks | None = None,
        checks: Checks | None = None, out: list[str] | None = None, kind: str = "deploy") -> DeployJob:
    lines = out if out is not None else []
    return DeployJob(config=config, environment=config.environment(env_name), release=rel,  # type: ignore[arg-type]
                     deployment_id=1, kind=kind, plan=[], variables={}, masker=Masker(), out=lines.append,
                     ci=Ci(), run_steps=steps or Checks(), run_checks=checks or Checks(),  # type: ignore[arg-type]
                     run_command=lambda a, b: None)  # type: ignore[arg-type,return-value]


def cli_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment for ``python -m trainmaster`` with this plugin loadable by entry point."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    paths = [str(REPO / "src"), str(REPO / "plugins"), str(REPO)]
    names = {ep.name for ep in metadata.entry_points(group="trainmaster")}
    if "azure-devops" not in names:
        site = tmp / "site"
        info = site / "trainmaster_azure_tests-1.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trainmaster-azure-tests\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text("[trainmaster]\nazure-devops = trainmaster_azure.adapter\n")
        paths.insert(0, str(site))
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1", **extra)
    env.pop("TRAINMASTER_LOAD_PLUGINS", None)
    return env


PYTHON = sys.executable
