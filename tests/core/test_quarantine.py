"""Quarantine after ``kill -9``, and ``gc``'s policy for quarantined copies.

A deployment killed after its commands changed a blob through its read-only link never re-hashed it:
the next command that finds the deployment dead re-hashes before it removes the work folder, and
quarantines the changed blob under the dead deployment's name. ``gc`` removes a quarantined copy once
no kept release needs its digest, or once the digest is back intact in the store and the copy is a
week old; the rest stay, and anything in the folder that is not a quarantined copy is left alone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.project import DEPLOY_SH, Project

CHANGE = 'chmod u+w "$TRAINMASTER_PACKAGE_APP" && echo x >> "$TRAINMASTER_PACKAGE_APP"'
COMMANDS = {
    "changed": CHANGE,
    # read-only again and under another name: only the same inode in the folder gives it away
    "changed and hidden": f'{CHANGE} && chmod 444 "$TRAINMASTER_PACKAGE_APP" && '
                          'mv "$TRAINMASTER_PACKAGE_APP" "$(dirname "$TRAINMASTER_PACKAGE_APP")/renamed"',
    "made writable only": 'chmod u+w "$TRAINMASTER_PACKAGE_APP"',
    # read-only again and moved out of the work folder: only the blob's second link gives it away
    "changed and moved out": f'{CHANGE} && chmod 444 "$TRAINMASTER_PACKAGE_APP" && '
                             'mv "$TRAINMASTER_PACKAGE_APP" "$(dirname "$TRAINMASTER_PACKAGE_APP")/../../../installed"',
}


def _stored(project: Project, digest: str) -> Path:
    hexd = digest.split(":")[1]
    return project.state / "store" / "sha256" / hexd[:2] / hexd


def _killed(project: Project, command: str, *args: str) -> None:
    """``trainmaster ARGS``, whose command runs ``sh blocks.sh``: ``command``, then block; killed with SIGKILL then."""
    flag = project.root / "started"
    project.write("blocks.sh", f"set -eu\n{command}\necho $$ > {flag}.tmp && mv {flag}.tmp {flag}\n"
                           "exec sleep 600\n")
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", *args], cwd=project.root, env=project.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not flag.exists():
            assert proc.poll() is None, "trainmaster ended before its command blocked"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if flag.exists():  # the command outlives trainmaster's kill -9 (a runbook run's is nobody's to stop)
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(flag.read_text()), signal.SIGKILL)


@pytest.mark.parametrize("what", list(COMMANDS))
def test_the_next_command_quarantines_what_a_killed_deployment_changed(project: Project, what: str) -> None:
    project.env["TRAINMASTER_REFLINK"] = "0"
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    stored = _stored(project, digest)
    project.write("deploy.sh", f"sh {project.root / 'blocks.sh'}\n")
    _killed(project, COMMANDS[what], "deploy", "1.0.0", "--to", "dev")
    quarantine = project.state / "store" / "quarantine"
    kept = quarantine / f"{digest.split(':')[1]}.deployment-1"

    status = project.ok("status")
    assert list((project.state / "work").iterdir()) == []  # the work folder is gone either way
    assert "Traceback" not in status.stderr
    if what == "made writable only":  # intact: nothing to say, the blob stays, read-only again
        assert "warning" not in status.stderr and not quarantine.exists()
        assert stored.is_file() and not stored.stat().st_mode & stat.S_IWUSR
        project.ok("release", "verify", "1.0.0")
        return
    (line,) = [line for line in status.stderr.splitlines() if "interrupted deployment" in line]
    assert line.startswith("warning: interrupted deployment #1 of 1.0.0 to dev: the commands changed the stored "
                           f"blob of package 'app' ({digest})") and str(kept) in line
    assert [p.name for p in quarantine.iterdir()] == [kept.name] and kept.read_text().endswith("x\n")
    assert not stored.exists()
    assert "interrupted deployment" not in project.ok("status").stderr  # said once

    project.write("deploy.sh", DEPLOY_SH)
    refused = project.run("deploy", "1.0.0", "--to", "dev")  # blames the dead deployment, not this one
    assert refused.returncode == 4 and f"quarantined at {kept}" in refused.stderr, refused.stderr
    restored = project.ok("release", "create", "1.0.0")
    assert f"restored package 'app' ({digest})" in restored.stdout
    project.ok("deploy", "1.0.0", "--to", "dev")
    assert kept.is_file()


def test_a_killed_runbook_run_is_recorded_interrupted_and_what_it_changed_quarantined(project: Project) -> None:
    project.env["TRAINMASTER_REFLINK"] = "0"
    project.write("trainmaster.yaml", (project.root / "trainmaster.yaml").read_text() + f"""\
runbooks:
  poke: {{command: "sh {project.root / 'blocks.sh'}", environments: [dev]}}
