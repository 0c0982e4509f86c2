"""Every command's ``--json`` output, on success and on failure, validates against its schema in docs/schemas/.

One seeded project is driven through the real CLI (releases, deployments to every stage, a failed
deployment rolled back, approvals given, rejected and revoked, a sign-off, a runbook run, a deletion
and a gc); each output is checked against ``docs/schemas/<command>.schema.json``. Every command with
``--json`` must have a schema and be exercised here, and the schemas must catch a renamed key.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing import Resource

from tests.support.plugins import _dist
from tests.support.project import BASIC_CONFIG, DEPLOY_SH, SMOKE_SH, Project, base_env

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
_DOCS = [json.loads(p.read_text()) for p in [*sorted(SCHEMAS.glob("*.schema.json")),
                                              ROOT / "src" / "trainmaster" / "release.schema.json"]]
REGISTRY = SPECIFICATIONS.with_resources((d["$id"], Resource.from_contents(d)) for d in _DOCS)

CONFIG = BASIC_CONFIG.replace("""  - name: dev
    variables: {GREETING: hello-dev}
""", """  - name: dev
    variables: {GREETING: hello-dev}
    gates: [{command: "true"}]
    verify: {command: sh metrics.sh, metrics: {p95_ms: {max: 300}}}
""").replace("""  - name: test
    variables: {GREETING: hello-test}
""", """  - name: test
    variables: {GREETING: hello-test}
    signoff: {count: 1}
""") + """runbooks:
  hello: {command: "echo hi", environments: [dev]}
