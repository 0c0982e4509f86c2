"""The Puppet Enterprise client and wait loop against the fake (real HTTP over loopback), and one
``responses`` call whose request is checked against the contract."""

from __future__ import annotations

import json
import subprocess

import pytest
import responses

from tests.fakes.puppet import contract
from tests.puppet.conftest import make_project
from trainmaster.errors import ApiError, Unavailable
from trainmaster_puppet._jobs import KINDS, wait
from trainmaster_puppet.client import PuppetClient, PuppetNotFound


def _client(fake, **kw) -> tuple[PuppetClient, list[float]]:
    sleeps: list[float] = []
    ports = {"code_manager": fake.port, "orchestrator": fake.port, "classifier": fake.port}
    client = PuppetClient(fake.url, fake.token, ports=ports, sleep=sleeps.append, **kw)
    return client, sleeps


def _start(client: PuppetClient, fake) -> str:
    body = {"environment": "dev", "scope": {"nodes": ["web1.example.com"]}, "description": "manual"}
    answer = client.request("POST", "orchestrator", "command/deploy", json=body, what="start",
                            recover=lambda: None)
    return str(answer["job"]["name"])


def test_the_ca_file_verifies_the_https_server(puppet_tls_fake):
    fake = puppet_tls_fake
    assert fake.url.startswith("https://")
    client, _ = _client(fake, ca_file=str(fake.ca_file))
    assert client.get("classifier", f"groups/{fake.app_group}", what="read")["name"] == "app servers"
    untrusted, _ = _client(fake, max_attempts=1)  # the system's CAs do not know the PE CA
    with pytest.raises(Unavailable) as err:
        untrusted.get("orchestrator", "jobs", what="list jobs")
    assert "certificate" in str(err.value).lower() or "tls" in str(err.value).lower()


def test_a_deployment_over_https_with_the_ca_file_setting(tmp_path, puppet_tls_fake):
    fake = puppet_tls_fake
    run, work, _ = make_project(tmp_path, fake)
    (work / "pe-ca.pem").write_bytes(fake.ca_file.read_bytes())
    text = (work / "trainmaster.yaml").read_text()
    (work / "trainmaster.yaml").write_text(text.replace("poll_interval: 0.05", "poll_interval: 0.05\n"
                                                                               "  ca_file: pe-ca.pem"))
    for args in (("validate", "--remote"), ("release", "create", "1.0.0"), ("deploy", "1.0.0", "--to", "dev")):
        result = run(*args)
        assert result.returncode == 0, result.stderr
    assert [j["state"] for j in fake.deploy_jobs()] == ["finished"]
    (work / "trainmaster.yaml").write_text(text)  # without the CA file: the server is not trusted
    result: subprocess.CompletedProcess[str] = run("validate", "--remote")
    assert result.returncode == 5 and "Traceback" not in result.stderr
    assert "TLS certificate is not trusted" in result.stderr and "not retried" in result.stderr  # not transient


def test_the_wait_polls_once_per_interval_and_rides_out_429_and_503(puppet_fake):
    client, sleeps = _client(puppet_fake)
    job_id = _start(client, puppet_fake)
    puppet_fake.throttle(operation_id="get-job", retry_after=7)
    puppet_fake.fail(503, operation_id="get-job")
    result = wait(client, KINDS["job"], job_id, interval=2.5, timeout=100, out=lambda _: None)
    assert result.status == "succeeded" and result.state == "finished"
    assert 7.0 in sleeps  # Retry-After honoured
    polls = sleeps.count(2.5)
    assert puppet_fake.count("get-job", status=200) == polls + 1  # one read per interval, plus the first


def test_a_start_whose_answer_was_a_503_is_looked_up_not_resent(puppet_fake):
    client, _ = _client(puppet_fake)
    puppet_fake.lose_response(operation_id="command-deploy")
    looked: list[int] = []

    def recover():
        looked.append(1)
        items = client.get("orchestrator", "jobs", {"limit": 5}, what="list")["items"]
        return {"job": {"name": items[0]["name"]}} if items else None

    body = {"environment": "dev", "scope": {"nodes": ["web1.example.com"]}, "description": "manual"}
    answer = client.request("POST", "orchestrator", "command/deploy", json=body, what="start", recover=recover)
    assert looked == [1] and answer["job"]["name"] == "101"
    assert puppet_fake.count("command-deploy") == 1


def test_failed_nodes_are_named_with_their_report_messages(puppet_fake):
    client, _ = _client(puppet_fake)
    puppet_fake.fail_next_job("web1.example.com", "Could not retrieve catalog from remote server")
    job_id = _start(client, puppet_fake)
    result = wait(client, KINDS["job"], job_id, interval=1, timeout=100, out=lambda _: None)
    assert result.status == "failed"
    assert result.explanation == ("1 of 1 node(s) failed: "
                                  "web1.example.com: Could not retrieve catalog from remote server")


def test_errors_carry_pe_words_and_never_the_token(puppet_fake):
    client, _ = _client(puppet_fake)
    with pytest.raises(PuppetNotFound) as missing:
        client.get("classifier", "groups/nope", what="read the node group nope")
    assert "does not exist" in str(missing.value)
    bad = PuppetClient(puppet_fake.url, "secret-token-sentinel", ports={"orchestrator": puppet_fake.port})
    with pytest.raises(ApiError) as denied:
        bad.get("orchestrator", "jobs", what="list jobs")
    assert "rejected the RBAC token" in str(denied.value) and "secret-token-sentinel" not in repr(denied.value)
    assert "secret-token-sentinel" not in repr(bad)


@responses.activate
def test_stop_sends_a_contract_valid_body_with_the_token_header():
    responses.add(responses.POST, "https://pe.example.com:8143/orchestrator/v1/command/stop", status=202,
                  json={"job": {"id": "https://pe.example.com:8143/orchestrator/v1/jobs/81", "name": "81",
                                "nodes": {"stopped": 2}}})
    client = PuppetClient("https://pe.example.com", "tok")
    KINDS["job"].stop(client, "81")
    (call,) = responses.calls
    assert call.request.headers["X-Authentication"] == "tok"
    assert call.request.headers["Content-Type"] == "application/json"
    c = contract()
    match = c.match_path("POST", "/orchestrator/v1/command/stop", {})
    c.check_body(match, json.loads(call.request.body), present=True)
    validator = c.response_validator("command-stop", "202")
    assert validator is not None and not list(validator.iter_errors(json.loads(call.response.text)))
