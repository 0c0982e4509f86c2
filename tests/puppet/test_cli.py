"""End to end: the real ``trainmaster`` CLI (subprocesses) with the Puppet Enterprise adapter against its fake."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from trainmaster_puppet._manifest import parse_description

DEPLOY = "command-deploy"


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _descs(fake) -> list[dict[str, str]]:
    return [parse_description(j["description"]) for j in fake.deploy_jobs()]


def test_a_release_is_promoted_dev_test_prod_by_orchestrator_jobs(project):
    run, work, fake, _ = project
    _ok(run("validate", "--remote"))
    _ok(run("release", "create", "1.0.0"))
    dev = _ok(run("deploy", "1.0.0", "--to", "dev"))
    _ok(run("promote", "--from", "dev", "--to", "test"))
    _ok(run("promote", "--from", "test", "--to", "prod"))
    assert "Code Manager deployed dev" in dev.stdout and "started job" in dev.stdout
    assert [d["environment"] for d in fake.code_deploys] == ["dev", "test", "prod"]
    assert all(d["wait"] for d in fake.code_deploys)
    jobs = fake.deploy_jobs()
    assert [j["environment"] for j in jobs] == ["dev", "test", "prod"]
    assert all(j["scope"] == {"node_group": fake.app_group} and j["state"] == "finished" for j in jobs)
    assert [d["version"] for d in _descs(fake)] == ["1.0.0"] * 3
    history = json.loads(_ok(run("history", "--json")).stdout)["deployments"]
    assert [d["status"] for d in history] == ["succeeded"] * 3
    assert [str(d["id"]) for d in history] == [d["deployment_id"] for d in _descs(fake)]


def test_a_failed_run_in_test_names_the_node_and_is_rolled_back(project):
    run, work, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    _ok(run("deploy", "1.0.0", "--to", "dev"))
    _ok(run("deploy", "1.0.0", "--to", "test"))
    (work / "app.bin").write_bytes(b"binary-v2")
    _ok(run("release", "create", "1.1.0"))
    _ok(run("deploy", "1.1.0", "--to", "dev"))
    fake.fail_next_job("web2.example.com", "Could not find package app-1.1.0")
    failed = run("deploy", "1.1.0", "--to", "test")
    assert failed.returncode == 1, failed.stderr
    assert "web2.example.com: Could not find package app-1.1.0" in failed.stdout + failed.stderr
    last = _descs(fake)[-2:]
    assert [(d["version"], d["kind"]) for d in last] == [("1.1.0", "deploy"), ("1.0.0", "rollback")]
    assert [j["state"] for j in fake.deploy_jobs()[-2:]] == ["failed", "finished"]


def test_a_code_manager_failure_fails_the_deployment_without_a_puppet_run(project):
    run, _, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    fake.fail_next_code_deploy("Unable to determine current branches for Git source")
    result = run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 1, result.stderr
    assert "Unable to determine current branches" in result.stdout + result.stderr
    assert fake.count(DEPLOY) == 0


def test_a_lost_start_answer_does_not_start_twice(project):
    run, _, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    fake.lose_response(operation_id=DEPLOY)
    _ok(run("deploy", "1.0.0", "--to", "dev"))
    assert fake.count(DEPLOY) == 1
    assert [j["state"] for j in fake.deploy_jobs()] == ["finished"]


def test_a_rerun_adopts_the_running_job_instead_of_starting_another(project):
    run, work, fake, env = project
    _ok(run("release", "create", "1.0.0"))
    fake.hold_next_job()
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (fake.deploy_jobs() and fake.deploy_jobs()[0]["state"] == "running"):
        assert time.monotonic() < deadline and proc.poll() is None, "the job never started running"
        time.sleep(0.05)
    proc.kill()  # a runner that died without stopping the job
    proc.communicate(timeout=30)
    with fake.lock:
        fake.jobs[min(fake.jobs)]["behaviour"] = {}  # the held job can finish now
    again = _ok(run("deploy", "1.0.0", "--to", "dev"))
    assert "resuming the wait on job" in again.stdout
    assert fake.count(DEPLOY) == 1 and fake.count("code-manager-deploys") == 1
    assert fake.deploy_jobs()[0]["state"] == "finished"


def test_sigterm_stops_the_running_job(project):
    run, work, fake, env = project
    _ok(run("release", "create", "1.0.0"))
    fake.hold_next_job()
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"], cwd=work,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (fake.deploy_jobs() and fake.deploy_jobs()[0]["state"] == "running"):
        assert time.monotonic() < deadline and proc.poll() is None, "the job never started running"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert fake.deploy_jobs()[0]["state"] == "stopped", err
    assert fake.count("command-stop") == 1


def test_a_timeout_stops_the_job_exit_5(project):
    run, work, fake, _ = project
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        "poll_interval: 0.05", "poll_interval: 0.05\n  timeout: 0.3"))
    _ok(run("release", "create", "1.0.0"))
    fake.hold_next_job()
    result = run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 5, result.stderr
    assert "was stopped" in result.stderr and "Traceback" not in result.stderr
    assert fake.deploy_jobs()[0]["state"] == "stopped"


def test_a_plan_gets_the_manifest_as_its_parameter(project):
    run, work, fake, _ = project
    text = (work / "trainmaster.yaml").read_text()
    (work / "trainmaster.yaml").write_text(text.replace(f"node_group: {fake.app_group}", "plan: app::deploy"))
    _ok(run("release", "create", "1.0.0"))
    _ok(run("deploy", "1.0.0", "--to", "dev"))
    (plan,) = fake.plans()
    assert plan["plan"] == "app::deploy" and plan["state"] == "success" and plan["environment"] == "dev"
    manifest = plan["params"]["trainmaster"]
    digest = "sha256:" + __import__("hashlib").sha256(b"binary-v1").hexdigest()
    assert manifest["version"] == "1.0.0" and manifest["environment"] == "dev"
    assert manifest["packages"] == [{"name": "app", "file_name": "app.bin", "size": 9, "digest": digest,
                                     "sha256": digest[7:], "media_type": "application/octet-stream", "url": None}]
    assert plan["params"]["GREETING"] == "hello-dev"
    assert fake.count(DEPLOY) == 0


def test_a_failed_plan_is_exit_1_with_its_message(project):
    run, work, fake, _ = project
    text = (work / "trainmaster.yaml").read_text()
    (work / "trainmaster.yaml").write_text(text.replace(f"node_group: {fake.app_group}", "plan: app::deploy"))
    _ok(run("release", "create", "1.0.0"))
    fake.fail_next_job("web1.example.com", "checksum mismatch for app.bin")
    result = run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 1, result.stderr
    assert "web1.example.com: checksum mismatch for app.bin" in result.stdout + result.stderr


def test_noop_runs_puppet_in_no_op_mode(project):
    run, work, fake, _ = project
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        "poll_interval: 0.05", "poll_interval: 0.05\n  noop: true"))
    _ok(run("release", "create", "1.0.0"))
    out = _ok(run("deploy", "1.0.0", "--to", "dev"))
    assert fake.deploy_jobs()[0]["noop"] is True
    assert "no-op mode" in out.stdout


def test_validate_remote_finds_a_missing_node_group(project):
    run, work, fake, _ = project
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        fake.app_group, "11111111-2222-4333-8444-555555555555"))
    _ok(run("validate"))  # offline: nothing to say
    result = run("validate", "--remote")
    assert result.returncode == 2, result.stderr
    assert "11111111-2222-4333-8444-555555555555" in result.stderr and "Traceback" not in result.stderr


def test_a_wrong_token_is_exit_2_and_never_printed(project):
    run, _, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    result = run("deploy", "1.0.0", "--to", "dev", PE_TOKEN="wrong-token-sentinel")
    assert result.returncode == 2, result.stderr
    assert "rejected the RBAC token" in result.stderr and "PE_TOKEN" in result.stderr
    assert "wrong-token-sentinel" not in result.stdout + result.stderr
    assert fake.count(DEPLOY) == 0


def test_config_errors_are_exit_2_offline(project):
    run, work, fake, _ = project
    base = (work / "trainmaster.yaml").read_text()
    (work / "trainmaster.yaml").write_text(base.replace(f"node_group: {fake.app_group}",
                                                        f"node_group: {fake.app_group}\n  query: 'nodes {{}}'"))
    result = run("validate")
    assert result.returncode == 2 and "exactly one scope" in result.stderr, result.stderr
    (work / "trainmaster.yaml").write_text(base.replace("poll_interval: 0.05",
                                                        "poll_interval: 0.05\n  ca_file: missing-ca.pem"))
    result = run("validate")
    assert result.returncode == 2 and "missing-ca.pem" in result.stderr, result.stderr


def test_secret_variables_are_refused_at_validate_and_deploy(project):
    run, work, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    (work / "trainmaster.yaml").write_text((work / "trainmaster.yaml").read_text().replace(
        "{GREETING: hello-dev}", "{GREETING: hello-dev, DB_PASSWORD: {secret: env:DB_PW}}"))
    for args in (("validate",), ("deploy", "1.0.0", "--to", "dev")):
        result = run(*args, DB_PW="hunter2-sentinel")
        assert result.returncode == 2, result.stderr
        assert "DB_PASSWORD" in result.stderr and "eyaml" in result.stderr
        assert "hunter2-sentinel" not in result.stdout + result.stderr
    assert fake.count(DEPLOY) == 0 and fake.count("code-manager-deploys") == 0
    assert json.loads(_ok(run("history", "--json")).stdout)["deployments"] == []


def test_a_wrong_token_writes_nothing(project):
    run, _, fake, _ = project
    _ok(run("release", "create", "1.0.0"))
    before = _ok(run("history", "--json")).stdout
    audit = _ok(run("audit", "verify", "--json")).stdout
    result = run("deploy", "1.0.0", "--to", "dev", PE_TOKEN="wrong-token-sentinel")
    assert result.returncode == 2, result.stderr
    assert _ok(run("history", "--json")).stdout == before  # dev is not recorded as failed
    assert _ok(run("audit", "verify", "--json")).stdout == audit
