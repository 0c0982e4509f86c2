"""trainmaster.yaml: the DESIGN example, the accepted forms, merging and the public helpers."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.config_cases import DESIGN_EXAMPLE, PLUGINS
from trainmaster.config import ConfigError, load_config, package_env_name, parse_duration
from trainmaster.config.model import Approvals, Location, Monitor, SecretRef, Window


def load(tmp_path: Path, text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    path = tmp_path / "trainmaster.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(path, **kwargs)  # type: ignore[arg-type]


def test_design_example_as_it_stands(tmp_path: Path) -> None:
    config = load(tmp_path, DESIGN_EXAMPLE)
    assert config.project == "demo"
    assert config.path == tmp_path / "trainmaster.yaml"
    assert config.state_dir == tmp_path / ".trainmaster"
    assert config.ledger == "sqlite"
    [app] = config.packages
    assert (app.name, app.path) == ("app", "build/app.bin")
    assert app.location == Location(str(tmp_path / "trainmaster.yaml"), 3, 3)
    assert [s.name for s in config.stages] == ["dev", "test", "prod"]
    assert [s.index for s in config.stages] == [0, 1, 2]
    dev, test, prod = config.environments
    for index, env in enumerate((dev, test, prod)):
        assert env.stage == env.name and env.stage_index == index
        assert env.target == "local"
        assert (env.deploy, env.smoke) == ("sh deploy.sh", "sh smoke.sh")
        assert env.on_failure == "rollback"
        assert env.pass_env == ("DEST",)
        assert env.concurrency == "refuse"
    assert dev.variables == {"GREETING": "hello-dev"}
    assert dev.approvals is None
    assert prod.approvals == Approvals(count=1)
    assert prod.variables == {"GREETING": "hello-prod", "DB_PASSWORD": SecretRef("env:PROD_DB_PASSWORD")}
    assert prod.location is not None and prod.location.line == 15
    assert config.environment("prod") is prod
    assert config.environment("pro") is None


def test_defaults_and_variables_merge(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        project: p
        variables: {A: top, B: top, C: top}
        defaults:
          variables: {B: defaults, C: defaults}
          timeout: 10m
          on_failure: rollback
        train:
          - name: dev
            variables: {C: env}
            on_failure: stop
            timeout: 90
        """,
    )
    [dev] = config.environments
    assert dev.variables == {"A": "top", "B": "defaults", "C": "env"}
    assert dev.on_failure == "stop"
    assert dev.timeout == 90.0
    assert config.variables == {"A": "top", "B": "top", "C": "top"}


def test_environment_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    config = load(tmp_path, "project: p\ntrain: [{name: only}]\n")
    [env] = config.environments
    assert (env.target, env.on_failure, env.concurrency) == ("local", "stop", "refuse")
    assert env.windows == () and env.freeze == () and env.settings == {}
    assert config.packages == () and config.publish == () and config.notify == ()


