"""Webhook payloads through the real CLI to a loopback receiver: versioned JSON valid against
docs/schemas/webhook.schema.json, signed with the documented recipe, and the Slack and Teams presets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.plugins import make_project, run_cli
from tests.support.receiver import Server, server_fixture  # noqa: F401  (the `server` fixture)

# re-exported so that this module's tests get a fresh plugin manager too
from tests.support.plugins import fresh_plugin_manager  # noqa: F401, E402  isort: skip

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "webhook.schema.json").read_text())
SIGNING_SECRET = "whsec-3f9a7c1e5b2d8046"
NOTES = "Faster checkout <!channel> & <https://evil.example|click here> [docs](https://evil.example) *now*"
ALL_EVENTS = {"release_created", "deployment_started", "deployment_finished", "approval_recorded",
              "rollout_step_finished", "runbook_run_finished", "gate_sampled", "gates_finished", "signoff_recorded",
              "verification_finished"}


def documented_recipe(page: str = "docs/webhooks.md") -> Any:
    """``is_from_trainmaster`` exactly as ``page`` shows it to receivers."""
    text = (ROOT / page).read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "compare_digest" in block)
    scope: dict[str, Any] = {}
    exec(compile(code, page, "exec"), scope)  # noqa: S102 - the documented receiver's check
    return scope["is_from_trainmaster"]


def _config(tmp_path: Path, server: Server) -> Path:
    (tmp_path / "verify.sh").write_text('printf \'{"p95_ms": 120}\' > "$TRAINMASTER_METRICS"\n')
    return make_project(tmp_path, config=f"""\
project: demo
packages: {{app: app.bin}}
defaults:
  deploy: "true"
train:
  - name: dev
    instances: [web-1, web-2]
    strategy: {{rolling: {{batch: 1}}}}
    gates: [{{name: ready, command: "true"}}]
    signoff: {{count: 1}}
    verify: {{command: sh verify.sh, metrics: {{p95_ms: {{max: 300}}}}}}
  - name: test
    approvals: 1
runbooks:
  tidy: {{command: "echo tidied", environments: [dev]}}
notify:
  - webhook: {server.url("/json")}
    secret: {{secret: env:HOOK_SECRET}}
  - webhook: {{secret: env:SLACK_URL}}
    format: slack
    events: [release_created, signoff_recorded, gates_finished]
  - webhook: {server.url("/teams")}
    format: teams
    events: [release_created, verification_finished]
""")


@pytest.fixture
def delivered(tmp_path: Path, server: Server) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Every duty run once through the CLI; the requests by path, and everything the CLI printed."""
    config = _config(tmp_path, server)
    env = {"HOOK_SECRET": SIGNING_SECRET, "SLACK_URL": server.url("/slack")}
    runs = [run_cli(config, "release", "create", "1.0.0", "--by", "carol", "--notes", NOTES, env=env),
            run_cli(config, "deploy", "1.0.0", "--to", "dev", env=env),
            run_cli(config, "signoff", "1.0.0", "--env", "dev", "--by", "alice", "--comment", "<!here> ok", env=env),
            run_cli(config, "run", "tidy", "--env", "dev", env=env),
            run_cli(config, "approve", "1.0.0", "--env", "test", "--by", "bob", env=env)]
    assert [r.code for r in runs] == [0] * len(runs), [r.err for r in runs]
    by_path: dict[str, list[dict[str, Any]]] = {}
    for request in server.requests:
        by_path.setdefault(request["path"], []).append(request)
    return by_path, "".join(r.out + r.err for r in runs)


def test_json_events_are_versioned_valid_and_signed(delivered: tuple[dict[str, list[dict[str, Any]]], str]) -> None:
    import jsonschema

    by_path, printed = delivered
    check = documented_recipe()
    validator = jsonschema.Draft202012Validator(SCHEMA)
    events = []
    for request in by_path["/json"]:
        body: bytes = request["body"]
        assert check(SIGNING_SECRET, body, request["headers"]["X-Trainmaster-Signature-256"])
        event = json.loads(body)
        assert request["headers"]["X-Trainmaster-Event"] == event["event"]
        errors = [e.message for e in validator.iter_errors(event)]
        assert errors == [], (event["event"], errors)
        events.append(event)
    assert {e["event"] for e in events} == ALL_EVENTS
    assert all(e["schema_version"] == 1 and e["project"] == "demo" for e in events)
    steps = [e["step"]["instance"] for e in events if e["event"] == "rollout_step_finished"]
    assert steps == ["web-1", "web-2"]
    created = next(e for e in events if e["event"] == "release_created")
    assert created["release"]["notes"] == NOTES and created["release"]["created_by"] == "carol"
    assert len({r["headers"]["X-Trainmaster-Delivery"] for r in by_path["/json"]}) == len(events)
    assert SIGNING_SECRET not in printed


@pytest.mark.parametrize("page", ["docs/webhooks.md", "README.md"])
def test_the_documented_check_refuses_a_tampered_body_or_another_secret(page: str) -> None:
    from trainmaster.webhook import signature

    check = documented_recipe(page)
    body = b'{"event":"deployment_finished","status":"succeeded"}'
    header = signature(SIGNING_SECRET, body)
    assert check(SIGNING_SECRET, body, header)
    assert not check(SIGNING_SECRET, body.replace(b"succeeded", b"failed"), header)
    assert not check("another-secret", body, header)
    assert not check(SIGNING_SECRET, body, None)


