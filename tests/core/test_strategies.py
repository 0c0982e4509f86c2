"""Deployment strategies through the CLI: what each one does to the instances on disk, in order."""

from __future__ import annotations

import json
import sqlite3

from tests.support.project import Project
from tests.support.strategies import FOUR, events, release, setup, versions

WEBS = ["web-1", "web-2", "web-3", "web-4"]

ROLLING = """\
  - name: prod
    on_failure: {on_failure}
    instances: [web-1, web-2, {{name: web-3, variables: {{PORT: 8083}}}}, web-4]
    strategy: {{rolling: {{batch: "50%", max_failed: {max_failed}}}}}
"""


def _rolling(p: Project, on_failure: str = "rollback", max_failed: int = 0) -> object:
    return setup(p, ROLLING.format(on_failure=on_failure, max_failed=max_failed))


def test_rolling_deploys_batch_by_batch_with_instance_variables(bare_project: Project) -> None:
    dest = _rolling(bare_project)
    release(bare_project, "1.0.0")
    bare_project.ok("deploy", "1.0.0", "--to", "prod")
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.0.0")
    assert events(dest) == [
        "deploy web-1 - 1.0.0 batch=1 previous=- port=-",
        "deploy web-2 - 1.0.0 batch=1 previous=- port=-",
        "deploy web-3 - 1.0.0 batch=2 previous=- port=8083",
        "deploy web-4 - 1.0.0 batch=2 previous=- port=-",
    ]
    status = bare_project.ok("status").stdout
    assert "prod: 1.0.0 on 4 of 4 instances, rolling" in status


def test_rolling_failure_stops_and_rolls_back_only_the_instances_done(bare_project: Project) -> None:
    p = bare_project
    dest = _rolling(p)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    release(p, "1.1.0")
    (dest / "fail-web-2").write_text("1.1.0")
    (dest / "events.log").unlink()
    result = p.run("deploy", "1.1.0", "--to", "prod", "--json")
    assert result.returncode == 1, result.stderr
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.0.0")
    assert events(dest) == [  # batch 2 never started; web-1 and web-2 went back to 1.0.0
        "deploy web-1 - 1.1.0 batch=1 previous=- port=-",
        "deploy web-2 - 1.1.0 batch=1 previous=- port=-",
        "deploy web-1 - 1.0.0 batch=1 previous=- port=-",
        "deploy web-2 - 1.0.0 batch=1 previous=- port=-",
    ]
    out = json.loads(result.stdout)
    steps = {s["instance"]: s["status"] for s in out["deployment"]["steps"]}
    assert steps == {"web-1": "succeeded", "web-2": "failed"}
    assert out["rollback"]["kind"] == "rollback" and out["rollback"]["status"] == "succeeded"
    assert [s["instance"] for s in out["rollback"]["steps"]] == ["web-1", "web-2"]
    assert "more than max_failed 0" in result.stderr


def test_rolling_max_failed_tolerates_and_status_shows_the_partial_rollout(bare_project: Project) -> None:
    p = bare_project
    dest = _rolling(p, on_failure="stop", max_failed=1)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    release(p, "1.1.0")
    (dest / "fail-web-3").touch()
    p.ok("deploy", "1.1.0", "--to", "prod")  # one failure is within max_failed
    assert "prod: 1.1.0 on 3 of 4 instances, rolling" in p.ok("status").stdout
    rollout = p.json("status")["environments"][0]["rollout"]
    assert rollout["on"] == 3 and rollout["of"] == 4
    assert rollout["instances"]["web-3"] == {"version": "1.1.0", "status": "failed", "slot": None,
                                             "deployment": 2}
    (dest / "fail-web-4").touch()
    release(p, "1.2.0")
    assert p.run("deploy", "1.2.0", "--to", "prod").returncode == 1  # web-3 and web-4 fail: stop, no rollback
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.2.0")
    assert "prod: 1.2.0 on 2 of 4 instances, rolling" in p.ok("status").stdout


