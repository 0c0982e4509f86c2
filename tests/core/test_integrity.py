"""Integrity: a tampered store and an edited or truncated audit log are caught (exit 4)."""

from __future__ import annotations

import os
import sqlite3
import stat

from tests.support.project import Project


def _stored(project: Project, digest: str):  # type: ignore[no-untyped-def]
    hexd = digest.split(":")[1]
    return project.state / "store" / "sha256" / hexd[:2] / hexd


def test_a_tampered_artefact_stops_every_deploy_before_anything_runs(project: Project) -> None:
    rel = project.json("release", "create", "1.0.0")["release"]
    project.ok("deploy", "1.0.0", "--to", "dev")
    path = _stored(project, rel["packages"][0]["digest"])
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    path.write_text("#!/bin/sh\necho pwned\n")
    marker = project.root.parent / "servers" / "test"
    before = project.snapshot()
    # the package would be skipped in dev (unchanged), but it is verified all the same
    for args in (("deploy", "1.0.0", "--to", "dev"), ("deploy", "1.0.0", "--to", "test"),
                 ("release", "verify", "1.0.0")):
        result = project.run(*args)
        assert result.returncode == 4, args
        assert "the store was altered" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()
    assert project.snapshot() == before


def test_a_missing_artefact_is_an_integrity_error(project: Project) -> None:
    rel = project.json("release", "create", "1.0.0")["release"]
    path = _stored(project, rel["packages"][0]["digest"])
    path.unlink()
    result = project.run("deploy", "1.0.0", "--to", "dev")
    assert result.returncode == 4 and "missing from the store" in result.stderr


def _audit_db(project: Project) -> sqlite3.Connection:
    conn = sqlite3.connect(project.state / "ledger.db")
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    return conn


def _history(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.ok("deploy", "1.0.0", "--to", "test")


def test_audit_verify_reports_count_and_head(project: Project) -> None:
    _history(project)
    report = project.json("audit", "verify")
    assert report["events"] == 5 and report["head"].startswith("sha256:")
    project.ok("audit", "verify", "--expect-head", report["head"])


def test_the_audit_log_refuses_updates_through_sqlite(project: Project) -> None:
    _history(project)
    conn = sqlite3.connect(project.state / "ledger.db")
    try:
        conn.execute("UPDATE audit SET actor = 'mallory'")
        raise AssertionError("the update went through")
    except sqlite3.DatabaseError as exc:
        assert "append-only" in str(exc)


def test_an_edited_event_is_detected(project: Project) -> None:
    _history(project)
    conn = _audit_db(project)
    conn.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 2")
    conn.commit()
    result = project.run("audit", "verify")
    assert result.returncode == 4 and "event #2" in result.stderr and "edited" in result.stderr


def test_an_edited_event_with_a_recomputed_hash_breaks_the_chain(project: Project) -> None:
    from trainmaster.audit import event_hash

    _history(project)
    conn = _audit_db(project)
    seq, at, actor, kind, subject, data, prev = conn.execute(
        "SELECT seq, at, actor, kind, subject, data, prev FROM audit WHERE seq = 2").fetchone()
    forged = event_hash(seq, at, "mallory", kind, subject, data, prev)
    conn.execute("UPDATE audit SET actor = 'mallory', hash = ? WHERE seq = 2", (forged,))
    conn.commit()
    result = project.run("audit", "verify")
    assert result.returncode == 4 and "event #3" in result.stderr


def test_a_removed_event_is_detected(project: Project) -> None:
    _history(project)
    conn = _audit_db(project)
    conn.execute("DELETE FROM audit WHERE seq = 3")
    conn.commit()
    result = project.run("audit", "verify")
    assert result.returncode == 4 and "missing" in result.stderr


def test_removing_the_newest_events_is_caught_by_expect_head(project: Project) -> None:
    _history(project)
    head = project.json("audit", "verify")["head"]
    conn = _audit_db(project)
    conn.execute("DELETE FROM audit WHERE seq >= 4")
    conn.commit()
    assert project.run("audit", "verify").returncode == 4  # the newest deployment's row lost its events…
    conn.execute("DELETE FROM deployments WHERE id = 2")  # …so remove it with them
    conn.commit()
    project.ok("audit", "verify")  # the shorter chain and its rows are still internally consistent…
    result = project.run("audit", "verify", "--expect-head", head)
    assert result.returncode == 4 and "removed from the end" in result.stderr  # …but not the one recorded


def test_a_corrupt_store_is_repaired_by_creating_the_release_again(project: Project) -> None:
    rel = project.json("release", "create", "1.0.0")["release"]
    path = _stored(project, rel["packages"][0]["digest"])
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    path.write_text("corrupt")
    pinned = project.run("release", "create", "2.0.0", "--package", f"app={rel['packages'][0]['digest']}")
    assert pinned.returncode == 4  # a corrupt blob is never pinned into a new release
    assert project.run("release", "verify", "1.0.0").returncode == 4
    again = project.ok("release", "create", "1.0.0")  # same content from the build: a no-op that repairs
    assert "nothing to do" in again.stdout
    project.ok("release", "verify", "1.0.0")
    assert not path.stat().st_mode & stat.S_IWUSR
