"""Attacks on the ledger with plain sqlite: every row a decision reads is bound to the audit chain.

Each attack edits, inserts or removes rows behind trainmaster's back (the smart
variants also recompute the row's own ``row_hash``); the decisions that read
those rows and ``audit verify`` must then exit 4 naming the row, and change nothing.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.support.project import BASIC_CONFIG, DEPLOY_SH, SMOKE_SH, Project, base_env
from trainmaster.audit import BOUND_TABLES, event_hash, row_hash

FAILING_DEPLOY = """\
set -eu
if [ -e "$DEST/fail-$TRAINMASTER_ENVIRONMENT" ]; then echo "deploy failed"; exit 1; fi
mkdir -p "$DEST/$TRAINMASTER_ENVIRONMENT"
cp "$TRAINMASTER_PACKAGE_APP" "$DEST/$TRAINMASTER_ENVIRONMENT/app.bin"
"""


def _train(project: Project) -> None:
    """1.0.0 passes dev and test; 1.1.0 passes dev, then fails in test, and is approved for prod."""
    config = (project.root / "trainmaster.yaml").read_text()
    project.write("trainmaster.yaml", config.replace("on_failure: rollback", "on_failure: stop"))
    project.write("deploy.sh", FAILING_DEPLOY)
    servers = project.root.parent / "servers"
    servers.mkdir(exist_ok=True)
    project.ok("release", "create", "1.0.0")
    project.ok("deploy", "1.0.0", "--to", "dev")
    project.ok("deploy", "1.0.0", "--to", "test")
    project.build("healthy again")
    project.ok("release", "create", "1.1.0")
    project.ok("deploy", "1.1.0", "--to", "dev")
    (servers / "fail-test").write_text("")
    assert project.run("deploy", "1.1.0", "--to", "test").returncode == 1
    (servers / "fail-test").unlink()
    project.ok("approve", "1.1.0", "--env", "prod", "--by", "bob")
    assert project.run("approve", "1.0.0", "--env", "prod").returncode == 3  # by its creator: recorded, not counted


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bool], Project]:
    """The trained project (unkeyed or keyed), built once per module."""
    built: dict[bool, Project] = {}

    def make(keyed: bool) -> Project:
        if keyed not in built:
            base = tmp_path_factory.mktemp("keyed" if keyed else "plain")
            proj = Project(base / "proj", base_env(base))
            proj.root.mkdir()
            for name, text in (("trainmaster.yaml", BASIC_CONFIG), ("deploy.sh", DEPLOY_SH), ("smoke.sh", SMOKE_SH)):
                proj.write(name, text)
            proj.build()
            if keyed:
                _keyed(proj)
            _train(proj)
            built[keyed] = proj
        return built[keyed]

    return make


def _trained(project: Project, templates: Callable[[bool], Project], keyed: bool = False) -> None:
    """``project`` as the trained template left it (its files, ledger, store and servers)."""
    template = templates(keyed)
    shutil.copytree(template.root, project.root, dirs_exist_ok=True)
    shutil.copytree(template.root.parent / "servers", project.root.parent / "servers", dirs_exist_ok=True)
    project.env.update({k: v for k, v in template.env.items() if k == "AUDIT_KEY"})


def _db(project: Project) -> sqlite3.Connection:
    return sqlite3.connect(project.state / "ledger.db")


def _row(conn: sqlite3.Connection, table: str, where: str) -> dict[str, object]:
    columns = BOUND_TABLES[table][0]
    values = conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where}").fetchone()
    return dict(zip(columns, values, strict=True))


def _rehash(conn: sqlite3.Connection, table: str, where: str) -> None:
    """The smart attacker keeps the row's own hash column consistent."""
    conn.execute(f"UPDATE {table} SET row_hash = ? WHERE {where}", (row_hash(table, _row(conn, table, where)),))


def _failed_test_deployment(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT id FROM deployments WHERE environment = 'test' AND status = 'failed'")
               .fetchone()[0])


