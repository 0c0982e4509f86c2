"""End to end: the real ``trainmaster`` CLI (subprocesses) with the terraform-cloud target and the fake."""

from __future__ import annotations

import json

from tests.terraform_cloud.conftest import config_archive


def _runs(fake, workspace):
    ws = fake.workspace_named(workspace)
    return [r for r in fake.runs.values() if r["workspace"] == ws["id"]]


def test_a_release_is_promoted_dev_test_prod_on_one_configuration_version(tfc_project):
    run, _, fake = tfc_project
    assert run("validate").returncode == 0
    assert run("validate", "--remote").returncode == 0
    assert run("release", "create", "1.0.0").returncode == 0
    dev = run("deploy", "1.0.0", "--to", "dev")
    assert dev.returncode == 0, dev.stderr
    assert "1 to add, 0 to change, 0 to destroy" in dev.stdout + dev.stderr
    for src, dst in (("dev", "test"), ("test", "prod")):
        out = run("promote", "--from", src, "--to", dst)
        assert out.returncode == 0, out.stderr
    assert len(fake.cvs) == 1  # build once: uploaded once ...
    (cv_id,) = fake.cvs
    runs = list(fake.runs.values())
    assert [r["status"] for r in runs] == ["applied"] * 3
    assert {r["cv"] for r in runs} == {cv_id}  # ... deploy many: every workspace runs that version
    assert {fake.workspaces[r["workspace"]]["name"] for r in runs} == {"dev", "test", "prod"}
    for r in runs:
        assert "deployment" in r["message"] and "release" in r["message"]
        variables = {v["key"]: v["value"] for v in r["variables"]}
        manifest = json.loads(variables["trainmaster"])
        assert manifest["version"] == "1.0.0" and manifest["packages"][0]["name"] == "infra"
    assert fake.count("upload-configuration-files") == 1
    assert fake.token not in "".join(run("history").stdout)


def test_a_failure_in_test_is_rolled_back_to_the_previous_configuration(tfc_project):
    run, work, fake = tfc_project
    assert run("release", "create", "1.0.0").returncode == 0
    assert run("deploy", "1.0.0", "--to", "dev").returncode == 0
    assert run("deploy", "1.0.0", "--to", "test").returncode == 0
    (work / "infra.tar.gz").write_bytes(config_archive('variable "trainmaster" {}\n# v2\n'))
    assert run("release", "create", "2.0.0").returncode == 0
    assert run("deploy", "2.0.0", "--to", "dev").returncode == 0
    fake.fail_next_run()
    out = run("deploy", "2.0.0", "--to", "test")
    assert out.returncode == 1, out.stderr
    assert "errored" in out.stdout + out.stderr
    test_runs = _runs(fake, "test")
    assert [r["status"] for r in test_runs] == ["applied", "errored", "applied"]
    assert test_runs[0]["cv"] == test_runs[2]["cv"] != test_runs[1]["cv"]  # back on 1.0.0's configuration
    assert len(fake.cvs) == 2


def test_a_lost_create_answer_makes_no_duplicate(tfc_project):
    run, _, fake = tfc_project
    assert run("release", "create", "1.0.0").returncode == 0
    fake.lose_response(operation_id="create-configuration-version")
    fake.lose_response(operation_id="create-run")
    out = run("deploy", "1.0.0", "--to", "dev")
    assert out.returncode == 0, out.stderr
    assert len(fake.cvs) == 1 and len(fake.runs) == 1
    assert fake.count("create-run") == 1 and fake.count("create-configuration-version") == 1


def test_faults_are_retried(tfc_project):
    run, _, fake = tfc_project
    assert run("release", "create", "1.0.0").returncode == 0
    fake.throttle(count=1, retry_after=0, operation_id="create-run")
    fake.fail(503, count=1, operation_id="get-run")
    out = run("deploy", "1.0.0", "--to", "dev")
    assert out.returncode == 0, out.stderr
    assert len(fake.runs) == 1


def test_a_plan_waiting_for_confirmation_is_exit_3_then_approve_applies_and_a_rerun_adopts(tfc_project):
    run, _, fake = tfc_project
    assert run("release", "create", "1.0.0").returncode == 0
    fake.hold_next_run()
    held = run("deploy", "1.0.0", "--to", "dev")
    assert held.returncode == 3, held.stderr
    (only,) = fake.runs.values()
    assert only["id"] in held.stderr and "/workspaces/dev/runs/" in held.stderr
    ok = run("approve", "1.0.0", "--env", "dev", "--by", "alice", "--comment", "looks good")
    assert ok.returncode == 0, ok.stderr
    assert f"applied run {only['id']}" in ok.stderr
    again = run("deploy", "1.0.0", "--to", "dev")
    assert again.returncode == 0, again.stderr
    assert "adopting run" in again.stdout + again.stderr
    assert len(fake.runs) == 1 and only["status"] == "applied"


def test_a_policy_override_is_exit_3_with_the_runs_url(tfc_project):
    run, _, fake = tfc_project
    assert run("release", "create", "1.0.0").returncode == 0
    fake.policy_override_next_run()
    out = run("deploy", "1.0.0", "--to", "dev")
    assert out.returncode == 3, out.stderr
    (only,) = fake.runs.values()
    assert "policy override" in out.stderr and only["id"] in out.stderr


def test_a_timeout_cancels_the_run(tfc_project):
    run, work, fake = tfc_project
    text = (work / "trainmaster.yaml").read_text().replace("timeout: 30", "timeout: 0.05")
    (work / "trainmaster.yaml").write_text(text)
    assert run("release", "create", "1.0.0").returncode == 0
    fake.stall_next_run()
    out = run("deploy", "1.0.0", "--to", "dev")
    assert out.returncode == 5, out.stderr
    assert "cancelled" in out.stderr and "Traceback" not in out.stderr
    (only,) = fake.runs.values()
    assert only["status"] == "canceled" and fake.count("cancel-run") == 1


def test_secret_variables_are_refused_before_anything_is_sent(tfc_project):
    run, work, fake = tfc_project
    text = (work / "trainmaster.yaml").read_text().replace("  - name: dev\n",
                                                          "  - name: dev\n    variables: {DB: {secret: env:DB}}\n")
    (work / "trainmaster.yaml").write_text(text)
    out = run("validate", DB="s3cret")
    assert out.returncode == 2
    assert "sensitive" in out.stderr and "Traceback" not in out.stderr
    assert fake.calls == []


def test_a_rejected_token_exits_2_and_writes_nothing(tfc_project):
    run, _, fake = tfc_project
    assert run("release", "create", "1.0.0").returncode == 0
    before = run("history", "--json").stdout
    audit = run("audit", "verify", "--json").stdout
    bad = run("deploy", "1.0.0", "--to", "dev", TF_API_TOKEN="wrong-token-sentinel")
    assert bad.returncode == 2, bad.stderr
    assert "Traceback" not in bad.stderr and "wrong-token-sentinel" not in bad.stdout + bad.stderr
    assert run("history", "--json").stdout == before  # dev is not recorded as failed
    assert run("audit", "verify", "--json").stdout == audit
    assert fake.runs == {} and fake.cvs == {}
