"""End to end: the real ``trainmaster`` CLI (subprocesses) with the AWX adapter against the AWX fake."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

LAUNCH = "Job Templates_job_templates_launch_create"
WF_LAUNCH = "Workflow Job Templates_workflow_job_templates_launch_create"


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _manifests(fake, kind: str = "job") -> list[dict]:
    return [j.extra_vars["trainmaster"] for j in fake.jobs_of(kind)]


def test_a_release_is_promoted_dev_test_prod_by_awx_jobs(project):
    run, work, fake, _ = project
    _ok(run("validate", "--remote"))
    _ok(run("release", "create", "1.0.0"))
    dev = _ok(run("deploy", "1.0.0", "--to", "dev"))
    _ok(run("promote", "--from", "dev", "--to", "test"))
    _ok(run("promote", "--from", "test", "--to", "prod"))
    assert "PLAY RECAP" in dev.stdout and "launched job" in dev.stdout
    manifests = _manifests(fake)
    assert [m["environment"] for m in manifests] == ["dev", "test", "prod"]
    digest = "sha256:" + __import__("hashlib").sha256(b"binary-v1").hexdigest()
    assert manifests[0]["packages"] == [{"name": "app", "file_name": "app.bin", "size": 9, "digest": digest,
                                         "sha256": digest[7:], "media_type": "application/octet-stream", "url": None}]
    assert fake.jobs_of("job")[0].extra_vars["GREETING"] == "hello-dev"
    assert all(j.status == "successful" for j in fake.jobs_of("job"))
    history = json.loads(_ok(run("history", "--json")).stdout)["deployments"]
    assert [d["status"] for d in history] == ["succeeded"] * 3
    assert history[-1]["remote"]["job_id"] == fake.jobs_of("job")[-1].id


def test_a_failed_job_in_test_is_rolled_back_by_another_job(project):
    run, work, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    _ok(run("deploy", "1.0.0", "--to", "dev"))
    _ok(run("deploy", "1.0.0", "--to", "test"))
    (work / "app.bin").write_bytes(b"binary-v2")
    _ok(run("release", "create", "1.1.0"))
    _ok(run("deploy", "1.1.0", "--to", "dev"))
    fake.fail_next_job("the service did not start")
    failed = run("deploy", "1.1.0", "--to", "test")
    assert failed.returncode == 1, failed.stderr
    assert "the service did not start" in failed.stdout  # the job's output, streamed
    last = _manifests(fake)[-2:]
    assert [(m["version"], m["kind"]) for m in last] == [("1.1.0", "deploy"), ("1.0.0", "rollback")]
    assert [j.status for j in fake.jobs_of("job")[-2:]] == ["failed", "successful"]


def test_a_lost_launch_answer_does_not_launch_twice(project):
    run, _, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    fake.lose_response(operation_id=LAUNCH)
    _ok(run("deploy", "1.0.0", "--to", "dev"))
    assert fake.count(LAUNCH) == 1
    assert len(fake.jobs_of("job")) == 1 and fake.jobs_of("job")[0].status == "successful"


def test_sigterm_cancels_the_running_job(project):
    run, work, fake, env = project
    _ok(run("release", "create", "1.0.0"))
    fake.hold_next_job()
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (fake.jobs_of("job") and fake.jobs_of("job")[0].status == "running"):
        assert time.monotonic() < deadline and proc.poll() is None, "the job never started running"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert fake.jobs_of("job")[0].status == "canceled", err
    assert fake.count("Jobs_jobs_cancel_create") == 1


def test_a_timeout_cancels_the_job_exit_5(project):
    run, work, fake, _ = project
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        "poll_interval: 0.05", "poll_interval: 0.05\n  timeout: 0.3"))
    _ok(run("release", "create", "1.0.0"))
    fake.hold_next_job()
    result = run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 5, result.stderr
    assert "was cancelled" in result.stderr and "Traceback" not in result.stderr
    assert fake.jobs_of("job")[0].status == "canceled"


def test_a_workflow_approval_is_exit_3_then_approve_and_rerun_adopts_the_job(project):
    run, work, fake, _ = project
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        "job_template: deploy-app", "workflow_job_template: release-with-approval"))
    _ok(run("release", "create", "1.0.0"))
    first = run("deploy", "1.0.0", "--to", "dev")
    assert first.returncode == 3, first.stderr
    assert "waits on the approval" in first.stderr and "#/workflow_approvals/" in first.stderr
    again = run("deploy", "1.0.0", "--to", "dev")  # still waiting: the same workflow job, no new launch
    assert again.returncode == 3 and fake.count(WF_LAUNCH) == 1
    approved = _ok(run("approve", "1.0.0", "--env", "dev", "--by", "alice"))
    assert "awx: approved" in approved.stderr
    assert fake.jobs_of("workflow_approval")[0].status == "successful"
    done = _ok(run("deploy", "1.0.0", "--to", "dev"))
    assert "resuming the wait" in done.stdout
    assert fake.count(WF_LAUNCH) == 1
    assert fake.jobs_of("workflow_job")[0].status == "successful"
    assert _manifests(fake)[0]["environment"] == "dev"  # the workflow's playbook got the manifest


def test_a_template_that_ignores_variables_is_refused(project):
    run, work, fake, _ = project
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        "job_template: deploy-app", "job_template: deploy-fixed"))
    _ok(run("validate"))  # offline: nothing to say
    remote = run("validate", "--remote")
    assert remote.returncode == 2 and "ask_variables_on_launch" in remote.stderr
    assert "Traceback" not in remote.stderr
    _ok(run("release", "create", "1.0.0"))
    deploy = run("deploy", "1.0.0", "--to", "dev")
    assert deploy.returncode == 2 and "ask_variables_on_launch" in deploy.stderr
    assert fake.count(LAUNCH) == 0


def test_secret_variables_are_refused_at_validate_and_deploy(project):
    run, work, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        "{GREETING: hello-dev}", "{GREETING: hello-dev, DB_PASSWORD: {secret: env:DB_PW}}"))
    for args in (("validate",), ("deploy", "1.0.0", "--to", "dev")):
        result = run(*args, DB_PW="hunter2-sentinel")
        assert result.returncode == 2, result.stderr
        assert "DB_PASSWORD" in result.stderr and "AWX credential" in result.stderr
        assert "hunter2-sentinel" not in result.stdout + result.stderr
    assert fake.count(LAUNCH) == 0
    history = json.loads(_ok(run("history", "--json")).stdout)["deployments"]
    assert history == []


def test_a_rejected_token_exits_2_and_writes_nothing(project):
    run, work, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    before = _ok(run("history", "--json")).stdout
    audit = _ok(run("audit", "verify", "--json")).stdout
    result = run("deploy", "1.0.0", "--to", "dev", CONTROLLER_OAUTH_TOKEN="wrong-token-sentinel")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "wrong-token-sentinel" not in result.stdout + result.stderr
    assert _ok(run("history", "--json")).stdout == before  # dev is not recorded as failed
    assert _ok(run("audit", "verify", "--json")).stdout == audit
    assert fake.jobs_of("job") == []
