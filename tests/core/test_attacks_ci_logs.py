"""Attacks through CI logs: data that trainmaster prints never becomes a runner command.

Release notes, versions and actors read back from a remote, and arguments echoed in
errors are data. Each row runs the real CLI as a GitHub Actions job or an Azure
Pipelines job and reads its stdout and stderr back the way the runner does
(:mod:`tests.support.ci_logs`: GitHub's documented rule, task-lib's own parser): the
commands it would obey must be exactly trainmaster's own, and the data must still be
there to read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.ci_logs import azure_commands, github_commands
from tests.support.project import Project, base_env

CONFIG = """\
project: demo
packages:
  app: build/app.bin
defaults:
  deploy: "true"
train:
  - name: dev
  - name: test
"""

PWN = "PWNED-7f3a"
MULTI = (f"Release notes\n::add-mask::{PWN}\n  ::set-output name=x::{PWN}\n"
         f"##vso[task.setvariable variable=X]{PWN}\n##[group]{PWN}\n#\u200b#vso[task.setsecret]{PWN}\n"
         f"\u200b::warning::{PWN}\n::stop-commands::mine\n##[add-mask]{PWN}\n::mine::\n::add-mask::{PWN}2")
ONE_LINE = f"::add-mask::{PWN} ##vso[task.setvariable variable=X]{PWN} ##[add-mask]{PWN}"
CR_LINE = f"fine\r::add-mask::{PWN}\r##vso[task.setsecret]{PWN}"


def ci_env(tmp: Path, ci: str) -> dict[str, str]:
    env = dict(base_env(tmp), TRAINMASTER_LOAD_PLUGINS="github,azure-devops")
    if ci == "github":
        for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"):
            (tmp / name).touch()
            env[name] = str(tmp / name)
        env.update(GITHUB_ACTIONS="true", CI="true", GITHUB_ACTOR="dev", GITHUB_REPOSITORY="acme/app")
    else:
        (tmp / "agent-temp").mkdir(exist_ok=True)
        env.update(TF_BUILD="True", AGENT_TEMPDIRECTORY=str(tmp / "agent-temp"))
    return env


def obeyed(ci: str, result: subprocess.CompletedProcess[str]) -> list[str]:
    """The names of the commands the runner would obey in the job's log (stdout, then stderr)."""
    log = result.stdout + result.stderr
    if ci == "github":
        names = [name for name, _ in github_commands(log)]
        while "stop-commands" in names:  # a stop-commands pair of trainmaster's own: nothing obeyed inside
            start = names.index("stop-commands")
            assert len(names) > start + 1 and names[start + 1] != "stop-commands", names
            del names[start:start + 2]
        return names
    return [c["command"] for c in azure_commands(log)]


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    project = Project(tmp_path / "proj", base_env(tmp_path))
    project.root.mkdir()
    project.write("trainmaster.yaml", CONFIG)
    project.build()
    return project


def _create(notes: str) -> Any:
    return lambda p: p.ok("release", "create", "1.0.0", "--notes", notes)


# (id, CI, how the project is prepared, the command, its exit code, the commands the runner may obey)
CASES: list[tuple[str, str, Any, tuple[str, ...], int, list[str]]] = [
    ("notes-multi-line-show-github", "github", _create(MULTI), ("release", "show", "1.0.0"), 0, []),
    ("notes-multi-line-show-azure", "azure", _create(MULTI), ("release", "show", "1.0.0"), 0, ["task.complete"]),
    ("notes-one-line-show-github", "github", _create(ONE_LINE), ("release", "show", "1.0.0"), 0, []),
    ("notes-one-line-show-azure", "azure", _create(ONE_LINE), ("release", "show", "1.0.0"), 0, ["task.complete"]),
    ("notes-carriage-returns-github", "github", _create(CR_LINE), ("release", "show", "1.0.0"), 0, []),
    ("notes-carriage-returns-azure", "azure", _create(CR_LINE), ("release", "show", "1.0.0"), 0, ["task.complete"]),
    ("notes-json-github", "github", _create(MULTI), ("release", "show", "1.0.0", "--json"), 0, []),
    ("notes-json-azure", "azure", _create(MULTI), ("release", "show", "1.0.0", "--json"), 0, ["task.complete"]),
    ("environment-in-error-azure", "azure", _create("x"),
     ("deploy", "1.0.0", "--to", f"##vso[task.setvariable variable=X]{PWN}"), 2, ["task.logissue", "task.complete"]),
    ("environment-in-error-github", "github", _create("x"),
     ("deploy", "1.0.0", "--to", f"##[add-mask]{PWN}"), 2, ["error"]),
    ("unknown-command-azure", "azure", _create("x"), (f"##vso[task.setvariable variable=X]{PWN}",), 2, []),
    ("unknown-option-github", "github", _create("x"), ("status", f"--##[add-mask]{PWN}"), 2, []),
]


