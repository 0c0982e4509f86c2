"""Shared helpers for the GitHub adapter's tests (a temp project, releases, a recording sleep).

Holds no tests of its own apart from a self-check of the helpers.
"""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path
from typing import Any

from trainmaster.config import load_config
from trainmaster.config.model import Config
from trainmaster.http import RetryPolicy
from trainmaster.model import Package, Release
from trainmaster_github._settings import SCHEMA

CONFIG = """\
project: demo
packages:
  app: build/app.bin
  docs: build/docs.tar.gz
publish: [github]
ledger: github
github:
  repository: acme/app
defaults:
  target: github
  deploy: echo deploying
train:
  - name: dev
  - name: test
    github:
      environment_url: https://test.example.com
  - name: prod
    approvals: 1
"""


def make_project(root: Path, config: str = CONFIG, app: bytes = b"app-binary\n" * 1000, docs: bytes = b"docs") -> Path:
    (root / "build").mkdir(parents=True, exist_ok=True)
    (root / "build" / "app.bin").write_bytes(app)
    (root / "build" / "docs.tar.gz").write_bytes(docs)
    path = root / "trainmaster.yaml"
    path.write_text(textwrap.dedent(config))
    return path


def load(path: Path) -> Config:
    return load_config(path, plugin_schemas={"github": SCHEMA})


def package(name: str, path: Path) -> Package:
    data = path.read_bytes()
    return Package(
        name=name,
        file_name=path.name,
        size=len(data),
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        media_type="application/gzip" if path.name.endswith(".gz") else "application/octet-stream",
    )


def release(root: Path, version: str = "1.2.3") -> tuple[Release, dict[str, Path]]:
    files = {"app": root / "build" / "app.bin", "docs": root / "build" / "docs.tar.gz"}
    pkgs = tuple(package(name, path) for name, path in files.items())
    rel = Release("demo", version, pkgs, {"source": {"commit": "c" * 40}, "notes": "first", "created_by": "me"})
    return rel, files


def environ(fake: Any, **extra: str) -> dict[str, str]:
    return {"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": "acme/app", **extra}


class Sleeps(list[float]):
    """Records the client's sleeps instead of waiting."""

    def kw(self) -> dict[str, Any]:
        return {"policy": RetryPolicy(attempts=5, budget=1000.0, sleep=self.append)}
