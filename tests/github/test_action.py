"""The composite action (action.yml) and the example workflow: static checks and input validation.

The linters run as subprocesses: ``zizmor --offline`` must report nothing, and check-jsonschema must
accept action.yml (vendor.github-actions) and the example workflow (vendor.github-workflows).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from trainmaster_github._action import COMMANDS, InputError, build_argv, main

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / "examples" / "github" / "release-train.yml"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install zizmor check-jsonschema")
    return path


def test_zizmor_reports_nothing() -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", str(ACTION), str(WORKFLOW)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.parametrize(("schema", "path"), [("vendor.github-actions", ACTION), ("vendor.github-workflows", WORKFLOW)])
def test_check_jsonschema(schema: str, path: Path) -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_expression_inside_any_run_and_every_input_through_env() -> None:
    action = yaml.safe_load(ACTION.read_text())
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    for step in steps:
        if "run" in step:
            assert "${{" not in step["run"], step
            assert step["shell"] == "bash"
    run = next(s for s in steps if s.get("id") == "run")
    for name in action["inputs"]:
        expected = "${{ inputs." + name + " }}"
        assert expected in run["env"].values(), f"input {name} does not reach the script through env"
    for name, spec in action["outputs"].items():
        assert spec["value"] == "${{ steps.run.outputs." + name + " }}"
        assert spec["description"]
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert set(action["outputs"]) == {
        "release-id",
        "version",
        "deployment-id",
        "release-url",
        "environment-url",
        "status",
    }


def test_actions_used_are_pinned_by_full_sha() -> None:
    for text in (ACTION.read_text(), WORKFLOW.read_text()):
        for ref in re.findall(r"^\s*-?\s*uses:\s*(\S+)", text, re.M):
            if ref.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert all(
            re.search(r"@[0-9a-f]{40} # v\d", line)
            for line in text.splitlines()
            if re.match(r"\s*-?\s*uses:\s*[\w-]+/", line)
        )


def test_no_gnu_only_flags_in_scripts() -> None:
    action = yaml.safe_load(ACTION.read_text())
    script = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    for bad in ("sed -i", "readlink -f", "--parents", "grep -P", "sha256sum", "stat -c", "date -d", "/bin/python"):
        assert bad not in script


def test_example_workflow_least_privilege() -> None:
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    assert list(jobs) == ["build", "dev", "test", "prod"]
    assert jobs["build"]["permissions"] == {"contents": "write"}
    for name in ("dev", "test", "prod"):
        assert jobs[name]["environment"] == name
        assert jobs[name]["permissions"] == {"contents": "read", "deployments": "write"}
    for job in jobs.values():
        checkout = job["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@")
        assert checkout["with"]["persist-credentials"] is False
        assert any(s.get("uses") == "./" for s in job["steps"])


@pytest.mark.parametrize(
    ("inputs", "argv"),
    [
        ({"command": "release-create", "version": "1.2.3"}, ["release", "create", "1.2.3"]),
        (
            {"command": "deploy", "version": "1.2.3", "environment": "dev", "config": "t.yaml"},
            ["--config", "t.yaml", "deploy", "1.2.3", "--to", "dev"],
        ),
        ({"command": "promote", "from": "dev", "environment": "test"}, ["promote", "--from", "dev", "--to", "test"]),
        ({"command": "approve", "version": "1.2.3", "environment": "prod"}, ["approve", "1.2.3", "--env", "prod"]),
        ({"command": "rollback", "environment": "prod"}, ["rollback", "--env", "prod"]),
        (
            {"command": "rollback", "environment": "prod", "version": "1.0.0"},
            ["rollback", "--env", "prod", "--to", "1.0.0"],
        ),
        ({"command": "status"}, ["status"]),
    ],
)
def test_inputs_to_argv(inputs: dict[str, str], argv: list[str]) -> None:
    assert build_argv(inputs) == argv


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        ({"command": "ship"}, "expected one of"),
        ({"command": "deploy", "version": "1.0.0"}, "'environment'"),
        ({"command": "promote", "environment": "x"}, "'from'"),
        ({"command": "deploy", "version": "--force", "environment": "x"}, "must not start with '-'"),
        ({"command": "deploy", "version": "1.0.0\nrm -rf /", "environment": "x"}, "line break"),
    ],
)
def test_invalid_inputs_are_explained(inputs: dict[str, str], needle: str) -> None:
    with pytest.raises(InputError, match=re.escape(needle)):
        build_argv(inputs)


def test_invalid_input_is_one_error_annotation_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(
        {
            "TRAINMASTER_INPUT_COMMAND": "deploy",
            "TRAINMASTER_INPUT_VERSION": "1.0.0",
            "GITHUB_TOKEN": "t",
            "GITHUB_ACTIONS": "true",
        }
    )
    out = capsys.readouterr().out
    assert code == 2
    assert out.startswith("::error title=trainmaster action input::command 'deploy' needs the input(s)")
    code = main(
        {"TRAINMASTER_INPUT_COMMAND": "status", "TRAINMASTER_INPUT_WORKING_DIRECTORY": "nope", "GITHUB_TOKEN": "t"}
    )
    assert code == 2 and "'working-directory'" in capsys.readouterr().out
    code = main({"TRAINMASTER_INPUT_COMMAND": "status", "GITHUB_TOKEN": ""})
    assert code == 2 and "'github-token'" in capsys.readouterr().out


def test_commands_match_action_description() -> None:
    description = yaml.safe_load(ACTION.read_text())["inputs"]["command"]["description"]
    for command in COMMANDS:
        assert command in description


def test_fallback_summary_from_status_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the command wrote no job summary itself, the action renders one from ``status --json``."""
    import json as _json

    from trainmaster_github import _action
    from trainmaster_github.context import GitHubActionsContext

    rows = {
        "environments": [
            {"name": "dev", "stage": "dev", "version": "1.0.0", "release_id": "sha256:1", "status": "failed"},
            {"name": "prod", "stage": "prod", "version": None, "release_id": None, "status": "none"},
        ]
    }
    stdout = "::add-mask::x\n" + _json.dumps(rows)
    calls: list[list[str]] = []

    def fake(argv: list[str], *, capture: bool = False) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, stdout, "")

    monkeypatch.setattr(_action, "_trainmaster", fake)
    summary = tmp_path / "summary.md"
    ctx = GitHubActionsContext({"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_REPOSITORY": "acme/app"})
    _action.write_summary(ctx, {"command": "deploy", "version": "1.0.0", "environment": "dev"}, 1)
    text = summary.read_text()
    assert calls == [["status", "--json"]]
    assert "deploy 1.0.0 to dev: failed (exit 1)" in text and "| dev | dev ◀ | 1.0.0 | ❌ failed |" in text
    _action.write_summary(ctx, {"command": "deploy", "version": "1.0.0", "environment": "dev"}, 5)
    assert len(calls) == 1, "no second status call after exit 5"


