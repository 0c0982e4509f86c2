"""A runbook is a local ``command`` or a ``remote`` runbook of its environments' target: config errors."""

from __future__ import annotations

import pytest

from tests.support.project import Project

CONFIG = """\
project: demo
packages: {app: app.bin}
defaults: {deploy: 'true'}
train:
  - name: dev
  - name: prod
runbooks:
  migrate-db:
"""


@pytest.mark.parametrize(("body", "marker", "message"), [
    ("    environments: [dev]\n", "  migrate-db:", "needs a `command`, or a `remote` runbook"),
    ("    command: sh migrate.sh\n    remote: Migrate DB\n    environments: [dev]\n", "    remote: Migrate DB",
     "has a `command` and a `remote` runbook"),
    ("    remote: Migrate DB\n    environments: [dev, prod]\n", "    environments: [dev, prod]",
     "environment 'dev' deploys with target 'local', which has no remote runbooks"),
])
def test_a_runbook_is_a_command_or_a_remote_runbook_exit_2_at_its_line(bare_project: Project, body: str,
                                                                       marker: str, message: str) -> None:
    p = bare_project
    text = CONFIG + body
    p.write("trainmaster.yaml", text)
    p.write("app.bin", "1")
    out = p.run("validate")
    assert out.returncode == 2, out.stderr
    line = text.splitlines().index(marker) + 1
    assert f"trainmaster.yaml:{line}:" in out.stderr and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not p.state.exists() or not (p.state / "ledger.db").exists()


def test_a_remote_runbook_on_a_target_without_remote_runbooks_is_exit_2_naming_it(bare_project: Project) -> None:
    """The GitHub target runs its commands in the job: it has no remote runbooks to run."""
    p = bare_project
    text = CONFIG.replace("  - name: prod\n", "  - name: prod\n    target: github\n") + \
        "    remote: Migrate DB\n    environments: [prod]\n"
    p.write("trainmaster.yaml", text)
    p.write("app.bin", "1")
    env = {"TRAINMASTER_LOAD_PLUGINS": "github", "GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN": "t"}
    out = p.run("validate", env=env)
    assert out.returncode == 2, out.stderr
    assert "target 'github', which cannot run remote runbooks" in out.stderr and "Traceback" not in out.stderr


def test_every_runbook_problem_is_reported_at_once(bare_project: Project) -> None:
    import json

    p = bare_project
    p.write("trainmaster.yaml", CONFIG + "    environments: [dev]\n"
            "  restart:\n    command: sh r.sh\n    remote: Restart\n    environments: [dev]\n"
            "  tidy:\n    command: sh t.sh\n    environments: [staging]\n")
    p.write("app.bin", "1")
    out = p.run("validate", "--json")
    assert out.returncode == 2, out.stderr
    found = json.loads(out.stdout)
    messages = [e["message"] for e in found["errors"]]
    assert len(messages) == 3, messages
    assert "runbook 'migrate-db' needs a `command`" in messages[0]
    assert "runbook 'restart' has a `command` and a `remote`" in messages[1]
    assert "runbook 'tidy' names environment 'staging'" in messages[2]
