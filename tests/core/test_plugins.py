"""Plugins: one ``test_hook_<name>`` per registration and context hook, plus loading and tracing.

Each test registers a throwaway plugin on the process-wide plugin manager in a
yield fixture, unregisters it by name in ``finally``, and shows its effect
through the real CLI (``trainmaster.cli.main``, in-process). Entry-point
loading is tested in subprocesses against real ``*.dist-info`` directories on
``PYTHONPATH``. The event hooks are in ``tests/test_hooks_events.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import pytest

from tests.support.plugins import (
    CONFIG,
    GOOD_PLUGIN,
    PAYLOAD,
    _dist,
    _subprocess,
    make_project,
    registered,
    run_cli,
)
from trainmaster import hookimpl
from trainmaster.interfaces import DeployJob, Deployment, DeployOutcome, PublishResult
from trainmaster.plugins import get_plugin_manager, reset_plugin_manager

# -- helpers shared with tests/test_hooks_*.py ---------------------------------------------------------


# -- register_targets -----------------------------------------------------------------------------------


class AcmeTarget:
    def __init__(self, plugin: TargetPlugin, config: Any, environment: Any) -> None:
        self.plugin = plugin
        plugin.factory_calls.append((config.project, environment.name))

    def validate(self) -> None:
        self.plugin.validated += 1

    def deploy(self, job: DeployJob) -> DeployOutcome:
        self.plugin.jobs.append(job)
        self.plugin.payloads.append(job.plan[0].path.read_bytes())
        job.out(f"acme: deploying {job.release.version} to {job.environment.name}\n")
        return DeployOutcome(self.plugin.status, packages={p.package.name: "deployed" for p in job.to_deploy},
                             remote={"url": "https://acme.example/d/1"}, message="acme said so")


@dataclass
class TargetPlugin:
    status: Any = "succeeded"
    jobs: list[DeployJob] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    factory_calls: list[tuple[str, str]] = field(default_factory=list)
    validated: int = 0

    @hookimpl
    def register_targets(self, register: Any) -> None:
        register("acme", lambda config, environment: AcmeTarget(self, config, environment))


@pytest.fixture
def acme_target() -> Iterator[TargetPlugin]:
    plugin = TargetPlugin()
    with registered(plugin, "acme-target"):
        yield plugin


ACME_ENV = CONFIG.replace('deploy: "true"', "target: acme")


def test_hook_register_targets(tmp_path: Path, acme_target: TargetPlugin) -> None:
    """A registered target is chosen by ``target:``, gets a DeployJob, and its outcome is recorded."""
    config = make_project(tmp_path, config=ACME_ENV)
    assert run_cli(config, "validate").code == 0
    assert acme_target.validated == 1
    assert "acme" in run_cli(config, "plugins", "--json").json()["targets"]
    assert run_cli(config, "release", "create", "1.0.0").code == 0

    result = run_cli(config, "deploy", "1.0.0", "--to", "dev")

    assert result.code == 0, result.err
    assert "acme: deploying 1.0.0 to dev" in result.out
    assert ("demo", "dev") in acme_target.factory_calls
    (job,) = acme_target.jobs
    assert isinstance(job, DeployJob)
    assert (job.release.version, job.environment.name, job.kind) == ("1.0.0", "dev", "deploy")
    assert [p.action for p in job.plan] == ["deploy"]
    assert acme_target.payloads == [PAYLOAD]  # the verified file, as the target saw it
    assert "/.trainmaster/work/" in str(job.plan[0].path)
    (dep,) = run_cli(config, "history", "--json").json()["deployments"]
    assert dep["id"] == job.deployment_id
    assert (dep["status"], dep["packages"]) == ("succeeded", {"app": "deployed"})


def test_register_targets_failed_outcome_exits_1(tmp_path: Path, acme_target: TargetPlugin) -> None:
    acme_target.status = "failed"
    config = make_project(tmp_path, config=ACME_ENV + "    on_failure: stop\n")
    run_cli(config, "release", "create", "1.0.0")
    result = run_cli(config, "deploy", "1.0.0", "--to", "dev")
    assert result.code == 1
    assert "acme said so" in result.out
    (dep,) = run_cli(config, "history", "--json").json()["deployments"]
    assert dep["status"] == "failed"


def test_unknown_target_without_the_plugin_exits_2(tmp_path: Path) -> None:
    config = make_project(tmp_path, config=ACME_ENV)
    result = run_cli(config, "validate")
    assert result.code == 2
    assert "target 'acme'" in result.err and "Traceback" not in result.err


# -- register_ledgers -----------------------------------------------------------------------------------


@dataclass
class LedgerPlugin:
    locals: list[Any] = field(default_factory=list)
    questions: list[tuple[str, Any]] = field(default_factory=list)

    def remote(self, env: str) -> Deployment:
        return Deployment(id=77, release_id="sha256:" + "ab" * 32, version="9.9.9", environment=env,
                          kind="deploy", status="succeeded", actor="remote-bot",
                          started_at="2024-01-01T00:00:00Z", finished_at="2024-01-01T00:01:00Z",
                          packages={"app": "deployed"})

    def succeeded(self, release: Any, environment: str) -> str | None:
        self.questions.append(("succeeded", environment))
        return None

    def history(self, environment: str | None, limit: int | None) -> list[Deployment]:
        self.questions.append(("history", (environment, limit)))
        return [self.remote(environment or "dev")]

    def current(self, environment: str) -> Deployment | None:
        self.questions.append(("current", environment))
        return self.remote(environment)

    @hookimpl
    def register_ledgers(self, register: Any) -> None:
        def factory(config: Any, local: Any) -> LedgerPlugin:
            self.locals.append(local)
            return self

        register("acme-ledger", factory)


@pytest.fixture
def acme_ledger() -> Iterator[LedgerPlugin]:
    plugin = LedgerPlugin()
    with registered(plugin, "acme-ledger"):
        yield plugin


def test_hook_register_ledgers(tmp_path: Path, acme_ledger: LedgerPlugin) -> None:
    """``ledger: NAME`` makes history and status read the plugin's records; it gets the local ledger too."""
    from trainmaster.ledger import SqliteLedger

    config = make_project(tmp_path, "ledger: acme-ledger\n")
    assert run_cli(config, "validate").code == 0

    history = run_cli(config, "history", "--env", "dev", "--limit", "5", "--json")
    status = run_cli(config, "status", "--json")

    assert history.code == 0, history.err
    assert [(d["id"], d["actor"]) for d in history.json()["deployments"]] == [(77, "remote-bot")]
    assert ("history", ("dev", 5)) in acme_ledger.questions
    (env,) = status.json()["environments"]
    assert (env["name"], env["version"], env["status"]) == ("dev", "9.9.9", "succeeded")
    assert all(isinstance(local, SqliteLedger) for local in acme_ledger.locals)


