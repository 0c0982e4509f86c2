"""The AWX client and its helpers, over loopback against the fake (and ``responses`` for one call)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from tests.fakes.contract import load
from trainmaster.errors import InvalidInput, Refused
from trainmaster_awx._settings import Settings
from trainmaster_awx._template import check_launch, find_template
from trainmaster_awx._wait import wait_for_job
from trainmaster_awx.client import AwxApiError, AwxClient, AwxNotFound


def _client(fake, token: str | None = None) -> AwxClient:
    return AwxClient(fake.url, token or fake.token, sleep=lambda s: None)


def _settings(**raw) -> Settings:
    return Settings(raw)


def test_a_wrong_token_is_exit_2_naming_the_variable_not_the_token(awx_fake):
    with pytest.raises(AwxApiError) as err:
        _client(awx_fake, "wrong-secret-token").get("me/")
    assert "CONTROLLER_OAUTH_TOKEN" in str(err.value) and "wrong-secret-token" not in str(err.value)
    assert err.value.exit_code == 2


def test_no_url_or_no_token_is_exit_2():
    with pytest.raises(InvalidInput, match="CONTROLLER_HOST"):
        AwxClient("", "t")
    with pytest.raises(InvalidInput, match="CONTROLLER_OAUTH_TOKEN is not set"):
        AwxClient("http://127.0.0.1:1", "")


def test_templates_are_found_by_name_or_id_and_a_missing_one_is_exit_2(awx_fake):
    client = _client(awx_fake)
    assert find_template(client, _settings(job_template="deploy-app")).id == 1
    assert find_template(client, _settings(workflow_job_template=3)).name == "release-with-approval"
    with pytest.raises(InvalidInput, match="no job template named 'nope'"):
        find_template(client, _settings(job_template="nope"))
    with pytest.raises(AwxNotFound):
        find_template(client, _settings(job_template=99))


def test_launch_checks_refuse_what_awx_would_ignore(awx_fake):
    client = _client(awx_fake)
    fixed = find_template(client, _settings(job_template="deploy-fixed"))
    with pytest.raises(InvalidInput, match="ask_variables_on_launch"):
        check_launch(client, _settings(), fixed, [])
    app = find_template(client, _settings(job_template="deploy-app"))
    check_launch(client, _settings(), app, ["GREETING"])
    with pytest.raises(InvalidInput, match="ask_limit_on_launch"):
        check_launch(client, _settings(limit="web*"), app, [])


def test_status_polls_survive_429_and_503(awx_fake):
    client = _client(awx_fake)
    awx_fake.throttle(count=1, retry_after=1, operation_id="Jobs_jobs_read_0")
    awx_fake.fail(503, count=1, operation_id="Jobs_jobs_read_0")
    job = client.request("POST", "job_templates/1/launch/", json={"extra_vars": {}}, what="launch")
    lines: list[str] = []
    outcome = wait_for_job(client, "job", int(job["job"]), interval=0.01, timeout=30, out=lines.append)
    assert outcome.status == "succeeded"
    assert "PLAY RECAP" in "".join(lines)
    assert awx_fake.count("Jobs_jobs_read_0", status=429) == 1


def test_one_status_request_per_interval(awx_fake):
    client = _client(awx_fake)
    job = client.request("POST", "job_templates/1/launch/", json={"extra_vars": {}}, what="launch")
    awx_fake.reset_log()
    sleeps: list[float] = []
    client.sleep = sleeps.append
    wait_for_job(client, "job", int(job["job"]), interval=7, timeout=600, out=lambda t: None, stream=False)
    polls = awx_fake.count("Jobs_jobs_read_0")
    assert len(awx_fake.calls) == polls and polls == len(sleeps) + 1 and set(sleeps) == {7}


def test_the_output_is_read_only_when_the_job_answer_shows_it_grew(awx_fake):
    client = _client(awx_fake)
    awx_fake.hold_next_job()  # one long task: nothing new is printed while it runs
    job_id = int(client.request("POST", "job_templates/1/launch/", json={"extra_vars": {}}, what="launch")["job"])
    awx_fake.reset_log()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 12:
            awx_fake.release_job(job_id)

    client.sleep = sleep
    lines: list[str] = []
    outcome = wait_for_job(client, "job", job_id, interval=5, timeout=600, out=lines.append)
    assert outcome.status == "succeeded"
    text = "".join(lines)
    assert text.count("TASK [wait]") == 1 and text.index("PLAY [") < text.index("PLAY RECAP")
    polls, reads = awx_fake.count("Jobs_jobs_read_0"), awx_fake.count("Jobs_jobs_stdout_read")
    assert polls >= 11 and reads <= 3 and len(awx_fake.calls) == polls + reads  # not one output read per interval
    # one request per interval (an output read takes the place of that interval's status read), and the
    # first status read plus the rest of the output when it ended
    assert len(awx_fake.calls) == len(sleeps) + 2


def test_a_workflow_job_is_waited_on_with_one_request_per_interval(awx_fake):
    client = _client(awx_fake)
    awx_fake.seed_workflow("no-approval", 1, approval=False)
    wf = client.first_page("workflow_job_templates/", {"name": "no-approval"}, what="find")[0]
    wf_id = int(client.request("POST", f"workflow_job_templates/{wf['id']}/launch/", json={"extra_vars": {}},
                               what="launch")["workflow_job"])
    awx_fake.reset_log()
    sleeps: list[float] = []
    client.sleep = sleeps.append
    outcome = wait_for_job(client, "workflow_job", wf_id, interval=3, timeout=600, out=lambda t: None)
    assert outcome.status == "succeeded" and awx_fake.job(wf_id).status == "successful"
    assert len(awx_fake.calls) == awx_fake.count("Unified Jobs_unified_jobs_list") == len(sleeps) + 1 >= 3


def test_a_pending_workflow_approval_is_exit_3_with_its_link(awx_fake):
    client = _client(awx_fake)
    wf = client.request("POST", "workflow_job_templates/3/launch/", json={"extra_vars": {}}, what="launch")
    with pytest.raises(Refused, match=r"waits on the approval .*#/workflow_approvals/\d+/details"):
        wait_for_job(client, "workflow_job", int(wf["workflow_job"]), interval=0.01, timeout=30,
                     out=lambda t: None)


def _check_contract(request) -> str:
    """The ``responses`` call is an operation of tests/contracts/awx.swagger.json with a valid body."""
    contract = load("awx.swagger.json")
    parts = urlsplit(request.url)
    query = dict(parse_qsl(parts.query))
    match = contract.match_path(request.method, parts.path, query)
    contract.check_params(match, query)
    contract.check_body(match, json.loads(request.body), present=True)
    return match.operation.operation_id


@responses.activate
def test_a_403_names_the_role_to_grant():
    responses.add(responses.POST, "https://aap.example.com/api/v2/job_templates/1/launch/", status=403,
                  json={"detail": "You do not have permission to perform this action."})
    client = AwxClient("https://aap.example.com", "tok-sentinel", sleep=lambda s: None)
    with pytest.raises(AwxApiError) as err:
        client.request("POST", "job_templates/1/launch/", json={"extra_vars": {"trainmaster": {}}, "limit": "web*"},
                       what="launch deploy-app")
    assert _check_contract(responses.calls[0].request) == "Job Templates_job_templates_launch_create"
    assert "execute on the template" in str(err.value) and "permission" in str(err.value)
    assert "tok-sentinel" not in str(err.value)


def test_the_play_recap_is_not_cut_off_while_awx_still_processes_the_last_events(awx_fake):
    client = _client(awx_fake)
    awx_fake.lag_events_next_job(reads=2)
    job_id = int(client.request("POST", "job_templates/1/launch/", json={"extra_vars": {}}, what="launch")["job"])
    client.sleep = lambda seconds: None
    lines: list[str] = []
    outcome = wait_for_job(client, "job", job_id, interval=5, timeout=600, out=lines.append)
    assert outcome.status == "succeeded"
    assert "PLAY RECAP" in "".join(lines) and "".join(lines).count("TASK [deploy]") == 1