"""


def schema_name(command: str) -> str:
    """``release create`` → ``release-create`` (the file docs/schemas/release-create.schema.json)."""
    return command.replace(" ", "-")


@functools.cache  # checked and built once per schema: validating changes nothing in it
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=REGISTRY)  # type: ignore[call-arg]


def json_commands() -> list[str]:
    """Every command of the click app that takes ``--json`` (``release create``, ``audit log`` …)."""
    from trainmaster.cli import cli

    ctx = click.Context(cli)
    found: list[str] = []

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name])
        elif any(isinstance(p, click.Option) and "--json" in p.opts for p in command.params):
            found.append(" ".join(path))

    walk(cli, [])
    return found


class Outputs:
    """What each command printed with ``--json``: ``command -> [(exit code, document), …]``."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.seen: dict[str, list[tuple[int, Any]]] = {}

    def __call__(self, command: str, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Any:
        result = self.project.run(*command.split(), *args, "--json", env=env)
        assert result.returncode == code, (command, args, result.stdout, result.stderr)
        data = json.loads(result.stdout)  # exactly one JSON document
        self.seen.setdefault(command, []).append((code, data))
        return data


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    tmp = tmp_path_factory.mktemp("schemas")
    p = Project(tmp / "proj", base_env(tmp))
    p.root.mkdir()
    p.write("trainmaster.yaml", CONFIG)
    p.write("deploy.sh", DEPLOY_SH)
    p.write("smoke.sh", SMOKE_SH)
    p.write("metrics.sh", 'echo \'{"p95_ms": 212}\' > "$TRAINMASTER_METRICS"\n')
    p.build()
    out = Outputs(p)
    for command, args in (("validate", ()), ("plugins", ()), ("schema", ()), ("schema", ("--release",)),
                          ("release create", ("1.0.0",)), ("release create", ("1.0.0",)),
                          ("deploy", ("1.0.0", "--to", "dev", "--wait")),
                          ("promote", ("--from", "dev", "--to", "test")),
                          ("signoff", ("1.0.0", "--env", "test", "--by", "qa")),
                          ("approve", ("1.0.0", "--env", "prod", "--by", "alice", "--comment", "ok")),
                          ("approvals", ()), ("promote", ("--from", "test", "--to", "prod"))):
        out(command, *args)
    p.build("healthy 2")
    out("release create", "2.0.0")
    out("deploy", "2.0.0", "--to", "dev")
    out("promote", "--from", "dev", "--to", "test")
    out("signoff", "2.0.0", "--env", "test", "--by", "qa")
    waiting = out("status")["environments"][2]  # prod: 2.0.0 waits for an approval
    assert [g["kind"] for g in waiting["gates"]] == ["approvals"] and waiting["next"] == "2.0.0", waiting
    out("reject", "2.0.0", "--env", "prod", "--by", "bob", "--comment", "not yet")
    out("approve", "2.0.0", "--env", "prod", "--by", "carol")
    out("revoke", "2.0.0", "--env", "prod", "--by", "carol", "--comment", "oops")
    out("approvals")
    p.build("broken")  # its smoke test fails: the deployment fails and rolls back (exit 1, still its JSON)
    out("release create", "3.0.0")
    failed = out("deploy", "3.0.0", "--to", "dev", code=1)
    assert failed["deployment"]["status"] == "failed" and failed["rollback"]["status"] == "succeeded"
    out("rollback", "--env", "test")
    status = out("status")
    assert status["environments"][0]["last_failure"]["rolled_back_by"] == failed["rollback"]["id"]
    for number in (1, failed["deployment"]["id"], failed["rollback"]["id"]):
        out("deployment show", str(number))
    for command, args in (("history", ()), ("logs", ("1",)), ("release list", ()), ("release show", ("1.0.0",)),
                          ("release verify", ("2.0.0",)), ("release diff", ("1.0.0", "2.0.0")),
                          ("run", ("hello", "--env", "dev")), ("run", ("hello", "--env", "dev", "--approve")),
                          ("runs", ()), ("signoff", ("1.0.0", "--env", "test", "--by", "qa", "--revoke")),
                          ("audit log", ()), ("audit verify", ()), ("board", ("--out", "board"))):
        out(command, *args)
    p.build("healthy 4")
    digest = out("release create", "4.0.0")["release"]["packages"][0]["digest"]
    out("release delete", "4.0.0", "--dry-run")
    out("release delete", "4.0.0")
    kept = p.state / "store" / "quarantine" / f"{digest.split(':')[1]}.deployment-9"  # its release is gone
    kept.parent.mkdir()
    kept.write_text("changed by a command\n")
    assert out("gc", "--dry-run")["quarantine"][0]["action"] == "remove"
    out("gc")
    out("release list")
    _sync(out, tmp)
    _cancel(out)
    return out


FOLDER_PUBLISHER = '''
import json
from pathlib import Path

from trainmaster import hookimpl
from trainmaster.interfaces import PublishResult


class Folder:
    """Publishes release records as files in $PWD/published (a real, if small, remote)."""

    def __init__(self, config):
        self.root = Path(config.root) / "published"

    def _path(self, release):
        return self.root / f"{release.version}.json"

    def ensure(self, release, files, config):
        path = self._path(release)
        if path.exists():
            return PublishResult("exists", detail=f"{path} is there")
        self.root.mkdir(exist_ok=True)
        path.write_bytes(release.to_json())
        return PublishResult("created", url=path.as_uri())

    def check(self, release, config):
        path = self._path(release)
        if not path.exists():
            return PublishResult("created", detail="not there yet")
        same = path.read_bytes() == release.to_json()
        return PublishResult("exists" if same else "conflict", detail=None if same else "differs")

    def fetch(self, version, dest, config):
        return None


@hookimpl
def register_publishers(register):
    register("folder", Folder)
'''


def _sync(out: Outputs, tmp: Path) -> None:
    site = tmp / "site"
    _dist(site, "folder-pub", "folder_pub", FOLDER_PUBLISHER)
    env = {"PYTHONPATH": str(site), "TRAINMASTER_LOAD_PLUGINS": "folder-pub"}
    out("sync", "--to", "folder", "1.0.0", "--check", env=env)
    out("sync", "--to", "folder", "1.0.0", "2.0.0", env=env)
    checked = out("sync", "--to", "folder", "--check", "1.0.0", env=env)
    assert checked["releases"][0]["state"] == "exists"


SLOW_DEPLOY = """\
if [ "$TRAINMASTER_VERSION" = 5.0.0 ]; then
  echo $$ > started
  while :; do sleep 0.1; done
fi
"""


def _cancel(out: Outputs) -> None:
    """A deployment running in another process: ``status`` shows it active, ``cancel`` stops it."""
    p = out.project
    p.write("trainmaster.yaml", "project: demo\npackages: {app: build/app.bin}\ntrain:\n  - name: dev\n"
                                "    deploy: sh slow.sh\n")
    p.write("slow.sh", SLOW_DEPLOY)
    p.build("healthy 5")
    p.ok("release", "create", "5.0.0")
    deployer = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "5.0.0", "--to", "dev"],
                                cwd=p.root, env=p.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = p.root / "started"
        deadline = time.monotonic() + 60
        while not (started.exists() and started.read_text().strip()):
            assert time.monotonic() < deadline and deployer.poll() is None, "the slow deploy never started"
            time.sleep(0.05)
        running = out("status")["environments"][0]["active"]
        assert running and running[0]["state"] == "running"
        number = str(running[0]["deployment"])
        assert out("cancel", number, "--by", "ops")["deployment"]["status"] == "cancelled"
        deployer.communicate(timeout=60)
    finally:
        if deployer.poll() is None:
            deployer.kill()
            deployer.wait()