def test_unknown_ledger_exits_2(tmp_path: Path) -> None:
    config = make_project(tmp_path, "ledger: acme-ledger\n")
    result = run_cli(config, "history")
    assert result.code == 2
    assert "acme-ledger" in result.err


# -- register_publishers --------------------------------------------------------------------------------


@dataclass
class PublisherPlugin:
    state: Any = "created"
    ensured: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def ensure(self, release: Any, files: Mapping[str, Path], config: Any) -> PublishResult:
        self.ensured.append((release.version, {name: path.read_bytes() for name, path in files.items()}))
        return PublishResult(self.state, detail="differs remotely" if self.state == "conflict" else "",
                             url=f"https://acme.example/r/{release.version}")

    def check(self, release: Any, config: Any) -> PublishResult:
        self.checked.append(release.version)
        return PublishResult("exists")

    def fetch(self, version: str, dest: Path, config: Any) -> None:
        return None

    @hookimpl
    def register_publishers(self, register: Any) -> None:
        register("acme-pub", lambda config: self)


@pytest.fixture
def acme_publisher() -> Iterator[PublisherPlugin]:
    plugin = PublisherPlugin()
    with registered(plugin, "acme-publisher"):
        yield plugin


def test_hook_register_publishers(tmp_path: Path, acme_publisher: PublisherPlugin) -> None:
    """A publisher in ``publish:`` is asked to ensure the release, with its files; ``sync`` reaches it too."""
    config = make_project(tmp_path, "publish: [acme-pub]\n")

    created = run_cli(config, "release", "create", "1.0.0")

    assert created.code == 0, created.err
    assert "acme-pub: created https://acme.example/r/1.0.0" in created.out
    assert acme_publisher.ensured == [("1.0.0", {"app": PAYLOAD})]
    assert run_cli(config, "sync", "--to", "acme-pub", "--check").code == 0
    assert acme_publisher.checked == ["1.0.0"]
    assert run_cli(config, "sync", "--to", "acme-pub").code == 0
    assert len(acme_publisher.ensured) == 2


