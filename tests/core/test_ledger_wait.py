"""A process stopped while it holds the ledger's write lock: readers answer, writers say they wait and give up.

The holder is a real process running trainmaster's own ``SqliteLedger.transaction()`` that stops
itself (SIGSTOP) inside it, so the write lock is held for as long as the test wants. Nothing here
measures time: every wait is on a condition with a deadline, and a command that waited silently for
the old 120 s busy timeout fails on the subprocess timeout instead.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.project import Project

CONFIG = """\
project: demo
packages: {{app: app.bin}}
train:
  - name: dev
    deploy: 'true'
  - name: test
    deploy: echo $$ > {pid}; sleep 60
  - name: prod
    deploy: 'true'
    approvals: 1
"""

GATED = """\
project: demo
packages: {{app: app.bin}}
train:
  - name: dev
    deploy: echo $$ > {pid}; while [ ! -e {go} ]; do sleep 0.05; done
"""

HOLDER = """\
import os, signal, sys
from pathlib import Path
from trainmaster.ledger import SqliteLedger

ledger = SqliteLedger(Path(sys.argv[1]))
with ledger.transaction() as conn:
    conn.execute("PRAGMA user_version")
    os.kill(os.getpid(), signal.SIGSTOP)  # holds the write lock until SIGCONT
ledger.close()
"""

NOTICE = "waiting for the ledger at"


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _until(condition: object, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@contextmanager
def _stopped_writer(p: Project) -> Iterator[subprocess.Popen[bytes]]:
    """A process stopped inside ``BEGIN IMMEDIATE`` on the project's ledger; continued (and checked) after."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(p.root / ".trainmaster" / "ledger.db")],
                              cwd=p.root, env=p.env)
    try:
        _until(lambda: _state(holder.pid) == "T", "the holder never stopped inside its transaction")
        yield holder
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        assert holder.wait(30) == 0


def _killed_deployment(p: Project) -> None:
    """Deployment #2 to test, its deployer killed: ``in_progress`` with a free lock (to be reaped)."""
    pid_file = p.root / "command.pid"
    p.write("trainmaster.yaml", CONFIG.format(pid=pid_file))
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    deployer = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "test"],
                                cwd=p.root, env=p.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _until(lambda: pid_file.exists() and pid_file.read_text().strip(), "the deploy command never started")
    deployer.kill()
    deployer.wait(30)


def test_reads_answer_while_a_stopped_process_holds_the_write_lock(bare_project: Project) -> None:
    p = bare_project
    _killed_deployment(p)
    patient = {"TRAINMASTER_LEDGER_TIMEOUT": "600"}  # a command that waits for the lock times out below
    with _stopped_writer(p):
        status = p.run("status", "--json", env=patient, timeout=60)
        assert status.returncode == 0, status.stderr
        test = next(e for e in json.loads(status.stdout)["environments"] if e["name"] == "test")
        assert test["status"] == "in_progress"  # not reaped: that write would have to wait
        assert status.stderr.count("deployment #2 (test) lost its process but is still shown in_progress") == 1
        assert NOTICE not in status.stderr and "Traceback" not in status.stderr
        for args in (("history",), ("release", "list"), ("release", "show", "1.0.0"), ("audit", "verify"),
                     ("deployment", "show", "2")):
            result = p.run(*args, env=patient, timeout=60)
            assert result.returncode == 0, (args, result.stderr)
            assert NOTICE not in result.stderr and "Traceback" not in result.stderr
    status = p.run("status", "--json")
    assert status.returncode == 0 and "still shown in_progress" not in status.stderr
    history = p.json("history")["deployments"]
    assert [d["status"] for d in history] == ["succeeded", "interrupted"]
    p.ok("audit", "verify")


