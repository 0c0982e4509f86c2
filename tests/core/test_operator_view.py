"""The operator's view through the real CLI: status, deployment show, logs, audit log."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from tests.support.project import SECRET, Project

FAILING_DEPLOY = """\
set -eu
mkdir -p "$DEST/$TRAINMASTER_ENVIRONMENT"
echo "deploying $TRAINMASTER_VERSION password=$DB_PASSWORD"
if [ "$TRAINMASTER_VERSION" = 2.0.0 ]; then echo "disk full on node-7" >&2; exit 3; fi
cp "$TRAINMASTER_PACKAGE_APP" "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin"
"""

CONFIG = """\
project: demo
packages:
  app: build/app.bin
  cfg: build/cfg.txt
defaults:
  deploy: sh deploy.sh
  on_failure: rollback
  pass_env: [DEST]
  variables:
    DB_PASSWORD: {secret: env:PROD_DB_PASSWORD}
train:
  - name: dev
  - name: prod
    approvals: {count: 1, from: [alice, bob]}
"""


def _project(bare_project: Project) -> Project:
    bare_project.write("trainmaster.yaml", CONFIG)
    bare_project.write("deploy.sh", FAILING_DEPLOY)
    bare_project.build("healthy")
    bare_project.write("build/cfg.txt", "same config\n")
    return bare_project


def _env(proj: Project, name: str) -> dict:  # type: ignore[type-arg]
    return next(e for e in proj.json("status")["environments"] if e["name"] == name)


def test_status_shows_the_failure_its_reason_and_whose_bytes_each_package_holds(bare_project: Project) -> None:
    proj = _project(bare_project)
    proj.ok("release", "create", "1.0.0")
    proj.ok("deploy", "1.0.0", "--to", "dev")
    proj.build("healthy v1.1")  # app changes, cfg does not: cfg is skipped in the next deployment
    proj.ok("release", "create", "1.1.0")
    proj.ok("deploy", "1.1.0", "--to", "dev")
    proj.build("healthy v2")
    proj.ok("release", "create", "2.0.0")
    assert proj.run("deploy", "2.0.0", "--to", "dev").returncode == 1  # fails, rolled back to 1.1.0

    dev = _env(proj, "dev")
    for key in ("name", "stage", "version", "release_id", "status", "pending", "next", "deployment", "actor",
                "finished_at"):
        assert key in dev  # the documented keys stay
    assert dev["current"]["version"] == "1.1.0" and dev["current"]["deployment"] == 4
    assert dev["current"]["since"]
    assert dev["last_failure"]["version"] == "2.0.0" and dev["last_failure"]["deployment"] == 3
    assert dev["last_failure"]["reason"] and dev["last_failure"]["rolled_back_by"] == 4
    # the rollback deploys every package again: both hold the bytes of deployment #4
    assert {p["name"]: p["deployment"] for p in dev["packages"]} == {"app": 4, "cfg": 4}

    prod = _env(proj, "prod")
    assert prod["next"] == "1.1.0"
    approvals = next(g for g in prod["gates"] if g["kind"] == "approvals")
    assert approvals["may_approve"] == ["alice", "bob"] and approvals["met"] is False

    text = proj.ok("status").stdout
    lines = text.splitlines()
    assert lines[0].split() == ["ENVIRONMENT", "STAGE", "RELEASE", "SINCE", "STATUS", "LATEST", "NEXT"]
    assert "\x1b[" not in text  # piped: plain
    assert any("2.0.0 failed (deployment #3" in line and "rolled back by #4" in line for line in lines)
    assert "may approve: alice, bob" in text
    assert re.search(r"\b(just now|\d+[smh] ago)\b", text)  # durations, not timestamps (units: test_operator_decisions)


def test_a_skipped_package_shows_the_deployment_that_put_its_bytes_there(bare_project: Project) -> None:
    proj = _project(bare_project)
    proj.ok("release", "create", "1.0.0")
    proj.ok("deploy", "1.0.0", "--to", "dev")
    proj.build("healthy v1.1")
    proj.ok("release", "create", "1.1.0")
    proj.ok("deploy", "1.1.0", "--to", "dev")
    dev = _env(proj, "dev")
    assert {p["name"]: (p["version"], p["deployment"]) for p in dev["packages"]} == {
        "app": ("1.1.0", 2), "cfg": ("1.0.0", 1)}
    assert "dev: cfg: bytes of 1.0.0, deployment #1" in proj.ok("status").stdout


def test_color_follows_the_option_and_no_color(bare_project: Project) -> None:
    proj = _project(bare_project)
    proj.ok("release", "create", "1.0.0")
    proj.ok("deploy", "1.0.0", "--to", "dev")
    assert "\x1b[32msucceeded" in proj.ok("--color", "always", "status").stdout
    assert "\x1b[32msucceeded" in proj.ok("status", "--color", "always").stdout
    assert "\x1b[" not in proj.ok("--color", "always", "status", "--color", "never").stdout
    assert "\x1b[" not in proj.ok("status", env={"NO_COLOR": "1"}).stdout
    bad = proj.run("status", "--color", "sometimes")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_deployment_show_links_the_failure_and_its_rollback(bare_project: Project) -> None:
    proj = _project(bare_project)
    proj.ok("release", "create", "1.0.0")
    proj.ok("deploy", "1.0.0", "--to", "dev")
    proj.build("healthy v2")
    proj.ok("release", "create", "2.0.0")
    proj.run("deploy", "2.0.0", "--to", "dev")
    failed = proj.json("deployment", "show", "2")["deployment"]
    assert failed["status"] == "failed" and failed["rolled_back_by"] == 3 and failed["reason"]
    assert failed["packages"] == {"app": "failed", "cfg": "skipped"}
    rollback = proj.json("deployment", "show", "3")["deployment"]
    assert rollback["kind"] == "rollback" and rollback["rolled_back"] == 2 and rollback["rolled_back_by"] is None
    text = proj.ok("deployment", "show", "2").stdout
    assert "rolled back by deployment #3" in text and "app: failed" in text

    proj.ok("approve", "1.0.0", "--env", "prod", "--by", "alice")
    proj.ok("deploy", "1.0.0", "--to", "prod")
    gates = proj.json("deployment", "show", "4")["deployment"]["gates_met"]
    assert any(g.startswith("order: ") for g in gates)
    assert any(g.startswith("approvals: 1/1") and "alice" in g for g in gates)

    missing = proj.run("deployment", "show", "99")
    assert missing.returncode == 2 and "no deployment #99" in missing.stderr and "Traceback" not in missing.stderr


def test_logs_are_what_was_printed_masked_and_kept_in_the_store(bare_project: Project) -> None:
    proj = _project(bare_project)
    proj.ok("release", "create", "1.0.0")
    printed = proj.ok("deploy", "1.0.0", "--to", "dev").stdout
    log = proj.ok("logs", "1").stdout
    assert log == printed
    assert SECRET not in log and "password=***" in log
    data = proj.json("logs", "1")
    digest = data["log"]
    assert data["text"] == printed and digest.startswith("sha256:")
    blob = proj.state / "store" / "sha256" / digest[7:9] / digest[7:]
    assert blob.read_text() == printed
    assert not (proj.state / "logs" / "1.log").exists()
    assert SECRET not in (proj.state / "ledger.db").read_bytes().decode("latin-1")


def test_logs_follow_tails_a_running_deployment_until_it_finishes(bare_project: Project) -> None:
    proj = _project(bare_project)
    gate = proj.root / "go"
    proj.write("deploy.sh", f"""\
        echo first line
        while [ ! -e "{gate}" ]; do sleep 0.05; done
        echo last line
        """)
    proj.ok("release", "create", "1.0.0")
    deployer = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"],
                                cwd=proj.root, env=proj.env, stdout=subprocess.PIPE, text=True)
    try:
        log_file = proj.state / "logs" / "1.log"
        deadline = time.monotonic() + 30
        while "first line" not in (log_file.read_text() if log_file.exists() else ""):
            assert time.monotonic() < deadline and deployer.poll() is None
            time.sleep(0.05)
        follower = subprocess.Popen([sys.executable, "-m", "trainmaster", "logs", "1", "--follow"],
                                    cwd=proj.root, env=proj.env, stdout=subprocess.PIPE, text=True)
        assert follower.stdout is not None
        out = ""
        while "first line" not in out:  # the follower prints while the deployment still runs
            line = follower.stdout.readline()
            assert line, out
            out += line
        gate.write_text("")
        out += follower.stdout.read()
        follower.wait(timeout=60)
        printed, _ = deployer.communicate(timeout=60)
    finally:
        deployer.kill()
    assert follower.returncode == 0
    assert "last line" in out and out.count("first line") == 1
    assert proj.ok("logs", "1").stdout == printed


def test_audit_log_prints_events_with_their_hashes(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    events = project.json("audit", "log")["events"]
    assert [e["kind"] for e in events] == ["release_created", "deployment_started", "deployment_finished"]
    assert events[1]["prev"] == events[0]["hash"] and all(e["hash"].startswith("sha256:") for e in events)
    head = project.json("audit", "verify")["head"]
    assert events[-1]["hash"] == head
    assert [e["seq"] for e in project.json("audit", "log", "--since", "1")["events"]] == [2, 3]
    finished = project.json("audit", "log", "--kind", "deployment_finished")["events"]
    assert [e["data"]["deployment"] for e in finished] == [1]
    assert project.json("audit", "log", "--since", "2999-01-01")["events"] == []
    assert project.json("audit", "log", "--since", events[1]["at"])["events"][0]["seq"] == 2
    text = project.ok("audit", "log").stdout
    assert head in text and "deployment_finished" in text
    bad = project.run("audit", "log", "--since", "last tuesday")
    assert bad.returncode == 2 and "neither a sequence number" in bad.stderr


def test_status_json_rows_read_back(project: Project) -> None:
    from trainmaster.status import EnvironmentStatus

    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    data = project.json("status")["environments"]
    assert [EnvironmentStatus.from_json(row).to_json() for row in data] == json.loads(json.dumps(data))