def test_publisher_conflict_exits_4_and_commits_nothing(tmp_path: Path,
                                                        acme_publisher: PublisherPlugin) -> None:
    acme_publisher.state = "conflict"
    config = make_project(tmp_path, "publish: [acme-pub]\n")
    result = run_cli(config, "release", "create", "1.0.0")
    assert result.code == 4
    assert "differs remotely" in result.err
    assert run_cli(config, "release", "list", "--json").json() == {"releases": []}


# -- register_secret_resolvers --------------------------------------------------------------------------

SECRET = "hunter2-vault-value"


@dataclass
class SecretPlugin:
    calls: list[tuple[str, bool]] = field(default_factory=list)

    def resolve(self, name: str, environ: Mapping[str, str]) -> str:
        self.calls.append((name, "PATH" in environ))
        return SECRET

    @hookimpl
    def register_secret_resolvers(self, register: Any) -> None:
        register("vault", self.resolve)


@pytest.fixture
def vault() -> Iterator[SecretPlugin]:
    plugin = SecretPlugin()
    with registered(plugin, "vault-secrets"):
        yield plugin


VAULT_CONFIG = CONFIG.replace('deploy: "true"', 'deploy: echo "password is $DB_PASSWORD"') + \
    "    variables:\n      DB_PASSWORD: {secret: vault:db/password}\n"


def test_hook_register_secret_resolvers(tmp_path: Path, vault: SecretPlugin) -> None:
    """A custom scheme resolves at deploy time; the value reaches the command and is masked in output."""
    config = make_project(tmp_path, config=VAULT_CONFIG)
    assert run_cli(config, "validate").code == 0
    assert vault.calls == []  # resolved at deploy time only
    run_cli(config, "release", "create", "1.0.0")

    result = run_cli(config, "deploy", "1.0.0", "--to", "dev")

    assert result.code == 0, result.err
    assert vault.calls == [("db/password", True)]
    assert "password is ***" in result.out
    assert SECRET not in result.out + result.err
    assert SECRET.encode() not in (tmp_path / ".trainmaster" / "ledger.db").read_bytes()


def test_unknown_secret_scheme_exits_2(tmp_path: Path) -> None:
    result = run_cli(make_project(tmp_path, config=VAULT_CONFIG), "validate")
    assert result.code == 2
    assert "vault" in result.err


# -- register_config_schema -----------------------------------------------------------------------------

ACME_SCHEMA = {"type": "object", "additionalProperties": False,
               "properties": {"level": {"type": "integer"}, "region": {"type": "string"}}}


class SchemaPlugin:
    @hookimpl
    def register_config_schema(self, register: Any) -> None:
        register("acme", ACME_SCHEMA)


@pytest.fixture
def acme_schema() -> Iterator[SchemaPlugin]:
    plugin = SchemaPlugin()
    with registered(plugin, "acme-schema"):
        yield plugin


def test_hook_register_config_schema(tmp_path: Path, acme_schema: SchemaPlugin) -> None:
    """A registered settings block is accepted at the top level and per environment, and checked."""
    good = make_project(tmp_path / "good", "    acme: {region: eu}\nacme:\n  level: 3\n")
    bad = make_project(tmp_path / "bad", "acme:\n  level: high\n")

    assert run_cli(good, "validate").code == 0
    result = run_cli(bad, "validate")
    schema = run_cli(good, "schema").json()

    assert result.code == 2
    assert f"{bad}:7:10:" in result.err
    assert "acme.level" in result.err and "integer" in result.err
    assert "Traceback" not in result.err
    assert "acme" in json.dumps(schema)


def test_plugin_block_unknown_without_the_plugin(tmp_path: Path) -> None:
    result = run_cli(make_project(tmp_path, "acme:\n  level: 3\n"), "validate")
    assert result.code == 2
    assert "unknown key 'acme'" in result.err


# -- register_commands ----------------------------------------------------------------------------------


class CommandPlugin:
    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command(name="acme-hello")
        @click.argument("who")
        def acme_hello(who: str) -> None:
            """Say hello from the acme plugin."""
            click.echo(f"hello {who} from acme")


@pytest.fixture
def acme_command() -> Iterator[CommandPlugin]:
    from trainmaster.cli import cli

    plugin = CommandPlugin()
    vars(cli).pop("_plugins_loaded", None)  # the group adds plugin commands once per process
    try:
        with registered(plugin, "acme-command"):
            yield plugin
    finally:
        cli.commands.pop("acme-hello", None)
        vars(cli).pop("_plugins_loaded", None)


def test_hook_register_commands(tmp_path: Path, acme_command: CommandPlugin) -> None:
    """A plugin command runs through the real CLI."""
    config = make_project(tmp_path)
    result = run_cli(config, "acme-hello", "world")
    assert (result.code, result.out) == (0, "hello world from acme\n")
    assert "Say hello from the acme plugin." in run_cli(config, "acme-hello", "--help").out