def test_a_rerun_skips_instances_that_hold_the_release_and_force_redeploys(bare_project: Project) -> None:
    p = bare_project
    dest = _rolling(p, on_failure="stop")
    release(p, "1.0.0")
    (dest / "fail-web-3").touch()
    assert p.run("deploy", "1.0.0", "--to", "prod").returncode == 1
    (dest / "fail-web-3").unlink()
    (dest / "events.log").unlink()
    out = p.ok("deploy", "1.0.0", "--to", "prod").stdout
    assert "web-1 already holds 1.0.0" in out
    assert [e.split()[1] for e in events(dest)] == ["web-3", "web-4"]
    (dest / "events.log").unlink()
    p.ok("deploy", "1.0.0", "--to", "prod", "--force")
    assert [e.split()[1] for e in events(dest)] == WEBS


BLUE_GREEN = """\
  - name: prod
    on_failure: rollback
    strategy: {blue_green: {slots: [blue, green], switch: sh switch.sh}}
"""


def test_blue_green_switches_a_symlink_and_rollback_switches_back_without_redeploying(bare_project: Project) -> None:
    p = bare_project
    dest = setup(p, BLUE_GREEN)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    assert (dest / "live").readlink().name == "blue"
    release(p, "1.1.0")
    p.ok("deploy", "1.1.0", "--to", "prod")
    assert (dest / "live").readlink().name == "green"
    assert versions(dest, ["prod"], "blue") == {"prod": "1.0.0"}  # the old slot is kept
    assert versions(dest, ["prod"], "green") == {"prod": "1.1.0"}
    assert events(dest)[-2:] == ["deploy prod green 1.1.0 batch=- previous=blue port=-", "switch green previous=blue"]
    before = len(events(dest))
    p.ok("rollback", "--env", "prod")
    assert (dest / "live").readlink().name == "blue"
    assert events(dest)[before:] == ["switch blue previous=green"]  # no redeploy
    history = p.json("history")["deployments"]
    assert (history[-1]["kind"], history[-1]["version"], history[-1]["status"]) == ("rollback", "1.0.0", "succeeded")
    assert "prod: 1.0.0 on 1 of 1 instance, blue_green (live slot blue: 1.0.0)" in p.ok("status").stdout


def test_blue_green_failed_smoke_in_the_idle_slot_never_switches(bare_project: Project) -> None:
    p = bare_project
    dest = setup(p, BLUE_GREEN)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    release(p, "1.1.0")
    (dest / "fail-prod").touch()
    result = p.run("deploy", "1.1.0", "--to", "prod")
    assert result.returncode == 1
    assert (dest / "live").readlink().name == "blue"
    assert not any(e.startswith("switch green") for e in events(dest))
    assert "the live slot blue is unchanged" in result.stdout


CANARY = f"""\
  - name: prod
    instances: {FOUR}
    monitor: {{command: sh check.sh, every: 1s, for: 0s}}
    strategy: {{canary: {{steps: [25, 50, 100], route: sh route.sh}}}}
"""


def test_canary_routes_each_step_and_deploys_that_share_of_instances(bare_project: Project) -> None:
    p = bare_project
    dest = setup(p, CANARY)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    assert [e for e in events(dest) if not e.startswith("check")] == [
        "deploy web-1 - 1.0.0 batch=1 previous=- port=-",
        "route 1.0.0 25 web-1",
        "deploy web-2 - 1.0.0 batch=2 previous=- port=-",
        "route 1.0.0 50 web-1,web-2",
        "deploy web-3 - 1.0.0 batch=3 previous=- port=-",
        "deploy web-4 - 1.0.0 batch=3 previous=- port=-",
        "route 1.0.0 100 web-1,web-2,web-3,web-4",
    ]
    assert (dest / "routing").read_text() == "1.0.0 100\n"