def status_failed_to_succeeded(conn: sqlite3.Connection, smart: bool) -> str:
    dep = _failed_test_deployment(conn)
    conn.execute("UPDATE deployments SET status = 'succeeded', packages = '{\"app\": \"deployed\"}' WHERE id = ?",
                 (dep,))
    if smart:
        _rehash(conn, "deployments", f"id = {dep}")
    return f"deployments #{dep}"


def forged_approval(conn: sqlite3.Connection, smart: bool) -> str:
    """The creator's own approval (which does not count) edited to count."""
    approval = conn.execute("SELECT id FROM approvals WHERE actor != 'bob'").fetchone()[0]
    conn.execute("UPDATE approvals SET counts = 1, actor = 'bob' WHERE id = ?", (approval,))
    if smart:
        _rehash(conn, "approvals", f"id = {approval}")
    return f"approvals #{approval}"


def inserted_approval(conn: sqlite3.Connection, smart: bool) -> str:
    release = conn.execute("SELECT id FROM releases WHERE version = '1.0.0'").fetchone()[0]
    cur = conn.execute("INSERT INTO approvals (release_id, environment, actor, at, comment, counts) "
                       "VALUES (?, 'prod', 'mallory', '2030-01-01T00:00:00.000Z', '', 1)", (release,))
    if smart:
        _rehash(conn, "approvals", f"id = {cur.lastrowid}")
    return f"approvals #{cur.lastrowid}"


def deleted_deployment(conn: sqlite3.Connection, smart: bool) -> str:
    """The failure of 1.1.0 in test is removed: test seems to run 1.0.0, and 1.1.0 never to have been tried."""
    dep = _failed_test_deployment(conn)
    conn.execute("DELETE FROM deployments WHERE id = ?", (dep,))
    return f"deployments #{dep}"


def edited_release(conn: sqlite3.Connection, smart: bool) -> str:
    """A record that stays valid: only who created 1.0.0 changes (the creator's own approval would count)."""
    release, record = conn.execute("SELECT id, record FROM releases WHERE version = '1.0.0'").fetchone()
    data = json.loads(record)
    data["metadata"]["created_by"] = "someone-else"
    conn.execute("UPDATE releases SET record = ?, created_by = 'someone-else' WHERE id = ?",
                 (json.dumps(data, sort_keys=True), release))
    if smart:
        _rehash(conn, "releases", f"id = '{release}'")
    return f"releases {release}"


@dataclass(frozen=True)
class Attack:
    name: str
    tamper: Callable[[sqlite3.Connection, bool], str]
    refused: tuple[tuple[str, ...], ...]  # commands that must exit 4 (and did not, before the fix)


ATTACKS = [
    Attack("deployment status edited failed -> succeeded", status_failed_to_succeeded,
           (("deploy", "1.1.0", "--to", "prod"), ("promote", "--from", "test", "--to", "prod"), ("status",))),
    Attack("forged approvals row", forged_approval, (("deploy", "1.0.0", "--to", "prod"), ("status",))),
    Attack("inserted approvals row", inserted_approval, (("deploy", "1.0.0", "--to", "prod"), ("status",))),
    Attack("deleted deployment row", deleted_deployment,
           (("status",), ("rollback", "--env", "test"))),
    Attack("edited release row", edited_release,
           (("deploy", "1.0.0", "--to", "prod"), ("status",), ("rollback", "--env", "test", "--to", "1.0.0"))),
]


@pytest.mark.parametrize("smart", [False, True], ids=["naive", "row-hash-recomputed"])
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_a_row_edited_behind_trainmasters_back_stops_every_decision(
        project: Project, templates: Callable[[bool], Project], attack: Attack, smart: bool) -> None:
    _trained(project, templates)
    project.ok("audit", "verify")
    conn = _db(project)
    what = attack.tamper(conn, smart)
    conn.commit()
    conn.close()
    before = project.snapshot()
    for args in attack.refused:
        result = project.run(*args)
        assert result.returncode == 4, (args, result.stdout, result.stderr)
        assert what in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    assert project.snapshot() == before
    assert not (project.root.parent / "servers" / "prod").exists()
    result = project.run("audit", "verify")
    assert result.returncode == 4 and what in result.stderr, result.stderr