def test_register_commands_listed_in_help(tmp_path: Path, acme_command: CommandPlugin) -> None:
    result = run_cli(make_project(tmp_path), "--help")
    assert result.code == 0
    assert "acme-hello" in result.out


# -- ci_context -----------------------------------------------------------------------------------------


@dataclass
class FakeCI:
    name: str = "acme-ci"
    in_ci: bool = True
    outputs: dict[str, str] = field(default_factory=dict)
    masked: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)

    def actor(self) -> str:
        return "ci-bot"

    def source(self) -> dict[str, Any]:
        return {"ci": self.name, "commit": "abc123"}

    def set_output(self, name: str, value: str) -> None:
        self.outputs[name] = value

    def mask(self, value: str) -> None:
        self.masked.append(value)

    def summary(self, markdown: str) -> None:
        self.summaries.append(markdown)

    def error(self, message: str, *, file: str | None = None, line: int | None = None,
              column: int | None = None) -> None:
        return None

    def warning(self, message: str) -> None:
        return None

    def complete(self, exit_code: int, message: str) -> None:
        self.completed.append(exit_code)


@dataclass
class ContextPlugin:
    answer: FakeCI | None
    seen: list[str] = field(default_factory=list)

    @hookimpl
    def ci_context(self, environ: Mapping[str, str]) -> FakeCI | None:
        self.seen.append(environ.get("ACME_CI", ""))
        return self.answer if environ.get("ACME_CI") == "1" else None


@pytest.fixture
def acme_ci() -> Iterator[ContextPlugin]:
    plugin = ContextPlugin(FakeCI())
    with registered(plugin, "acme-ci"):
        yield plugin


def test_hook_ci_context(tmp_path: Path, acme_ci: ContextPlugin, vault: SecretPlugin) -> None:
    """The first non-None context wins: its actor is recorded, outputs and masks go to it."""
    config = make_project(tmp_path, config=VAULT_CONFIG)
    env = {"ACME_CI": "1"}
    created = run_cli(config, "release", "create", "1.0.0", env=env)
    deployed = run_cli(config, "deploy", "1.0.0", "--to", "dev", env=env)

    assert (created.code, deployed.code) == (0, 0), deployed.err
    (dep,) = run_cli(config, "history", "--json", env=env).json()["deployments"]
    assert dep["actor"] == "ci-bot"
    record = run_cli(config, "release", "show", "1.0.0", "--json").json()
    assert record["metadata"]["created_by"] == "ci-bot"
    assert record["metadata"]["source"]["commit"] == "abc123"
    ci = acme_ci.answer
    assert ci is not None
    assert ci.outputs["status"] == "succeeded" and ci.outputs["deployment-id"] == str(dep["id"])
    assert SECRET in ci.masked
    assert ci.completed[-1] == 0


def test_ci_context_none_falls_through_to_the_shell(tmp_path: Path, acme_ci: ContextPlugin) -> None:
    config = make_project(tmp_path)
    run_cli(config, "release", "create", "1.0.0")
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 0
    (dep,) = run_cli(config, "history", "--json").json()["deployments"]
    assert acme_ci.seen and dep["actor"] != "ci-bot"
    assert run_cli(config, "approve", "1.0.0", "--env", "dev", "--by", "x", env={"ACME_CI": "1"}).code == 2


# -- entry points: broken imports, allow-list, check_pending, tracing ---------------------------------------


def test_broken_entry_point_is_reported_by_name(tmp_path: Path) -> None:
    """A plugin whose module cannot be imported is named by ``plugins`` and never crashes the CLI."""
    site = tmp_path / "site"
    _dist(site, "acme-broken", "acme_missing_module_xyz", None)
    config = make_project(tmp_path / "project")

    listed = _subprocess(config, site, "plugins")
    validated = _subprocess(config, site, "validate")

    assert listed.code == 0, listed.err
    assert "plugin acme-broken FAILED TO LOAD: ModuleNotFoundError" in listed.out
    assert "acme_missing_module_xyz" in listed.out
    assert validated.code == 0
    assert "plugin 'acme-broken' failed to load" in validated.err
    assert "Traceback" not in listed.err + validated.err


