"""A deployer killed (SIGKILL) in the middle of a rolling and of a canary deployment.

The next command reports the partial rollout; ``rollback`` restores every instance
(routing the traffic back to 0 first for a canary); a re-run of ``deploy`` resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.project import Project
from tests.support.strategies import FOUR, events, release, setup, versions, wait_for

WEBS = ["web-1", "web-2", "web-3", "web-4"]
ROLLING = f"""\
  - name: prod
    instances: {FOUR}
    strategy: {{rolling: {{batch: 1}}}}
"""
CANARY = f"""\
  - name: prod
    instances: {FOUR}
    strategy: {{canary: {{steps: [25, 50, 100], route: sh route.sh}}}}
"""


def _kill_during(p: Project, marker: Path, *args: str) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", *args], cwd=p.root, env=p.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(marker)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _two_releases(p: Project, environment: str) -> Path:
    dest = setup(p, environment)
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    release(p, "1.1.0")
    return dest


def test_killed_rolling_deployment_is_reported_and_rolled_back_everywhere(bare_project: Project) -> None:
    p = bare_project
    dest = _two_releases(p, ROLLING)
    (dest / "hang-web-3").touch()
    _kill_during(p, dest / "started-web-3", "deploy", "1.1.0", "--to", "prod")
    (dest / "hang-web-3").unlink()
    assert versions(dest, WEBS) == {"web-1": "1.1.0", "web-2": "1.1.0", "web-3": "1.0.0", "web-4": "1.0.0"}

    status = p.ok("status").stdout
    assert "interrupted" in status and "prod: 1.1.0 on 2 of 4 instances, rolling" in status
    rollout = p.json("status")["environments"][0]["rollout"]
    assert {k: v["status"] for k, v in rollout["instances"].items()} == {
        "web-1": "succeeded", "web-2": "succeeded", "web-3": "interrupted", "web-4": "succeeded"}
    assert rollout["instances"]["web-4"]["version"] == "1.0.0"

    (dest / "events.log").unlink()
    p.ok("rollback", "--env", "prod")
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.0.0")
    assert [e.split()[1] for e in events(dest)] == ["web-1", "web-2", "web-3"]  # web-4 still held 1.0.0
    assert "prod: 1.0.0 on 4 of 4 instances, rolling" in p.ok("status").stdout
    assert "audit log intact" in p.ok("audit", "verify").stdout


def test_a_rerun_after_a_kill_resumes_where_it_stopped(bare_project: Project) -> None:
    p = bare_project
    dest = _two_releases(p, ROLLING)
    (dest / "hang-web-2").touch()
    _kill_during(p, dest / "started-web-2", "deploy", "1.1.0", "--to", "prod")
    (dest / "hang-web-2").unlink()
    (dest / "events.log").unlink()
    out = p.ok("deploy", "1.1.0", "--to", "prod").stdout
    assert "web-1 already holds 1.1.0" in out
    assert [e.split()[1] for e in events(dest)] == ["web-2", "web-3", "web-4"]
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.1.0")


def test_killed_canary_is_reported_then_routed_to_zero_before_every_instance_is_restored(
        bare_project: Project) -> None:
    p = bare_project
    dest = _two_releases(p, CANARY)
    (dest / "hang-50").touch()
    _kill_during(p, dest / "started-50", "deploy", "1.1.0", "--to", "prod")
    (dest / "hang-50").unlink()
    assert versions(dest, WEBS) == {"web-1": "1.1.0", "web-2": "1.1.0", "web-3": "1.0.0", "web-4": "1.0.0"}

    status = p.ok("status").stdout
    assert "prod: 1.1.0 on 2 of 4 instances, canary (traffic 50%)" in status

    (dest / "events.log").unlink()
    p.ok("rollback", "--env", "prod")
    assert events(dest) == [
        "route 1.0.0 0 -",
        "deploy web-1 - 1.0.0 batch=- previous=- port=-",
        "deploy web-2 - 1.0.0 batch=- previous=- port=-",
    ]
    assert versions(dest, WEBS) == dict.fromkeys(WEBS, "1.0.0")
    assert (dest / "routing").read_text() == "1.0.0 0\n"
    assert "audit log intact" in p.ok("audit", "verify").stdout