""")
    digest = project.json("release", "create", "1.0.0")["release"]["packages"][0]["digest"]
    project.ok("deploy", "1.0.0", "--to", "dev")
    _killed(project, CHANGE, "run", "poke", "--env", "dev")
    kept = project.state / "store" / "quarantine" / f"{digest.split(':')[1]}.runbook-1"

    status = project.ok("status")
    (line,) = [line for line in status.stderr.splitlines() if "interrupted runbook run" in line]
    assert line.startswith("warning: interrupted runbook run #1 (poke) in dev: the commands changed the stored "
                           f"blob of package 'app' ({digest})") and str(kept) in line
    assert kept.read_text().endswith("x\n") and not _stored(project, digest).exists()
    assert list((project.state / "work").iterdir()) == []
    assert [r["status"] for r in project.json("runs")["runs"]] == ["interrupted"]
    project.ok("audit", "verify")


CONFIG = 'project: demo\npackages: {app: app.bin}\nretention: {keep: 2}\ntrain: [{name: dev, deploy: "true"}]\n'


def _release(p: Project, version: str) -> str:
    p.write("app.bin", f"content of {version}\n")
    return str(p.json("release", "create", version)["release"]["packages"][0]["digest"])


def _audit(p: Project, kind: str) -> list[dict]:  # type: ignore[type-arg]
    conn = sqlite3.connect(p.state / "ledger.db")
    try:
        return [dict(json.loads(r[1]), subject=r[0])
                for r in conn.execute("SELECT subject, data FROM audit WHERE kind = ? ORDER BY seq", (kind,))]
    finally:
        conn.close()


def _gc_in_process(p: Project, days_later: float) -> dict:  # type: ignore[type-arg]
    """``gc --dry-run --json`` as the policy sees it ``days_later`` days from now (the app's clock)."""
    from trainmaster.app import App
    from trainmaster.retention import plan_gc

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_later)
    app = App(str(p.root / "trainmaster.yaml"), p.env, clock=lambda: later)
    try:
        return plan_gc(app).to_json()
    finally:
        app.ledger.close()


def test_gc_removes_a_quarantined_copy_only_as_its_policy_says(bare_project: Project, tmp_path: Path) -> None:
    p = bare_project
    p.write("trainmaster.yaml", CONFIG)
    old, restored, missing = (_release(p, v) for v in ("1.0.0", "1.1.0", "1.2.0"))
    quarantine = p.state / "store" / "quarantine"
    quarantine.mkdir()
    copies = {}
    for digest, label in ((old, "deployment-1"), (restored, "deployment-2"), (missing, "runbook-3")):
        stored = _stored(p, digest)
        copies[digest] = quarantine / f"{digest.split(':')[1]}.{label}"
        copies[digest].write_bytes(stored.read_bytes() + b"changed\n")
    _stored(p, missing).unlink()  # 1.2.0's blob is still quarantined: its copy says why it is missing
    outside = tmp_path / "outside"
    outside.write_text("not trainmaster's\n")
    os.symlink(outside, quarantine / f"{'0' * 64}.deployment-9")  # names there are data
    (quarantine / "notes.txt").write_text("an operator's note\n")

    before = p.snapshot()
    listing = sorted(quarantine.iterdir())
    dry = p.ok("gc", "--dry-run")
    assert f"would remove quarantined copy {copies[old].name}" in dry.stdout
    assert f"kept quarantined copy {copies[restored].name}" in dry.stdout
    assert f"kept quarantined copy {copies[missing].name}" in dry.stdout
    assert "warning: skipped 'notes.txt'" in dry.stderr and f"'{'0' * 64}.deployment-9'" in dry.stderr
    assert p.snapshot() == before and sorted(quarantine.iterdir()) == listing  # a dry run changes nothing

    later = {q["file"]: q["action"] for q in _gc_in_process(p, 8)["quarantine"]}  # a week on, restored goes too
    assert later == {copies[old].name: "remove", copies[restored].name: "remove", copies[missing].name: "keep"}

    report = json.loads(p.ok("gc", "--json").stdout)
    assert [r["version"] for r in report["releases"]] == ["1.0.0"]
    actions = {q["file"]: (q["action"], q["digest"]) for q in report["quarantine"]}
    assert actions == {copies[old].name: ("remove", old), copies[restored].name: ("keep", restored),
                       copies[missing].name: ("keep", missing)}
    assert report["bytes"] == len("content of 1.0.0\n") * 2 + len("changed\n")
    assert not copies[old].exists() and copies[restored].exists() and copies[missing].exists()
    assert outside.read_text() == "not trainmaster's\n" and (quarantine / "notes.txt").exists()
    (event,) = _audit(p, "quarantine_removed")
    assert event["subject"] == f"quarantine/{copies[old].name}" and event["digest"] == old
    assert event["bytes"] == len("content of 1.0.0\nchanged\n") and "no kept release needs" in event["why"]
    assert event["sha256"] == "sha256:" + hashlib.sha256(b"content of 1.0.0\nchanged\n").hexdigest()
    p.ok("audit", "verify")


def test_gc_never_follows_a_quarantine_folder_that_is_a_link(bare_project: Project, tmp_path: Path) -> None:
    p = bare_project
    p.write("trainmaster.yaml", CONFIG)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        _release(p, version)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bait = elsewhere / f"{'a' * 64}.deployment-1"  # the shape of a copy no release needs
    bait.write_text("someone else's\n")
    os.symlink(elsewhere, p.state / "store" / "quarantine")
    result = p.run("gc", "--json")
    assert result.returncode == 0 and "is not a folder (a symbolic link?)" in result.stderr
    assert json.loads(result.stdout)["quarantine"] == [] and bait.read_text() == "someone else's\n"
    assert _audit(p, "quarantine_removed") == []