@pytest.mark.parametrize(("case", "ci", "prepare", "argv", "code", "expected"), CASES, ids=[c[0] for c in CASES])
def test_data_in_the_log_is_never_a_command(case: str, ci: str, prepare: Any, argv: tuple[str, ...], code: int,
                                            expected: list[str], proj: Project, tmp_path: Path) -> None:
    prepare(proj)
    result = proj.run(*argv, env=ci_env(tmp_path, ci))

    assert result.returncode == code, (case, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert obeyed(ci, result) == expected, (case, result.stdout, result.stderr)
    assert PWN in result.stdout + result.stderr, "the data is still printed, readable"
    if "--json" in argv:
        assert json.loads(result.stdout)["metadata"]["notes"] == MULTI, "the JSON holds the exact notes"


# -- versions and actors read back from a GitHub ledger -------------------------------------------

LEDGER_CONFIG = CONFIG + "ledger: github\ngithub:\n  repository: acme/app\n"


def _hostile_deployment(fake: Any) -> None:
    """What anyone with write access to the repository can do: a deployment with a forged payload."""
    headers = {"Authorization": f"Bearer {fake.token}", "Accept": "application/vnd.github+json"}
    payload = {"trainmaster": {"project": "demo", "environment": "dev", "kind": "deploy", "deployment_id": 1,
                               "version": f"##[add-mask]{PWN}##vso[task.setvariable variable=X]{PWN}",
                               "actor": f"##[add-mask]{PWN}", "release_id": "sha256:" + "0" * 64}}
    url = f"{fake.url}/repos/acme/app/deployments"
    made = requests.post(url, json={"ref": "main", "environment": "dev", "payload": payload,
                                    "required_contexts": [], "auto_merge": False}, headers=headers, timeout=10)
    assert made.status_code == 201, made.text
    done = requests.post(f"{url}/{made.json()['id']}/statuses", json={"state": "success"}, headers=headers,
                         timeout=10)
    assert done.status_code == 201, done.text


@pytest.mark.parametrize(("ci", "command", "expected"), [
    ("github", "history", []), ("azure", "history", ["task.complete"]),
    ("github", "status", []), ("azure", "status", ["task.addattachment", "task.complete"]),
])
def test_values_read_back_from_a_github_ledger_are_data(ci: str, command: str, expected: list[str], proj: Project,
                                                        tmp_path: Path, github_fake: Any) -> None:
    proj.write("trainmaster.yaml", LEDGER_CONFIG)
    _hostile_deployment(github_fake)
    env = dict(ci_env(tmp_path, ci), GITHUB_TOKEN=github_fake.token, GITHUB_API_URL=github_fake.url)

    result = proj.run(command, env=env)

    assert result.returncode == 0, (result.stdout, result.stderr)
    assert obeyed(ci, result) == expected, (result.stdout, result.stderr)
    assert PWN in result.stdout


# -- release notes: UTF-8 text of at most 64 KiB, from --notes or --notes-file ---------------------

def _notes_file(content: bytes) -> Any:
    def make(p: Project) -> tuple[str, ...]:
        (p.root / "NOTES.md").write_bytes(content)
        return ("--notes-file", "NOTES.md")
    return make


BAD_NOTES: list[tuple[str, Any, str]] = [
    ("over-64-KiB", lambda p: ("--notes", "é" * 32768 + "x"), "64 KiB"),
    ("file-over-64-KiB", _notes_file(b"#" * 65537), "64 KiB"),
    ("file-not-utf-8", _notes_file(b"caf\xe9 au lait"), "UTF-8"),
    ("escape-sequence", lambda p: ("--notes", "red \x1b[31malert"), "U+001B"),
    ("nul-byte-in-file", _notes_file(b"a\x00b"), "U+0000"),
    ("file-missing", lambda p: ("--notes-file", "nope.md"), "nope.md"),
    ("both-notes-and-file", lambda p: ("--notes", "a", *_notes_file(b"b")(p)), "not both"),
]


@pytest.mark.parametrize(("case", "args", "names"), BAD_NOTES, ids=[c[0] for c in BAD_NOTES])
def test_bad_release_notes_are_refused_before_anything_is_written(case: str, args: Any, names: str,
                                                                   proj: Project) -> None:
    proj.ok("release", "create", "0.9.0")
    before = proj.snapshot()
    temp = sorted((proj.state / "store").rglob("*"))

    result = proj.run("release", "create", "1.0.0", *args(proj))

    assert result.returncode == 2, (case, result.stdout, result.stderr)
    assert names in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert proj.snapshot() == before
    assert sorted((proj.state / "store").rglob("*")) == temp


def test_a_markdown_notes_file_of_exactly_64_KiB_is_kept_with_its_lines(proj: Project) -> None:
    head = "# Release 1.0.0\r\n\r\n* fixed `::set-output`\r\n\t- détails\r\n".encode()
    body = head + b"x" * (65536 - len(head))
    (proj.root / "NOTES.md").write_bytes(body)
    proj.ok("release", "create", "1.0.0", "--notes-file", "NOTES.md")
    notes = json.loads(proj.ok("release", "show", "1.0.0", "--json").stdout)["metadata"]["notes"]
    assert notes == body.decode().replace("\r\n", "\n")
    shown = proj.ok("release", "show", "1.0.0").stdout
    assert "    # Release 1.0.0\n" in shown and "    * fixed `::set-output`\n" in shown
