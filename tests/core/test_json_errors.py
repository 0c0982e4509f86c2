"""With ``--json``, every failure is one JSON object on stdout, valid against docs/schemas/error.schema.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from tests.support.project import Project, copy_project

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "schemas" / "error.schema.json").read_text())


def _error(result: object, code: int) -> dict:  # type: ignore[type-arg]
    assert result.returncode == code, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]  # exactly one JSON document
    jsonschema.validate(data, SCHEMA)
    assert data["error"]["exit_code"] == code
    return data["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("args", "code", "kind", "says"), [
    (("deploy", "1.0.0", "--to", "staging", "--json"), 2, "invalid_input", "unknown environment 'staging'"),
    (("deploy", "9.9.9", "--to", "dev", "--json"), 2, None, "9.9.9"),
    (("history", "--json", "--limit", "x"), 2, "bad_parameter", "--limit"),
    (("deploy", "1.0.0", "--to", "prod", "--json"), 3, "refused", "approval"),
])
def test_a_failure_is_one_json_error_object(project: Project, args: tuple[str, ...], code: int, kind: str | None,
                                             says: str, project_template: Callable[..., Project]) -> None:
    # 1.0.0 created, deployed to dev and promoted to test by the real CLI once, copied for each case
    copy_project(project_template(("release", "create", "1.0.0"), ("deploy", "1.0.0", "--to", "dev"),
                                  ("promote", "--from", "dev", "--to", "test")), project)
    error = _error(project.run(*args), code)
    assert kind is None or error["kind"] == kind, error
    assert says in error["message"], error
    if code == 3:
        assert error["pending"] and any("approval" in line for line in error["pending"])


def test_a_config_error_carries_its_location(project: Project) -> None:
    project.write("trainmaster.yaml", "project: demo\ntrain:\n  - name: dev\n    aproval: 1\n")
    error = _error(project.run("status", "--json"), 2)
    assert (error["kind"], error["line"], error["column"], error["key"], error["suggestion"]) == (
        "config_error", 4, 5, "aproval", "approvals")
    assert error["file"] == "trainmaster.yaml"


def test_a_conflict_is_exit_4_as_json(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.build("other bytes")
    _error(project.run("release", "create", "1.0.0", "--json"), 4)


def test_a_failed_deployment_prints_its_deployment_object_once(project: Project) -> None:
    project.build("broken")
    project.ok("release", "create", "1.0.0")
    result = project.run("deploy", "1.0.0", "--to", "dev", "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)  # one document: the deployment, not an error object as well
    assert data["deployment"]["status"] == "failed" and "error" not in data


def test_every_command_refuses_a_target_no_plugin_provides(project: Project) -> None:
    """``release create`` refuses what ``validate`` refuses (it used to accept it; only deploy refused)."""
    project.write("trainmaster.yaml", "project: demo\npackages: {app: build/app.bin}\ntrain:\n"
                                      "  - name: dev\n    target: nowhere\n")
    before = project.snapshot()
    for args in (("release", "create", "1.0.0"), ("status",)):
        error = _error(project.run(*args, "--json"), 2)
        assert (error["key"], error["line"]) == ("target", 4), error
        assert "'nowhere'" in error["message"]
    result = project.run("validate", "--json")  # validate lists its problems instead
    assert result.returncode == 2
    (error,) = json.loads(result.stdout)["errors"]
    assert (error["key"], error["line"]) == ("target", 4) and "'nowhere'" in error["message"], error
    assert project.snapshot() == before