def test_a_failed_canary_check_routes_to_zero_before_the_rollback(bare_project: Project) -> None:
    """Traffic leaves the canaries first; only then are they rolled back (even without on_failure)."""
    p = bare_project
    dest = setup(p, CANARY)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    release(p, "1.1.0")
    (dest / "events.log").unlink()
    checks = dest / "check.count"
    p.write("check.sh", f'set -eu\necho x >> {checks}\n[ "$(wc -l < {checks})" -lt 2 ]\n')  # the 2nd check fails
    result = p.run("deploy", "1.1.0", "--to", "prod")
    assert result.returncode == 1, result.stdout
    assert events(dest) == [
        "deploy web-1 - 1.1.0 batch=1 previous=- port=-",
        "route 1.1.0 25 web-1",
        "deploy web-2 - 1.1.0 batch=2 previous=- port=-",
        "route 1.1.0 50 web-1,web-2",
        "route 1.1.0 0 -",
        "deploy web-1 - 1.0.0 batch=- previous=- port=-",
        "deploy web-2 - 1.0.0 batch=- previous=- port=-",
    ]
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.0.0")
    assert (dest / "routing").read_text() == "1.1.0 0\n"
    assert "rolled back to 1.0.0: rollback succeeded" in result.stderr


def test_strategy_config_errors_point_at_the_line(bare_project: Project) -> None:
    p = bare_project
    setup(p, "  - name: prod\n    instances: [a, b, a]\n")
    result = p.run("validate")
    assert result.returncode == 2
    assert "trainmaster.yaml:6:23: instance name 'a' is used twice" in result.stderr
    setup(p, "  - name: prod\n    strategy: {canary: {steps: [50, 20], route: x}}\n")
    result = p.run("validate")
    assert result.returncode == 2 and "trainmaster.yaml:6:" in result.stderr and "must increase" in result.stderr
    setup(p, "  - name: prod\n    strategy: {rolling: {batch: 0}}\n")
    assert p.run("validate").returncode == 2


def test_rollout_rows_are_bound_to_the_audit_chain(bare_project: Project) -> None:
    p = bare_project
    _rolling(p)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    assert "audit log intact" in p.ok("audit", "verify").stdout
    conn = sqlite3.connect(p.state / "ledger.db")
    with conn:
        conn.execute("UPDATE rollout_steps SET version = '9.9.9' WHERE instance = 'web-2'")
    conn.close()
    result = p.run("status")
    assert result.returncode == 4
    assert "rollout_steps" in result.stderr and "edited outside trainmaster" in result.stderr
    assert p.run("audit", "verify").returncode == 4


def test_verification_runs_once_for_the_whole_rollout_and_a_failed_one_routes_back_first(
    bare_project: Project,
) -> None:
    """Not once per instance: one deployment, one verification (recorded and compared once)."""
    p = bare_project
    verify = "    verify: {command: sh verify.sh, metrics: {p95_ms: {max: 300}}}\n"
    dest = setup(p, CANARY.replace("    strategy:", verify + "    strategy:"))
    p.write("verify.sh", f'echo "verify $TRAINMASTER_VERSION" >> {dest}/events.log\n'
                         'printf \'{"p95_ms": %s}\' "$(cat "$DEST/p95")" > "$TRAINMASTER_METRICS"\n')
    (dest / "p95").write_text("120")
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    assert [e for e in events(dest) if e.startswith("verify")] == ["verify 1.0.0"]
    release(p, "1.1.0")
    (dest / "events.log").unlink()
    (dest / "p95").write_text("900")
    result = p.run("deploy", "1.1.0", "--to", "prod")
    assert result.returncode == 1, result.stdout
    assert [e for e in events(dest) if not e.startswith("check")] == [
        "deploy web-1 - 1.1.0 batch=1 previous=- port=-",
        "route 1.1.0 25 web-1",
        "deploy web-2 - 1.1.0 batch=2 previous=- port=-",
        "route 1.1.0 50 web-1,web-2",
        "deploy web-3 - 1.1.0 batch=3 previous=- port=-",
        "deploy web-4 - 1.1.0 batch=3 previous=- port=-",
        "route 1.1.0 100 web-1,web-2,web-3,web-4",
        "verify 1.1.0",
        "route 1.1.0 0 -",
        "deploy web-1 - 1.0.0 batch=- previous=- port=-",
        "deploy web-2 - 1.0.0 batch=- previous=- port=-",
        "deploy web-3 - 1.0.0 batch=- previous=- port=-",
        "deploy web-4 - 1.0.0 batch=- previous=- port=-",
    ]
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.0.0")
    assert "p95_ms" in result.stdout  # the failed metric, in the log
