"""Every config problem at once (up to 20, each at file:line:col), ``validate --json``'s list, and package files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.project import Project
from trainmaster.config import load_config
from trainmaster.errors import ConfigError, ConfigErrors

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
ERROR_SCHEMA = json.loads((SCHEMAS / "error.schema.json").read_text())

SEVERAL = """\
project: demo
packages: {app: build/app.bin}
defaults:
  timeout: 5x
train:
  - name: dev
    aproval: 1
  - name: test
    windows: [{hours: "25:00-26:00"}]
    on_failure: rolback
"""

SEMANTIC = """\
project: demo
packages: {app: build/app.bin}
defaults:
  timeout: 0s
train:
  - name: dev
    variables: {API_TOKEN: abc}
  - name: test
    windows: [{hours: "09:00-10:00", timezone: Mars/Base}]
  - name: dev
"""


def _load(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "trainmaster.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, display_path="trainmaster.yaml")
    return info.value


def test_every_shape_problem_is_reported_with_its_place(tmp_path: Path) -> None:
    error = _load(tmp_path, SEVERAL)
    assert isinstance(error, ConfigErrors)
    places = [(e.line, e.column) for e in error.errors]
    assert places == [(4, 12), (7, 5), (9, 23), (10, 17)], [str(e) for e in error.errors]
    assert "unknown key 'aproval'" in error.errors[1].message and error.errors[1].suggestion == "approvals"
    assert error.errors[3].suggestion == "rollback"
    # the first is what a single error said before (and is the error's own message and place)
    assert (error.line, error.column) == (4, 12) and str(error) == str(error.errors[0])
    assert "\n" not in str(error)


def test_every_semantic_problem_is_reported_once_the_shape_is_right(tmp_path: Path) -> None:
    error = _load(tmp_path, SEMANTIC)
    assert isinstance(error, ConfigErrors)
    texts = [str(e) for e in error.errors]
    assert len(texts) == 4, texts
    assert texts[0].startswith("trainmaster.yaml:4:12: ") and "greater than zero" in texts[0]
    assert texts[1].startswith("trainmaster.yaml:7:28: ") and "looks like a secret" in texts[1]
    assert texts[2].startswith("trainmaster.yaml:9:") and "unknown time zone 'Mars/Base'" in texts[2]
    assert texts[3].startswith("trainmaster.yaml:10:11: ") and "'dev' is used twice" in texts[3]
    assert "abc" not in " ".join(texts)


def test_more_than_20_problems_stop_at_20_with_how_many_more(project: Project) -> None:
    envs = "".join(f"  - name: e{i}\n    aproval{i}: 1\n" for i in range(25))
    project.write("trainmaster.yaml", f"project: demo\npackages: {{app: build/app.bin}}\ntrain:\n{envs}")
    result = project.run("validate")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 21, result.stderr
    assert all(line.startswith("error: trainmaster.yaml:") for line in lines[:20])
    assert lines[0] == "error: trainmaster.yaml:5:5: unknown key 'aproval0' in environment 'e0' — did you mean " \
                       "'approvals'?"
    assert lines[19].startswith("error: trainmaster.yaml:43:5: unknown key 'aproval19'")
    assert lines[20] == "error: … and 5 more"
    data = json.loads(project.run("status", "--json").stdout)  # any command: the list in its error object
    jsonschema.validate(data, ERROR_SCHEMA)
    assert len(data["error"]["errors"]) == 20 and data["error"]["more"] == 5
    assert data["error"]["errors"][0]["key"] == "aproval0"


def test_validate_json_lists_every_problem(project: Project) -> None:
    valid = project.json("validate")
    assert (valid["valid"], valid["errors"], valid["more"]) == (True, [], 0)
    project.write("trainmaster.yaml", SEVERAL)
    result = project.run("validate", "--json")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["more"] == 0
    assert [(e["line"], e["column"], e["key"]) for e in data["errors"]] == [
        (4, 12, None), (7, 5, "aproval"), (9, 23, None), (10, 17, None)]
    assert data["errors"][1] == {"message": "unknown key 'aproval' in environment 'dev'", "file": "trainmaster.yaml",
                                 "line": 7, "column": 5, "key": "aproval", "suggestion": "approvals"}
    for problem in data["errors"]:
        jsonschema.validate(problem, ERROR_SCHEMA["$defs"]["problem"])
    assert result.stderr.count("error: trainmaster.yaml:") == 4


def test_validate_checks_each_package_matches_exactly_one_file(project: Project) -> None:
    project.write("trainmaster.yaml", "project: demo\npackages:\n  app: build/app.bin\n  web: dist/*.js\n"
                                      "  docs: site/*.zip\ntrain:\n  - name: dev\n    deploy: 'true'\n")
    project.write("dist/a.js", "a")
    project.write("dist/b.js", "b")
    result = project.run("validate")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("error: trainmaster.yaml:4:3: package 'web': 'dist/*.js' must match exactly one "
                               "file but matches 2: ")
    assert lines[0].endswith("dist/a.js, " + str(project.root / "dist" / "b.js"))
    assert lines[1].startswith("error: trainmaster.yaml:5:3: package 'docs': 'site/*.zip' matches no file")
    data = json.loads(project.run("validate", "--json").stdout)
    assert [(e["key"], e["line"]) for e in data["errors"]] == [("web", 4), ("docs", 5)]
    (project.root / "dist" / "b.js").unlink()
    project.write("site/docs.zip", "z")
    project.ok("validate")
