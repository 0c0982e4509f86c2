"""Concurrency: one deployment per environment, dead deployers found, no "database is locked"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.support.project import Project

SLOW_CONFIG = """\
project: demo
packages: {{app: app.bin}}
train:
  - name: dev
    deploy: >-
      echo $$ > {log}.pid; echo start $TRAINMASTER_DEPLOYMENT_ID >> {log}; sleep {sleep};
      echo end $TRAINMASTER_DEPLOYMENT_ID >> {log}
    concurrency: {mode}
"""


def _spawn(p: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "trainmaster", *args], cwd=p.root, env=p.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _setup(p: Project, mode: str, sleep: float) -> None:
    p.write("trainmaster.yaml", SLOW_CONFIG.format(log=p.root / "runs.log", sleep=sleep, mode=mode))
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")


def test_four_processes_refused_but_one(bare_project: Project) -> None:
    p = bare_project
    _setup(p, "refuse", 2)
    procs = [_spawn(p, "deploy", "1.0.0", "--to", "dev", "--force") for _ in range(4)]
    results = [(proc.wait(60), *proc.communicate()) for proc in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3, 3, 3], results
    for code, _out, err in results:
        assert "database is locked" not in err and "Traceback" not in err
        if code == 3:
            assert "dev is busy" in err
    history = p.json("history")["deployments"]
    assert [d["status"] for d in history] == ["succeeded"]


def test_four_processes_queue_with_concurrency_wait(bare_project: Project) -> None:
    p = bare_project
    _setup(p, "wait", 0.5)
    procs = [_spawn(p, "deploy", "1.0.0", "--to", "dev", "--force") for _ in range(4)]
    results = [(proc.wait(60), *proc.communicate()) for proc in procs]
    assert [code for code, _, _ in results] == [0, 0, 0, 0], results
    assert all("database is locked" not in err for _, _, err in results)
    events = [line.split() for line in (p.root / "runs.log").read_text().splitlines()]
    assert len(events) == 8
    for i in range(0, 8, 2):  # start/end pairs never interleave: one deployment at a time
        assert events[i][0] == "start" and events[i + 1][0] == "end" and events[i][1] == events[i + 1][1]
    history = p.json("history")["deployments"]
    assert [d["status"] for d in history] == ["succeeded"] * 4


def test_concurrent_writers_never_hit_a_locked_database(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", "project: demo\npackages: {app: app.bin}\ntrain: [{name: dev, deploy: 'true'}]\n")
    p.write("app.bin", "x")
    procs = [_spawn(p, "release", "create", f"1.0.{i}") for i in range(6)]
    procs += [_spawn(p, "status") for _ in range(2)]
    for proc in procs:
        code = proc.wait(60)
        _, err = proc.communicate()
        assert code == 0, err
    assert len(p.json("release", "list")["releases"]) == 6
    p.ok("audit", "verify")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_dead(pid: int, seconds: float = 20) -> bool:
    """Whether ``pid`` is gone (or a zombie) within ``seconds``: a killed process dies when it is next scheduled."""
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _alive(pid)


def _wait_for_start(p: Project) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (p.root / "runs.log").exists():
            break
        time.sleep(0.05)
    assert (p.root / "runs.log").exists(), "the deploy never started"
    return int((p.root / "runs.log.pid").read_text())


def test_a_killed_deployer_is_marked_interrupted_and_its_command_stopped(bare_project: Project) -> None:
    p = bare_project
    _setup(p, "refuse", 30)
    proc = _spawn(p, "deploy", "1.0.0", "--to", "dev")
    command = _wait_for_start(p)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert _alive(command)  # the kernel released the lock, but the deploy command runs on
    status = p.json("status")["environments"][0]
    assert status["status"] == "interrupted", status
    assert _wait_dead(command), "the orphaned deploy command is still running"
    history = json.loads(p.ok("history", "--json").stdout)["deployments"]
    assert [d["status"] for d in history] == ["interrupted"]
    p.write("trainmaster.yaml", SLOW_CONFIG.format(log=p.root / "runs.log", sleep=0, mode="refuse"))
    p.ok("deploy", "1.0.0", "--to", "dev")  # the environment is usable again
    assert "audit log intact" in p.ok("audit", "verify").stdout


def test_sigterm_cancels_the_deployment_and_stops_its_command(bare_project: Project) -> None:
    """CI cancellation sends SIGTERM: the command group is stopped and the row is recorded cancelled."""
    p = bare_project
    _setup(p, "refuse", 30)
    proc = _spawn(p, "deploy", "1.0.0", "--to", "dev")
    command = _wait_for_start(p)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(20) == 143
    assert _wait_dead(command)
    assert [d["status"] for d in p.json("history")["deployments"]] == ["cancelled"]