@pytest.mark.parametrize(
    ("code", "written", "expected"),
    [
        (2, None, "invalid"),
        (3, None, "refused"),
        (4, None, "conflict"),
        (5, None, "unavailable"),
        (1, None, "failed"),
        (130, None, "cancelled"),
        (143, None, "cancelled"),
        (0, None, "done"),
        (1, "failed", "failed"),
        (0, "succeeded", "succeeded"),
    ],
)
def test_status_output_is_always_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, written: str | None, expected: str
) -> None:
    from trainmaster_github import _action
    from trainmaster_github._action import read_outputs
    from trainmaster_github.context import GitHubActionsContext

    out = tmp_path / "out"
    out.touch()
    summary = tmp_path / "summary"
    summary.write_text("written by the command\n")
    environ = {"TRAINMASTER_INPUT_COMMAND": "status", "GITHUB_TOKEN": "t", "GITHUB_OUTPUT": str(out)}

    def command(cmd: list[str]) -> int:
        if written:
            GitHubActionsContext(environ).set_output("status", written)
        with summary.open("a") as fh:  # the command wrote the job summary itself: no status --json call
            fh.write("more\n")
        return code

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_action, "run_forwarding_signals", command)
    assert main({**environ, "GITHUB_STEP_SUMMARY": str(summary)}) == code
    outputs = read_outputs(str(out))
    assert outputs["status"] == expected
    assert out.read_text().count("status<<") == 1


def test_status_output_for_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainmaster_github._action import read_outputs

    out = tmp_path / "out"
    out.touch()
    monkeypatch.chdir(tmp_path)
    assert main({"TRAINMASTER_INPUT_COMMAND": "ship", "GITHUB_TOKEN": "t", "GITHUB_OUTPUT": str(out)}) == 2
    assert read_outputs(str(out)) == {"status": "invalid"}


def test_each_version_of_the_action_gets_its_own_venv(tmp_path: Path) -> None:
    from trainmaster_github._action import read_outputs

    def prepare(source: str) -> dict[str, str]:
        action = tmp_path / source
        (action / "src").mkdir(parents=True, exist_ok=True)
        (action / "pyproject.toml").write_text("[project]\nname='x'\n")
        (action / "src" / "m.py").write_text(source)
        out = tmp_path / f"{source}.out"
        out.touch()
        env = {"GITHUB_ACTION_PATH": str(action), "GITHUB_OUTPUT": str(out), "RUNNER_TEMP": str(tmp_path / "t")}
        script = ROOT / "plugins" / "trainmaster_github" / "_bootstrap.py"
        subprocess.run([sys.executable, str(script), "prepare"], env=env, check=True, timeout=60)
        return read_outputs(str(out))

    one, two, again = prepare("v1"), prepare("v2"), prepare("v1")
    assert one["dir"] != two["dir"] and one["dir"] == again["dir"]
    assert Path(one["dir"]).parent == tmp_path / "t" and one["key"] != two["key"]