def _cases(outputs: Outputs) -> Iterator[tuple[str, int, Any]]:
    for command, found in outputs.seen.items():
        for code, data in found:
            yield command, code, data


def test_every_json_command_has_a_schema_and_is_exercised(outputs: Outputs) -> None:
    commands = json_commands()
    assert len(commands) >= 29, commands
    missing = [c for c in commands if not (SCHEMAS / f"{schema_name(c)}.schema.json").is_file()]
    assert not missing, f"no docs/schemas/<command>.schema.json for: {missing}"
    assert not set(commands) - set(outputs.seen), f"not exercised: {set(commands) - set(outputs.seen)}"


def test_every_success_validates_against_its_command_schema(outputs: Outputs) -> None:
    checked = 0
    for command, _code, data in _cases(outputs):
        errors = list(validator(schema_name(command)).iter_errors(data))
        assert not errors, f"{command}: {errors[0].message} at {list(errors[0].absolute_path)}"
        checked += 1
    assert checked >= 50, checked


def test_a_renamed_or_missing_key_is_caught(outputs: Outputs) -> None:
    """The schemas are strict: each command's output with one key renamed, or dropped, no longer validates."""
    for command, _code, data in _cases(outputs):
        check = validator(schema_name(command))
        key = next(iter(data))
        renamed = {(k + "_renamed" if k == key else k): v for k, v in data.items()}
        dropped = {k: v for k, v in data.items() if k != key}
        assert not check.is_valid(renamed), (command, key)
        assert not check.is_valid(dropped), (command, key)
    history = outputs.seen["history"][0][1]
    history["deployments"][0]["release"] = history["deployments"][0].pop("release_id")
    assert not validator("history").is_valid(history)
    status = outputs.seen["status"][0][1]
    del status["environments"][0]["current"]["since"]
    assert not validator("status").is_valid(status)


BROKEN = "project: demo\ntrain:\n  - name: dev\n    aproval: 1\n"

# Arguments that would pass the command's own checks: the failure is the broken config (exit 2).
FAILING = {
    "approvals": (), "approve": ("1.0.0", "--env", "dev"), "audit log": (), "audit verify": (),
    "board": ("--out", "b"), "cancel": ("1",), "deploy": ("1.0.0", "--to", "dev"), "deployment show": ("1",),
    "gc": (), "history": (), "logs": ("1",), "promote": ("--from", "dev", "--to", "test"),
    "reject": ("1.0.0", "--env", "dev"), "release create": ("1.0.0",), "release delete": ("1.0.0",),
    "release diff": ("1.0.0", "2.0.0"), "release list": (), "release show": ("1.0.0",),
    "release verify": ("1.0.0",), "revoke": ("1.0.0", "--env", "dev"), "rollback": ("--env", "dev"),
    "run": ("hello", "--env", "dev"), "runs": (), "signoff": ("1.0.0", "--env", "dev"), "status": (),
    "sync": ("--to", "folder"), "validate": (),
    "plugins": ("--no-such-option",), "schema": ("--no-such-option",),  # these read no config
}


def test_every_failure_validates_against_the_error_schema(tmp_path: Path) -> None:
    p = Project(tmp_path, base_env(tmp_path))
    p.write("trainmaster.yaml", BROKEN)
    error = validator("error")
    assert set(FAILING) == set(json_commands())
    for command, args in FAILING.items():
        result = p.run(*command.split(), *args, "--json")
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        data = json.loads(result.stdout)
        if command == "validate":  # validate lists its problems in its own shape
            validator("validate").validate(data)
            assert data["valid"] is False and data["errors"][0]["key"] == "aproval"
            continue
        error.validate(data)
        kind = "no_such_option" if "--no-such-option" in args else "config_error"
        assert data["error"]["kind"] == kind, (command, data)
