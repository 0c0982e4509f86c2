"""``trainmaster cancel N`` stops a deployment running in another process (a real, slow deploy command)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.project import Project

SLOW = """\
project: demo
packages: {app: app.bin}
train:
  - name: dev
    deploy: sh deploy.sh
    on_failure: rollback
"""

DEPLOY = """\
echo "$TRAINMASTER_VERSION" >> deployed.txt
if [ "$TRAINMASTER_VERSION" = 2.0.0 ]; then
  echo $$ > started
  while :; do sleep 0.1; done
fi
"""


def _wait_for(condition, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_cancel_stops_a_running_deployment_which_records_it_and_rolls_back(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", SLOW)
    p.write("deploy.sh", DEPLOY)
    p.write("app.bin", "one")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    p.write("app.bin", "two")
    p.ok("release", "create", "2.0.0")
    deployer = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "2.0.0", "--to", "dev"],
                                cwd=p.root, env=p.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = p.root / "started"
        _wait_for(started.exists, "the slow deploy command to start")
        _wait_for(lambda: started.read_text().strip() != "", "its pid")
        command_pid = int(started.read_text())
        cancelled = p.ok("cancel", "2", "--by", "ops")
        assert "cancelled deployment #2 of 2.0.0 in dev" in cancelled.stdout
        out, err = deployer.communicate(timeout=60)
    finally:
        if deployer.poll() is None:
            deployer.kill()
            deployer.wait()
    assert deployer.returncode == 1, err
    assert "cancelled" in err and "rolled back to 1.0.0" in err
    history = {d["id"]: d for d in json.loads(p.ok("history", "--json").stdout)["deployments"]}
    assert history[2]["status"] == "cancelled"
    assert history[3]["kind"] == "rollback" and history[3]["status"] == "succeeded"
    assert (p.root / "deployed.txt").read_text().split() == ["1.0.0", "2.0.0", "1.0.0"]
    _wait_for(lambda: not _alive(command_pid), "the cancelled command's process to be gone")
    conn = __import__("sqlite3").connect(p.state / "ledger.db")
    kinds = [r[0] for r in conn.execute("SELECT kind || ':' || actor FROM audit ORDER BY seq")]
    conn.close()
    assert "deployment_cancel_requested:ops" in kinds
    again = p.run("cancel", "2")
    assert again.returncode == 2 and "not running: it is cancelled" in again.stderr


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cancel_of_a_deployment_that_is_not_running(bare_project: Project) -> None:
    p = bare_project
    p.write("trainmaster.yaml", SLOW)
    p.write("deploy.sh", DEPLOY)
    p.write("app.bin", "one")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    before = p.snapshot()
    finished = p.run("cancel", "1")
    assert finished.returncode == 2 and "deployment #1 is not running: it is succeeded" in finished.stderr
    unknown = p.run("cancel", "7")
    assert unknown.returncode == 2 and "no deployment #7" in unknown.stderr
    assert p.snapshot() == before