def test_slack_messages_escape_untrusted_text(delivered: tuple[dict[str, list[dict[str, Any]]], str]) -> None:
    by_path, _ = delivered
    messages = [json.loads(r["body"]) for r in by_path["/slack"]]
    assert all("X-Trainmaster-Signature-256" not in r["headers"] for r in by_path["/slack"])  # no secret here
    assert [m["text"] for m in messages] == [
        "Release demo 1.0.0 created", "Gates of dev for demo 1.0.0: passed",
        "alice signed off demo 1.0.0 in dev"]
    for message in messages:
        assert message["blocks"][0]["type"] == "section" and message["blocks"][0]["text"]["type"] == "mrkdwn"
    raw = json.dumps(messages)
    assert "<!channel>" not in raw and "<!here>" not in raw and "<https://" not in raw
    notes = next(f["text"] for f in messages[0]["blocks"][1]["fields"] if f["text"].startswith("*Notes*"))
    assert notes == ("*Notes*\nFaster checkout &lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt; "
                     "[docs](https://evil.example) *now*")
    comment = next(f["text"] for f in messages[2]["blocks"][1]["fields"])
    assert comment == "*Comment*\n&lt;!here&gt; ok"


def test_teams_messages_are_adaptive_cards_with_escaped_markdown(
        delivered: tuple[dict[str, list[dict[str, Any]]], str]) -> None:
    by_path, _ = delivered
    messages = [json.loads(r["body"]) for r in by_path["/teams"]]
    titles = [m["attachments"][0]["content"]["body"][0]["text"] for m in messages]
    assert titles[0] == "Release demo 1.0.0 created"
    assert set(titles[1:]) == {"Performance verification of demo 1.0.0 in dev: passed"}
    for message in messages:
        assert message["type"] == "message"
        (attachment,) = message["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
        assert card["body"][0]["type"] == "TextBlock" and card["body"][1]["type"] == "FactSet"
    facts = {f["title"]: f["value"] for f in messages[0]["attachments"][0]["content"]["body"][1]["facts"]}
    assert facts["Notes"] == ("Faster checkout \\<!channel\\> & \\<https://evil.example|click here\\> "
                              "\\[docs\\](https://evil.example) \\*now\\*")
    verified = messages[1]["attachments"][0]["content"]
    assert {f["title"]: f["value"] for f in verified["body"][1]["facts"]} == {"p95\\_ms": "ok 120"}


def _validate(tmp_path: Path, dev: str, secret: str) -> tuple[int, str]:
    config = make_project(tmp_path, config=f"""\
project: demo
packages: {{app: app.bin}}
train:
  - name: dev
    deploy: "true"
{dev}notify:
  - webhook: https://hooks.example.com/x
    secret: {secret}
""")
    bad = run_cli(config, "validate")
    return bad.code, bad.err


def test_a_signing_secret_must_be_a_secret_reference(tmp_path: Path) -> None:
    code, err = _validate(tmp_path, "", "whsec-literal-value")
    assert code == 2 and "trainmaster.yaml:8:13" in err
    assert "whsec-literal-value" not in err


def test_the_signing_secret_cannot_be_passed_to_commands(tmp_path: Path) -> None:
    code, err = _validate(tmp_path, "    pass_env: [HOOK_SECRET]\n", "{secret: env:HOOK_SECRET}")
    assert code == 2 and "HOOK_SECRET" in err and "the source of a secret" in err


def _slack_only(tmp_path: Path, server: Server) -> Path:
    """A project whose one environment needs an approval, notifying Slack of every event."""
    return make_project(tmp_path, config=f"""\
project: demo
packages: {{app: app.bin}}
train:
  - name: dev
    deploy: "true"
    approvals: 1
notify:
  - webhook: {server.url("/slack")}
    format: slack
""")


def test_slack_fields_stay_within_slacks_limit_once_escaped(tmp_path: Path, server: Server) -> None:
    """Slack refuses a message whose field text passes 2000 characters: escaping must not push a note over it."""
    config = _slack_only(tmp_path, server)
    assert run_cli(config, "release", "create", "1.0.0", "--notes", "<" * 3000 + "&").code == 0
    (message,) = [json.loads(r["body"]) for r in server.requests]
    fields = [f["text"] for block in message["blocks"] for f in block.get("fields", ())]
    notes = next(f for f in fields if f.startswith("*Notes*\n"))
    assert all(len(f) <= 2000 for f in fields), [len(f) for f in fields]
    assert notes.startswith("*Notes*\n&lt;&lt;") and notes.endswith("…")
    assert "&lt" not in notes.replace("&lt;", "")  # never cut inside an entity


def test_a_slack_title_stays_within_slacks_section_limit(tmp_path: Path, server: Server) -> None:
    """Slack refuses a section text over 3000 characters: a long actor (``--by``) must not make the title pass it."""
    config = _slack_only(tmp_path, server)
    assert run_cli(config, "release", "create", "1.0.0").code == 0
    assert run_cli(config, "approve", "1.0.0", "--env", "dev", "--by", "<" * 1000).code == 0
    (message,) = [json.loads(r["body"]) for r in server.requests[1:]]  # after release_created
    section = message["blocks"][0]["text"]["text"]
    assert len(section) <= 3000 and section.startswith("*&lt;&lt;") and section.endswith("…*")