def test_load_plugins_allow_list(tmp_path: Path) -> None:
    """``TRAINMASTER_LOAD_PLUGINS`` loads only the named entry points and reports names not installed."""
    site = tmp_path / "site"
    _dist(site, "acme-alpha", "acme_alpha", GOOD_PLUGIN.format(name="alpha-pub"))
    _dist(site, "acme-beta", "acme_beta", GOOD_PLUGIN.format(name="beta-pub"))
    config = make_project(tmp_path / "project")

    everything = _subprocess(config, site, "plugins", "--json").json()
    only_alpha = _subprocess(config, site, "plugins", "--json",
                             TRAINMASTER_LOAD_PLUGINS="acme-alpha,acme-gamma")
    none = _subprocess(config, site, "plugins", "--json", TRAINMASTER_LOAD_PLUGINS="").json()

    assert {"alpha-pub", "beta-pub"} <= set(everything["publishers"])
    assert only_alpha.code == 0, only_alpha.err
    assert only_alpha.json()["publishers"] == ["alpha-pub"]
    assert [f["name"] for f in only_alpha.json()["failed"]] == ["acme-gamma"]
    assert "acme-beta" not in only_alpha.out
    assert none["publishers"] == [] and none["failed"] == []


def test_check_pending_catches_a_misspelt_hook(tmp_path: Path) -> None:
    """A hookimpl matching no hookspec (``register_target``) is a PluginError: exit 2, named, no traceback."""
    site = tmp_path / "site"
    _dist(site, "acme-typo", "acme_typo", """
        from trainmaster import hookimpl

        @hookimpl
        def register_target(register):
            register("typo", object)
    """)
    config = make_project(tmp_path / "project")
    result = _subprocess(config, site, "validate")
    assert result.code == 2
    assert re.search(r"acme[-_]typo", result.err) and "register_target" in result.err
    assert "Traceback" not in result.err


def test_check_pending_raises_plugin_error_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainmaster.errors import PluginError

    class Typo:
        @hookimpl
        def register_ledger(self, register: Any) -> None: ...

    def fake_entry_points(group: str) -> list[tuple[str, str, str]]:
        return [("typo", "tests:Typo", "typo-dist 1.0")] if group == "trainmaster" else []

    monkeypatch.setenv("TRAINMASTER_LOAD_PLUGINS", "typo")
    monkeypatch.setattr("trainmaster.plugins.entry_points", fake_entry_points)
    monkeypatch.setattr("trainmaster.plugins._load", lambda value: Typo())
    reset_plugin_manager()
    with pytest.raises(PluginError, match="register_ledger"):
        get_plugin_manager()


def test_trace_plugins_prints_hook_calls(tmp_path: Path) -> None:
    """``TRAINMASTER_TRACE_PLUGINS=1`` prints each hook call and its result on stderr, stdout unchanged."""
    config = make_project(tmp_path / "project")
    site = tmp_path / "site"
    site.mkdir()
    plain = _subprocess(config, site, "status")
    traced = _subprocess(config, site, "status", TRAINMASTER_TRACE_PLUGINS="1")

    assert traced.code == plain.code == 0
    assert traced.out == plain.out
    assert "[trace]" not in plain.err
    assert "[trace] register_targets(register) -> ['trainmaster.builtin.local'" in traced.err
    assert "[trace] register_targets returned []" in traced.err
    assert "[trace] ci_context(environ)" in traced.err
    assert "[trace] ci_context returned <trainmaster.builtin.shell.ShellContext" in traced.err


def test_entry_point_scan_agrees_with_importlib_metadata() -> None:
    """The start-up scanner finds exactly the entry points importlib.metadata finds."""
    from importlib import metadata

    from trainmaster.plugins import entry_points

    expected = sorted((ep.name, ep.value) for ep in metadata.entry_points(group="trainmaster"))
    found = sorted((name, value) for name, value, _ in entry_points("trainmaster"))
    assert found == expected and ("github", "trainmaster_github.adapter") in found
    scripts = {name for name, _, _ in entry_points("console_scripts")}
    assert {"trainmaster", "pytest"} <= scripts


def test_entry_points_in_a_zip_on_sys_path_are_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    from trainmaster.plugins import entry_points

    archive = tmp_path / "dists.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        metadata = "Metadata-Version: 2.1\nName: zipped-plugin\nVersion: 1.2\n"
        zf.writestr("zipped_plugin-1.2.dist-info/METADATA", metadata)
        zf.writestr("zipped_plugin-1.2.dist-info/entry_points.txt", "[trainmaster]\nzipped = zipped_plugin.adapter\n")
    monkeypatch.syspath_prepend(str(archive))
    assert ("zipped", "zipped_plugin.adapter", "zipped-plugin 1.2") in list(entry_points("trainmaster"))
