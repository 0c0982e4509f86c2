"""Fixtures shared by every test folder: a throwaway project and a real ``trainmaster`` subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.project import BASIC_CONFIG, DEPLOY_SH, SMOKE_SH, Project, base_env

sys._trainmaster_testing = True  # type: ignore[attr-defined]  # no entry-point autoload in-process


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The DESIGN.md example project with deploy/smoke scripts and a healthy artefact."""
    proj = Project(tmp_path / "proj", base_env(tmp_path))
    proj.root.mkdir()
    proj.write("trainmaster.yaml", BASIC_CONFIG)
    proj.write("deploy.sh", DEPLOY_SH)
    proj.write("smoke.sh", SMOKE_SH)
    proj.build()
    return proj


@pytest.fixture
def bare_project(tmp_path: Path) -> Project:
    """An empty project directory (write your own config)."""
    proj = Project(tmp_path / "proj", base_env(tmp_path))
    proj.root.mkdir()
    return proj
