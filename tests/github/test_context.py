"""The GitHub Actions runner protocol (workflow-commands.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trainmaster_github import adapter
from trainmaster_github._action import read_outputs
from trainmaster_github.context import GitHubActionsContext, escape_data, escape_property


@pytest.fixture
def runner(tmp_path: Path) -> dict[str, str]:
    files = {name: tmp_path / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV")}
    for path in files.values():
        path.touch()
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SHA": "a" * 40,
        "GITHUB_REF_NAME": "main",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_RUN_ID": "123",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/app",
        "GITHUB_WORKFLOW": "train",
        **{k: str(v) for k, v in files.items()},
    }


def make(env: dict[str, str]) -> tuple[GitHubActionsContext, list[str]]:
    lines: list[str] = []
    return GitHubActionsContext(env, write=lines.append), lines


def test_ci_context_hook_only_inside_actions(runner: dict[str, str]) -> None:
    assert isinstance(adapter.ci_context(environ=runner), GitHubActionsContext)
    assert adapter.ci_context(environ={"GITHUB_ACTIONS": "false"}) is None
    assert adapter.ci_context(environ={}) is None


def test_actor_and_source(runner: dict[str, str]) -> None:
    ctx, _ = make(runner)
    assert ctx.actor() == "octocat" and ctx.in_ci
    src = ctx.source()
    assert src["commit"] == "a" * 40 and src["branch"] == "main" and src["build_id"] == "123"
    assert src["build_url"] == "https://github.com/acme/app/actions/runs/123" and src["ci"] == "github-actions"
    ctx2, _ = make({**runner, "GITHUB_RUN_ATTEMPT": "2", "GITHUB_SERVER_URL": "https://ghe.example.com/"})
    assert ctx2.run_url() == "https://ghe.example.com/acme/app/actions/runs/123/attempts/2"


def test_outputs_use_a_random_delimiter_and_survive_multiline_values(runner: dict[str, str]) -> None:
    ctx, _ = make(runner)
    ctx.set_output("release-id", "sha256:abc")
    ctx.set_output("notes", "line one\nEOF\nline=three")
    text = Path(runner["GITHUB_OUTPUT"]).read_text()
    delimiters = re.findall(r"^[\w-]+<<(\S+)$", text, re.M)
    assert len(delimiters) == 2 and delimiters[0] != delimiters[1]
    assert all(d.startswith("ghadelimiter_") and len(d) > 30 for d in delimiters)
    assert read_outputs(runner["GITHUB_OUTPUT"]) == {"release-id": "sha256:abc", "notes": "line one\nEOF\nline=three"}


def test_mask_each_line_of_a_multiline_secret(runner: dict[str, str]) -> None:
    ctx, lines = make(runner)
    ctx.mask("single%value")
    ctx.mask("-----BEGIN KEY-----\nAAAA\n-----END KEY-----\n")
    assert lines == [
        "::add-mask::single%25value\n",
        "::add-mask::-----BEGIN KEY-----\n",
        "::add-mask::AAAA\n",
        "::add-mask::-----END KEY-----\n",
    ]


def test_error_annotation_is_escaped(runner: dict[str, str]) -> None:
    ctx, lines = make(runner)
    ctx.error("bad key\nexpected: x, y 100%", file="conf/train,master.yaml", line=3, column=5)
    assert lines == ["::error file=conf/train%2Cmaster.yaml,line=3,col=5::bad key%0Aexpected: x, y 100%25\n"]
    ctx.warning("careful")
    assert lines[-1] == "::warning::careful\n"
    assert escape_property("a:b,c\r") == "a%3Ab%2Cc%0D" and escape_data("a:b") == "a:b"


def test_summary_appends_markdown(runner: dict[str, str]) -> None:
    ctx, _ = make(runner)
    ctx.summary("# one")
    ctx.summary("two\n")
    assert Path(runner["GITHUB_STEP_SUMMARY"]).read_text() == "# one\ntwo\n"


def test_loading_the_plugin_does_not_import_requests() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = "import sys, trainmaster_github, trainmaster_github.adapter; print('requests' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{root / 'src'}:{root / 'plugins'}"},
    )
    assert result.stdout.strip() == "False"


def test_error_annotation_file_is_relative_to_the_workspace(
    runner: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    (workspace / "ci").mkdir(parents=True)
    monkeypatch.chdir(workspace / "ci")
    ctx, lines = make({**runner, "GITHUB_WORKSPACE": str(workspace)})
    ctx.error("bad", file="trainmaster.yaml", line=2)
    ctx.error("bad", file=str(workspace / "ci" / "sub" / "t.yaml"), line=2)
    ctx.error("bad", file="/elsewhere/t.yaml", line=2)
    assert lines == [
        "::error file=ci/trainmaster.yaml,line=2::bad\n",
        "::error file=ci/sub/t.yaml,line=2::bad\n",
        "::error file=/elsewhere/t.yaml,line=2::bad\n",
    ]


def test_error_annotation_carries_the_did_you_mean_hint(runner: dict[str, str]) -> None:
    ctx, lines = make(runner)
    ctx.error("unknown key 'deplyo'", file="t.yaml", suggestion="deploy")
    ctx.error("unknown key 'x'")
    assert lines == [
        "::error file=t.yaml::unknown key 'deplyo' — did you mean 'deploy'?\n",
        "::error::unknown key 'x'\n",
    ]


def test_cli_config_error_annotation_end_to_end(runner: dict[str, str], tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "trainmaster.yaml").write_text(
        "project: demo\npackages:\n  app: a.bin\ndefaults:\n  deplyo: echo hi\ntrain:\n  - name: dev\n"
    )
    env = {**runner, "GITHUB_WORKSPACE": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "trainmaster", "validate"],
        cwd=tmp_path / "ci",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    expected = "::error file=ci/trainmaster.yaml,line=5,col=3::unknown key 'deplyo' in defaults"
    assert expected + " — did you mean 'deploy'?" in result.stdout + result.stderr
