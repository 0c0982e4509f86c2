"""Fixtures shared by every test folder: a throwaway project and a real ``trainmaster`` subprocess."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.project import BASIC_CONFIG, DEPLOY_SH, SMOKE_SH, Project, base_env

sys._trainmaster_testing = True  # type: ignore[attr-defined]  # no entry-point autoload in-process


def _example_project(tmp: Path) -> Project:
    proj = Project(tmp / "proj", base_env(tmp))
    proj.root.mkdir()
    proj.write("trainmaster.yaml", BASIC_CONFIG)
    proj.write("deploy.sh", DEPLOY_SH)
    proj.write("smoke.sh", SMOKE_SH)
    proj.build()
    return proj


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The DESIGN.md example project with deploy/smoke scripts and a healthy artefact."""
    return _example_project(tmp_path)


@pytest.fixture(scope="session")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Project]:
    """``project_template(("release", "create", "1.0.0"), …)``: the ``project`` fixture's project after these
    commands ran through the real CLI, made once per session (per pytest-xdist worker) for each sequence.
    Many tests start from the same state: ``copy_project(project_template(…), project)`` gives each its
    own copy instead of running the same commands again. Never change the template itself."""
    built: dict[tuple[tuple[str, ...], ...], Project] = {}

    def make(*commands: tuple[str, ...]) -> Project:
        if commands not in built:
            template = _example_project(tmp_path_factory.mktemp("template"))
            for command in commands:
                template.ok(*command)
            built[commands] = template
        return built[commands]

    return make


@pytest.fixture
def bare_project(tmp_path: Path) -> Project:
    """An empty project directory (write your own config)."""
    proj = Project(tmp_path / "proj", base_env(tmp_path))
    proj.root.mkdir()
    return proj