def test_an_edited_publications_row_is_caught(project: Project) -> None:
    from trainmaster.ledger import SqliteLedger

    project.ok("release", "create", "1.0.0")
    ledger = SqliteLedger(project.state / "ledger.db")
    release = ledger.get_release("demo", "1.0.0")
    assert release is not None
    ledger.record_publications(release.id, "ci", [("github", "created", "https://example.test/r/1", {"id": 1})])
    ledger.close()
    project.ok("release", "show", "1.0.0")
    project.ok("audit", "verify")
    conn = _db(project)
    conn.execute("UPDATE publications SET url = 'https://evil.test/r/1'")
    _rehash(conn, "publications", "system = 'github'")
    conn.commit()
    conn.close()
    for args in (("release", "show", "1.0.0"), ("audit", "verify")):
        result = project.run(*args)
        assert result.returncode == 4 and f"publications {release.id}/github" in result.stderr, result.stderr


KEYED = "audit:\n  key: {secret: env:AUDIT_KEY}\n"


def _keyed(project: Project) -> None:
    project.env["AUDIT_KEY"] = "k3y-Sentinel-9x"
    config = (project.root / "trainmaster.yaml").read_text()
    project.write("trainmaster.yaml", config + KEYED)


def _rewrite_chain(conn: sqlite3.Connection, key: bytes | None = None) -> None:
    """Recompute every event hash in order (plain sha256 without a key), as an attacker would."""
    prev = "sha256:" + "0" * 64
    for seq, at, actor, kind, subject, data in conn.execute(
            "SELECT seq, at, actor, kind, subject, data FROM audit ORDER BY seq").fetchall():
        digest = event_hash(seq, at, actor, kind, subject, data, prev, key)
        conn.execute("UPDATE audit SET prev = ?, hash = ? WHERE seq = ?", (prev, digest, seq))
        prev = digest


def _append_forged_event(conn: sqlite3.Connection, table: str, key: object, subject: str) -> None:
    columns = BOUND_TABLES[table][0]
    values = conn.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = ?", (key,)).fetchone()
    digest = row_hash(table, dict(zip(columns, values, strict=True)))
    seq = conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0] + 1
    data = json.dumps({"row": {"table": table, "key": key, "hash": digest}}, sort_keys=True, separators=(",", ":"))
    conn.execute("INSERT INTO audit (seq, at, actor, kind, subject, data, prev, hash, tbl, row_key) "
                 "VALUES (?, '2030-01-01T00:00:00.000Z', 'bob', 'approval_recorded', ?, ?, '', '', ?, ?)",
                 (seq, subject, data, table, key))


@pytest.mark.parametrize("strip_marker", [False, True], ids=["marker-kept", "marker-and-meta-removed"])
def test_rewriting_the_whole_chain_without_the_key_is_caught(
        project: Project, templates: Callable[[bool], Project], strip_marker: bool) -> None:
    _trained(project, templates, keyed=True)
    assert "keyed (HMAC-SHA256) from event #1" in project.ok("audit", "verify").stdout
    conn = _db(project)
    approval = conn.execute("SELECT id FROM approvals WHERE actor != 'bob'").fetchone()[0]
    forged_approval(conn, True)
    _append_forged_event(conn, "approvals", approval, "prod")
    conn.execute("DROP TRIGGER audit_no_update")
    if strip_marker:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit_meta")
        conn.execute("DELETE FROM audit WHERE kind = 'audit_keyed'")
        conn.execute("UPDATE audit SET seq = seq - 1")
    _rewrite_chain(conn)
    conn.commit()
    conn.close()
    for args in (("audit", "verify"), ("deploy", "1.0.0", "--to", "prod"), ("status",)):
        result = project.run(*args)
        assert result.returncode == 4, (args, result.stderr)
        assert ("key" in result.stderr or "approvals #" in result.stderr) and "k3y-Sentinel" not in result.stderr
    # without the key the same rewrite would pass: that is what the key is for
    config = (project.root / "trainmaster.yaml").read_text().replace(KEYED, "")
    project.write("trainmaster.yaml", config)
    if strip_marker:
        project.ok("audit", "verify")