def test_following_a_dead_deployment_keeps_polling_while_a_writer_holds_the_lock(bare_project: Project) -> None:
    p = bare_project
    _killed_deployment(p)
    lines: queue.Queue[str] = queue.Queue()
    with _stopped_writer(p):
        follower = subprocess.Popen([sys.executable, "-m", "trainmaster", "logs", "2", "--follow"], cwd=p.root,
                                    env=dict(p.env, TRAINMASTER_LEDGER_TIMEOUT="600"), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
        assert follower.stderr is not None
        reader = threading.Thread(target=lambda: [lines.put(line) for line in follower.stderr], daemon=True)
        reader.start()
        first = lines.get(timeout=60)  # a follower blocked behind the lock would print nothing
        assert "deployment #2 (test) lost its process but is still shown in_progress" in first, first
        assert follower.poll() is None  # still following
    assert follower.wait(60) == 0  # the lock is free: its next look records #2 interrupted, and it ends
    reader.join(30)
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert "deployment #2 interrupted\n" in rest and not any("lost its process" in line for line in rest), rest
    p.ok("audit", "verify")


def test_writers_say_they_wait_then_exit_5_and_write_nothing(bare_project: Project) -> None:
    p = bare_project
    _killed_deployment(p)
    p.ok("status")  # deployment #2 recorded interrupted: nothing left to reap
    p.write("app.bin", "y")
    short = {"TRAINMASTER_LEDGER_TIMEOUT": "2"}
    ledger = p.root / ".trainmaster" / "ledger.db"
    with _stopped_writer(p) as holder:
        for args in (("release", "create", "2.0.0"), ("deploy", "1.0.0", "--to", "dev", "--force"),
                     ("approve", "1.0.0", "--env", "prod", "--by", "alice")):
            result = p.run(*args, env=short, timeout=60)
            assert result.returncode == 5, (args, result.stdout, result.stderr)
            err = result.stderr
            assert err.count(NOTICE) == 1, (args, err)
            assert f"{NOTICE} {ledger}: another trainmaster process (pid {holder.pid}, stopped) is writing to it " \
                   "(up to 2 s; TRAINMASTER_LEDGER_TIMEOUT)" in err, err
            assert f"error: the ledger at {ledger} stayed locked" in err and "nothing was written" in err, err
            assert "Traceback" not in err and "database is locked" not in err
        at_once = p.run("release", "create", "2.0.0", env={"TRAINMASTER_LEDGER_TIMEOUT": "0"}, timeout=60)
        assert at_once.returncode == 5 and NOTICE not in at_once.stderr
        assert "TRAINMASTER_LEDGER_TIMEOUT is 0 (no wait); nothing was written" in at_once.stderr, at_once.stderr
    assert [r["version"] for r in p.json("release", "list")["releases"]] == ["1.0.0"]
    assert [d["environment"] for d in p.json("history")["deployments"]] == ["dev", "test"]
    p.ok("audit", "verify")
    p.ok("release", "create", "2.0.0")  # once the writer is gone, the same commands go through
    p.ok("deploy", "1.0.0", "--to", "dev", "--force")
    p.ok("audit", "verify")


def test_a_writer_that_continues_in_time_is_waited_for(bare_project: Project) -> None:
    """The wait is a wait, not a refusal: the lock freed before the bound lets the command finish."""
    p = bare_project
    p.write("trainmaster.yaml", CONFIG.format(pid=p.root / "command.pid"))
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(p.root / ".trainmaster" / "ledger.db")],
                              cwd=p.root, env=p.env)
    _until(lambda: _state(holder.pid) == "T", "the holder never stopped inside its transaction")
    writer = subprocess.Popen([sys.executable, "-m", "trainmaster", "release", "create", "2.0.0"], cwd=p.root,
                              env=dict(p.env, TRAINMASTER_LEDGER_TIMEOUT="600"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stderr is not None
        line = writer.stderr.readline()  # the notice comes while the holder is still stopped
        assert line.startswith(f"{NOTICE} {p.root / '.trainmaster' / 'ledger.db'}"), line
        assert writer.poll() is None
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    assert holder.wait(30) == 0
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert (line + err).count(NOTICE) == 1 and "Traceback" not in err
    assert [r["version"] for r in p.json("release", "list")["releases"]] == ["1.0.0", "2.0.0"]
    p.ok("audit", "verify")


def test_a_deployment_that_cannot_record_its_outcome_says_so(bare_project: Project) -> None:
    """The deploy's command ends while another process holds the ledger: exit 5 naming the deployment and
    what it did; once the lock is free the next command records it interrupted (its process is gone)."""
    p = bare_project
    go = p.root / "go"
    p.write("trainmaster.yaml", GATED.format(pid=p.root / "command.pid", go=go))
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    deployer = subprocess.Popen([sys.executable, "-m", "trainmaster", "deploy", "1.0.0", "--to", "dev"],
                                cwd=p.root, env=dict(p.env, TRAINMASTER_LEDGER_TIMEOUT="2"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _until(lambda: (p.root / "command.pid").exists(), "the deploy command never started")
    with _stopped_writer(p):
        go.touch()  # the command ends now; recording its outcome needs the write lock
        out, err = deployer.communicate(timeout=60)
        assert deployer.returncode == 5, (out, err)
        assert err.count(NOTICE) == 1, err
        assert "error: deployment #1 succeeded but its outcome could not be recorded: the ledger at " in err, err
        assert "the next command records it interrupted" in err and "Traceback" not in err
        status = p.run("status", "--json", env={"TRAINMASTER_LEDGER_TIMEOUT": "600"}, timeout=60)
        assert status.returncode == 0 and "deployment #1 (dev) lost its process" in status.stderr
    history = p.json("history")["deployments"]
    assert [(d["id"], d["status"]) for d in history] == [(1, "interrupted")]
    p.ok("audit", "verify")


def test_a_dead_runbook_run_is_left_in_progress_too_rather_than_waited_for(bare_project: Project) -> None:
    p = bare_project
    flag = p.root / "started"
    p.write("trainmaster.yaml", f"""\
project: demo
packages: {{app: app.bin}}
train: [{{name: dev, deploy: 'true'}}]
runbooks:
  poke: {{command: "echo $$ > {flag}.tmp && mv {flag}.tmp {flag} && exec sleep 600", environments: [dev]}}
""")
    p.write("app.bin", "x")
    p.ok("release", "create", "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "dev")
    run = subprocess.Popen([sys.executable, "-m", "trainmaster", "run", "poke", "--env", "dev"], cwd=p.root,
                           env=p.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _until(lambda: flag.exists(), "the runbook command never started")
        run.kill()
        run.wait(30)
    finally:
        if flag.exists():  # a runbook run's command is nobody's to stop: the test ends it
            os.kill(int(flag.read_text()), signal.SIGKILL)
    work = p.root / ".trainmaster" / "work"
    with _stopped_writer(p):
        status = p.run("status", env={"TRAINMASTER_LEDGER_TIMEOUT": "600"}, timeout=60)
        assert status.returncode == 0, status.stderr
        assert status.stderr.count("note: runbook run #1 (dev) lost its process but is still shown in_progress") == 1
        assert [f.name.split("-")[:2] for f in work.iterdir()] == [["runbook", "1"]]  # checked once it is recorded
    p.ok("status")
    assert [r["status"] for r in p.json("runs")["runs"]] == ["interrupted"]
    assert list(work.iterdir()) == []
    p.ok("audit", "verify")


REAPER = """\
import os, signal, sys
from pathlib import Path
from trainmaster.store_guard import reaping

with reaping(Path(sys.argv[1])):  # nobody else holds it
    os.kill(os.getpid(), signal.SIGSTOP)  # "checking" dead runs' work folders until SIGCONT
"""


def test_a_stopped_process_checking_work_folders_holds_up_nobody(bare_project: Project) -> None:
    """The same for the other lock a reading command meets: the one over dead runs' work folders."""
    p = bare_project
    _killed_deployment(p)
    work = p.root / ".trainmaster" / "work"
    assert [f.name.split("-")[0] for f in work.iterdir()] == ["2"]
    reaper = subprocess.Popen([sys.executable, "-c", REAPER, str(p.root / ".trainmaster" / "locks")], cwd=p.root,
                              env=p.env)
    try:
        _until(lambda: _state(reaper.pid) == "T", "the reaper never stopped holding its lock")
        status = p.run("status", "--json", timeout=60)
        assert status.returncode == 0, status.stderr
        test = next(e for e in json.loads(status.stdout)["environments"] if e["name"] == "test")
        assert test["status"] == "interrupted"
        assert [f.name.split("-")[0] for f in work.iterdir()] == ["2"]  # left to the process checking them
    finally:
        os.kill(reaper.pid, signal.SIGCONT)
    assert reaper.wait(30) == 0
    p.ok("status")
    assert list(work.iterdir()) == []
    p.ok("audit", "verify")


def test_every_numeric_setting_is_documented() -> None:
    from trainmaster.config._values import ENV_NUMBERS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [name for name in ENV_NUMBERS if f"`{name}`" not in readme] == []