def test_every_environment_key(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        project: my.project_1-x
        packages:
          api:
            {path: dist/api-*.tar.gz, deploy: ./deploy-api, smoke: ./smoke-api, media_type: application/gzip}
          web: dist/web.zip
        ledger: sqlite
        publish: [github]
        state_dir: ../state
        notify:
          - webhook: https://hooks.example.com/x
            events: [release_created, deployment_finished]
          - webhook: {secret: env:HOOK_URL}
        train:
          - name: prod
            target: local
            monitor: {command: ./check, every: 10s, for: 2m}
            timeout: 1h30m
            soak: 1d
            approvals: {count: 2, from: [alice, bob]}
            allow_self_approval: true
            concurrency: wait
            windows:
              - {days: mon-fri, hours: "09:00-17:00", timezone: Europe/Paris}
              - {days: [Sat, sunday], hours: "22:00-24:00"}
              - {days: fri-mon}
            freeze:
              - {from: 2024-12-20T18:00:00Z, to: "2025-01-02T08:00:00+01:00"}
              - {from: "2024-07-01 00:00", to: 2024-07-02}
            variables: {PORT: 8080, DEBUG: true, RATIO: 1.10, EMPTY_TOKEN: "", _x: y}
        """,
    )
    api, web = config.packages
    assert (api.path, api.deploy, api.smoke, api.media_type) == (
        "dist/api-*.tar.gz",
        "./deploy-api",
        "./smoke-api",
        "application/gzip",
    )
    assert web.path == "dist/web.zip" and web.location is not None and web.location.line == 6
    assert config.publish == ("github",)
    assert config.state_dir == (tmp_path / ".." / "state").resolve()
    hook, secret_hook = config.notify
    assert hook.webhook == "https://hooks.example.com/x"
    assert hook.events == ("release_created", "deployment_finished")
    assert secret_hook.webhook == SecretRef("env:HOOK_URL") and secret_hook.events == ()
    [prod] = config.environments
    assert prod.monitor == Monitor(command="./check", every=10.0, for_=120.0)
    assert prod.timeout == 5400.0 and prod.soak == 86400.0
    assert prod.approvals == Approvals(count=2, from_=("alice", "bob"))
    assert prod.allow_self_approval is True and prod.concurrency == "wait"
    assert prod.windows == (
        Window(days=(0, 1, 2, 3, 4), start_minute=540, end_minute=1020, timezone="Europe/Paris"),
        Window(days=(5, 6), start_minute=1320, end_minute=1440),
        Window(days=(0, 4, 5, 6), start_minute=0, end_minute=1440),
    )
    first, second = prod.freeze
    assert first.start == dt.datetime(2024, 12, 20, 18, tzinfo=dt.UTC)
    assert first.end == dt.datetime(2025, 1, 2, 7, tzinfo=dt.UTC)
    assert second.start == dt.datetime(2024, 7, 1, tzinfo=dt.UTC)
    assert second.end.tzinfo is not None
    assert prod.variables == {"PORT": "8080", "DEBUG": "true", "RATIO": "1.10", "EMPTY_TOKEN": "", "_x": "y"}


def test_stages(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        project: p
        train:
          - name: dev
          - stage: regions
            require: any
            environments:
              - name: eu
              - name: us
          - name: prod
        """,
    )
    assert [(s.name, s.index, s.require) for s in config.stages] == [
        ("dev", 0, "all"),
        ("regions", 1, "any"),
        ("prod", 2, "all"),
    ]
    eu, us = config.stages[1].environments
    assert (eu.stage, eu.stage_index, us.stage, us.stage_index) == ("regions", 1, "regions", 1)
    assert eu.location is not None and eu.location.line == 8


def test_plugin_blocks_merge_key_by_key(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        project: p
        github: {repository: o/r, environment: top, labels: [a]}
        defaults:
          github: {environment: from-defaults}
        train:
          - name: dev
          - name: prod
            github: {environment: production}
            octopus: {space: Spaces-1}
        """,
        plugin_schemas=PLUGINS,
    )
    dev, prod = config.environments
    assert config.plugin_settings == {"github": {"repository": "o/r", "environment": "top", "labels": ["a"]}}
    assert dev.settings == {"github": {"repository": "o/r", "environment": "from-defaults", "labels": ["a"]}}
    assert prod.settings["github"]["environment"] == "production"
    assert prod.settings["octopus"] == {"space": "Spaces-1"}


def test_third_party_block_and_secret_schemes(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        project: p
        train:
          - name: dev
            acme: {level: 3}
            variables: {KEY: {secret: "vault:kv/app#key"}}
        """,
        plugin_schemas={"acme": {"type": "object", "properties": {"level": {"type": "integer"}}}},
        secret_schemes=("env", "vault"),
    )
    [dev] = config.environments
    assert dev.settings == {"acme": {"level": 3}}
    assert dev.variables["KEY"] == SecretRef("vault:kv/app#key")


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        project: p
        train:
          - &base {name: dev, deploy: ./d, variables: {A: "1"}}
          - <<: *base
            name: prod
            smoke: ./s
        """,
    )
    dev, prod = config.environments
    assert (dev.name, dev.deploy, dev.smoke) == ("dev", "./d", None)
    assert (prod.name, prod.deploy, prod.smoke, prod.variables) == ("prod", "./d", "./s", {"A": "1"})


def test_display_path_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("project: p\ntrain: []\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "c.yaml", display_path="c.yaml")
    assert str(info.value).startswith("c.yaml:2:8: ")
    assert info.value.file == "c.yaml" and (info.value.line, info.value.column) == (2, 8)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("0.5m", 30.0),
        ("0", 0.0),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "5 minutes", "1w", "-5", -5, "h", "1h 30m", True, None, float("inf"), "30mm"]
)
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("app", "TRAINMASTER_PACKAGE_APP"),
        ("my-app.v2", "TRAINMASTER_PACKAGE_MY_APP_V2"),
        ("A_b", "TRAINMASTER_PACKAGE_A_B"),
    ],
)
def test_package_env_name(name: str, variable: str) -> None:
    assert package_env_name(name) == variable


def test_import_is_cheap() -> None:
    code = (
        "import sys, trainmaster.config\n"
        "heavy = [m for m in ('yaml', 'jsonschema', 'requests', 'zoneinfo') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