def test_a_missing_audit_key_is_an_input_error_and_keying_is_reported(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    assert "not keyed" in project.ok("audit", "verify").stdout
    _keyed(project)
    result = project.run("deploy", "1.0.0", "--to", "dev")  # the existing log must be keyed first
    assert result.returncode == 4 and "trainmaster audit key" in result.stderr
    project.ok("audit", "key")
    project.ok("deploy", "1.0.0", "--to", "dev")
    report = project.json("audit", "verify")
    assert report["keyed_from"] == 2 and report["rows"] == 2
    missing = project.run("audit", "verify", env={"AUDIT_KEY": ""})
    assert missing.returncode == 2 and "AUDIT_KEY" in missing.stderr
    wrong = project.run("audit", "verify", env={"AUDIT_KEY": "another-key"})
    assert wrong.returncode == 4 and "key" in wrong.stderr


def _old_ledger(project: Project) -> None:
    """A ledger as the previous version wrote it: schema 3, events without row bindings."""
    from trainmaster._ledger_schema import MIGRATIONS, _split_sql

    project.state.mkdir(parents=True)
    conn = sqlite3.connect(project.state / "ledger.db")
    for script in MIGRATIONS[:3]:
        assert isinstance(script, str)
        for statement in _split_sql(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    record = {"project": "demo", "version": "1.0.0", "packages": [], "metadata": {"created_by": "ci"}}
    conn.execute("INSERT INTO releases VALUES ('sha256:r1', 'demo', '1.0.0', '2024-01-01T00:00:00Z', 'ci', ?)",
                 (json.dumps(record),))
    conn.execute("INSERT INTO deployments (release_id, version, environment, kind, status, actor, started_at) "
                 "VALUES ('sha256:r1', '1.0.0', 'dev', 'deploy', 'failed', 'ci', '2024-01-01T00:01:00Z')")
    prev = "sha256:" + "0" * 64
    for seq, kind, subject in ((1, "release_created", "demo@1.0.0"), (2, "deployment_started", "dev")):
        digest = event_hash(seq, "2024-01-01T00:00:00Z", "ci", kind, subject, "{}", prev)
        conn.execute("INSERT INTO audit VALUES (?, '2024-01-01T00:00:00Z', 'ci', ?, ?, '{}', ?, ?)",
                     (seq, kind, subject, prev, digest))
        prev = digest
    conn.commit()
    conn.close()


def test_an_older_ledger_is_migrated_and_bound(project: Project) -> None:
    _old_ledger(project)
    report = project.json("audit", "verify")
    assert report == dict(report, events=4, rows=2, keyed_from=None)  # one row_bound event per row
    conn = _db(project)
    conn.execute("UPDATE deployments SET status = 'succeeded'")
    conn.commit()
    conn.close()
    result = project.run("audit", "verify")
    assert result.returncode == 4 and "deployments #1" in result.stderr


# -- row hashing -----------------------------------------------------------------------------


def _deployment(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {c: f"v-{c}" for c in BOUND_TABLES["deployments"][0]}
    row.update(id=7, finished_at=None)
    row.update(changes)
    return row


def test_the_row_hash_covers_every_bound_column_and_the_table() -> None:
    base = row_hash("deployments", _deployment())
    assert base.startswith("sha256:") and base == row_hash("deployments", dict(reversed(_deployment().items())))
    for column in BOUND_TABLES["deployments"][0]:
        assert row_hash("deployments", _deployment(**{column: "other"})) != base, column
    assert row_hash("deployments", _deployment(extra="ignored")) == base  # only the bound columns
    approval = {"id": 7, "release_id": "r", "environment": "prod", "actor": "bob", "at": "t", "comment": "",
                "counts": 1}
    assert row_hash("approvals", approval) != row_hash("approvals", dict(approval, counts=0))
    assert row_hash("approvals", approval) != row_hash("deployments", _deployment())


def test_the_event_hash_is_keyed_with_a_key() -> None:
    args = (1, "t", "ci", "k", "s", "{}", "sha256:" + "0" * 64)
    plain, keyed = event_hash(*args), event_hash(*args, b"key")
    assert plain.startswith("sha256:") and keyed.startswith("hmac-sha256:")
    assert keyed != event_hash(*args, b"other") and keyed[len("hmac-"):] != plain
