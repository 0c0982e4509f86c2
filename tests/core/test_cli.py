"""The CLI contract: exit codes, publishers' verdicts before commit, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import Project
from trainmaster.cli import main
from trainmaster.errors import Unavailable
from trainmaster.hookspecs import hookimpl
from trainmaster.interfaces import PublishResult
from trainmaster.plugins import get_plugin_manager


class FlakyPublisher:
    """A publisher whose remote is down, or holds a different release."""

    def __init__(self) -> None:
        self.mode = "down"
        self.calls = 0

    def ensure(self, release, files, config):  # type: ignore[no-untyped-def]
        self.calls += 1
        assert all(Path(p).read_bytes() for p in files.values())  # staged files are complete
        if self.mode == "down":
            raise Unavailable("remote stayed unavailable after 5 attempts (503)")
        if self.mode == "conflict":
            return PublishResult("conflict", detail=f"remote holds {release.version} as sha256:other")
        return PublishResult("created", url="https://remote.example/releases/1")

    def check(self, release, config):  # type: ignore[no-untyped-def]
        return PublishResult("exists")

    def fetch(self, version, dest, config):  # type: ignore[no-untyped-def]
        return None


@pytest.fixture
def flaky(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyPublisher]:
    publisher = FlakyPublisher()

    class Plugin:
        @hookimpl
        def register_publishers(self, register):  # type: ignore[no-untyped-def]
            register("flaky", lambda config: publisher)

    pm = get_plugin_manager()
    pm.register(Plugin(), name="flaky-plugin")
    monkeypatch.chdir(project.root)
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    config = (project.root / "trainmaster.yaml").read_text()
    project.write("trainmaster.yaml", config + "publish: [flaky]\n")
    try:
        yield publisher
    finally:
        pm.unregister(name="flaky-plugin")


def _main(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def test_exit_5_when_a_publisher_stays_unavailable_and_nothing_is_committed(
        project: Project, flaky: FlakyPublisher, capsys: pytest.CaptureFixture[str]) -> None:
    before = project.snapshot()
    assert _main("release", "create", "1.0.0") == 5
    assert "remote stayed unavailable" in capsys.readouterr().err
    assert project.snapshot() == before
    flaky.mode = "ok"
    assert _main("release", "create", "1.0.0") == 0  # a re-run is safe
    assert "flaky: created https://remote.example/releases/1" in capsys.readouterr().out
    assert _main("release", "show", "1.0.0", "--json") == 0
    publications = json.loads(capsys.readouterr().out)["publications"]
    assert publications["flaky"]["state"] == "created"
    assert publications["flaky"]["url"] == "https://remote.example/releases/1"


def test_exit_4_when_a_publisher_reports_a_conflict(project: Project, flaky: FlakyPublisher,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    flaky.mode = "conflict"
    before = project.snapshot()
    assert _main("release", "create", "1.0.0") == 4
    assert "remote holds 1.0.0 as sha256:other" in capsys.readouterr().err
    assert project.snapshot() == before


def test_exit_codes_0_to_4_from_the_embedded_default(project: Project) -> None:
    assert project.run("release", "create", "1.0.0").returncode == 0
    assert project.run("deploy", "1.0.0", "--to", "test").returncode == 3
    assert project.run("release", "create", "1.0").returncode == 2
    project.build("broken")
    assert project.run("release", "create", "1.0.0").returncode == 4
    assert project.run("release", "create", "1.1.0").returncode == 0
    assert project.run("deploy", "1.1.0", "--to", "dev").returncode == 1


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_neither_requests_nor_yaml(args: list[str]) -> None:
    probe = ("import sys, runpy; sys.argv = ['trainmaster', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('trainmaster', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "heavy = sorted(m for m in ('requests', 'yaml', 'azure.devops', 'jsonschema') if m in sys.modules)\n"
             "print('HEAVY=' + ','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=30)
    assert "HEAVY=\n" in result.stdout or result.stdout.rstrip().endswith("HEAVY="), result.stdout


def test_python_dash_m_and_version() -> None:
    result = subprocess.run([sys.executable, "-m", "trainmaster", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("trainmaster ")


def test_schema_command_prints_the_json_schema(project: Project) -> None:
    schema = project.json("schema")  # --json is accepted and ignored: schema is always JSON
    assert schema["$schema"].startswith("https://json-schema.org/") and "train" in schema["properties"]


def test_a_ledger_that_enforces_approvals_remotely_lifts_the_local_gate(
        project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """GitHub's required reviewers hold the job: the core does not ask for local approvals then."""
    from trainmaster.builtin.sqlite import LocalLedgerView

    class RemoteApprovals(LocalLedgerView):
        def approvals_enforced_remotely(self, environment):  # type: ignore[no-untyped-def]
            return environment.name == "prod"

    class Plugin:
        @hookimpl
        def register_ledgers(self, register):  # type: ignore[no-untyped-def]
            register("remote-approvals", RemoteApprovals)

    pm = get_plugin_manager()
    pm.register(Plugin(), name="remote-approvals-plugin")
    try:
        monkeypatch.chdir(project.root)
        for key, value in project.env.items():
            monkeypatch.setenv(key, value)
        config = (project.root / "trainmaster.yaml").read_text()
        project.write("trainmaster.yaml", config + "ledger: remote-approvals\n")
        assert _main("release", "create", "1.0.0") == 0
        assert _main("deploy", "1.0.0", "--to", "dev") == 0
        assert _main("deploy", "1.0.0", "--to", "test") == 0
        capsys.readouterr()
        assert _main("deploy", "1.0.0", "--to", "prod") == 0  # approvals: 1, none recorded locally
        assert "succeeded" in capsys.readouterr().out
    finally:
        pm.unregister(name="remote-approvals-plugin")
