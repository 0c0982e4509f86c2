"""The ledger's schema: its migrations, applied in order by :class:`trainmaster.ledger.SqliteLedger`.

A migration is a SQL script or a function of the open connection (run inside the
migrating transaction). The schema version is ``PRAGMA user_version``: the number of
migrations applied. Append new ones; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from trainmaster.audit import bind_existing


def _bind_rows(conn: sqlite3.Connection) -> None:
    """Migration: bind every row to the audit chain (row hashes, indexed event columns, key record)."""
    for table in ("releases", "deployments", "approvals", "publications"):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN row_hash TEXT")
    for statement in (
        "ALTER TABLE audit ADD COLUMN tbl TEXT",  # ADD COLUMN fires no UPDATE trigger
        "ALTER TABLE audit ADD COLUMN row_key",  # no type: integer ids stay integers
        "CREATE INDEX audit_by_row ON audit (tbl, row_key, seq)",
        "CREATE INDEX audit_by_subject ON audit (tbl, subject, row_key)",
        "CREATE TABLE audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ):
        conn.execute(statement)
    # one row_bound event per existing row, so that older ledgers verify
    bind_existing(conn, ("releases", "deployments", "approvals", "publications"))


MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    # 1: the initial schema
    """
    CREATE TABLE releases (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        version TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (project, version)
    );
    CREATE TABLE deployments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        release_id TEXT NOT NULL REFERENCES releases(id),
        version TEXT NOT NULL,
        environment TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        actor TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        packages TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT '{}',
        remote TEXT NOT NULL DEFAULT '{}',
        excerpt TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX deployments_by_environment ON deployments (environment, id);
    CREATE INDEX deployments_by_release ON deployments (release_id, environment, status);
    CREATE INDEX deployments_in_progress ON deployments (status) WHERE status = 'in_progress';
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        release_id TEXT NOT NULL REFERENCES releases(id),
        environment TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        counts INTEGER NOT NULL,
        UNIQUE (release_id, environment, actor)
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        data TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: where each release was mirrored (publishers' remote references, wrapper digests)
    """
    CREATE TABLE publications (
        release_id TEXT NOT NULL REFERENCES releases(id),
        system TEXT NOT NULL,
        state TEXT NOT NULL,
        url TEXT,
        remote TEXT NOT NULL DEFAULT '{}',
        at TEXT NOT NULL,
        PRIMARY KEY (release_id, system)
    );
    """,
    # 3: the newest releases of a project without sorting them all (status)
    """
    CREATE INDEX releases_by_project_created ON releases (project, created_at);
    """,
    # 4: a release record names no command (commands come from the config); older records did
    """
    UPDATE releases SET record = json_set(record, '$.packages',
        (SELECT json_group_array(json_remove(value, '$.deploy', '$.smoke'))
         FROM json_each(releases.record, '$.packages')))
    WHERE record LIKE '%"deploy"%' OR record LIKE '%"smoke"%';
    """,
    # 5: the operator's view: the masked log's blob, the gates met, the outcome's reason; audit by kind
    """
    ALTER TABLE deployments ADD COLUMN log TEXT NOT NULL DEFAULT '';
    ALTER TABLE deployments ADD COLUMN gates TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE deployments ADD COLUMN reason TEXT NOT NULL DEFAULT '';
    CREATE INDEX audit_by_kind ON audit (kind, seq);
    """,
    # 6: every row bound to the audit chain (see trainmaster.audit)
    _bind_rows,
    # 7: approval rounds (re-approvals, rejections, revocations) and deleted releases (trainmaster.rounds),
    # their rows bound to the audit chain like every other
    """
    CREATE TABLE approval_events (id INTEGER PRIMARY KEY AUTOINCREMENT,
        release_id TEXT NOT NULL REFERENCES releases(id), environment TEXT NOT NULL, actor TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('approved', 'rejected', 'revoked')), at TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '', after_approval INTEGER NOT NULL, row_hash TEXT);
    CREATE INDEX approval_events_by_release ON approval_events (release_id, environment, id);
    CREATE TABLE release_tombstones (release_id TEXT PRIMARY KEY REFERENCES releases(id),
        at TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL, row_hash TEXT);
    """,
    # 8: the release duties: runbook runs and their approvals, quality-gate samples, sign-offs,
    # performance verifications (see trainmaster.duty_records); every row bound like the others
    """
    CREATE TABLE runbook_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        runbook TEXT NOT NULL,
        release_id TEXT NOT NULL REFERENCES releases(id),
        version TEXT NOT NULL,
        environment TEXT NOT NULL,
        deployment_id INTEGER,
        actor TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        excerpt TEXT NOT NULL DEFAULT '',
        row_hash TEXT
    );
    CREATE INDEX runbook_runs_by_environment ON runbook_runs (environment, id);
    CREATE TABLE runbook_approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        runbook TEXT NOT NULL,
        release_id TEXT NOT NULL REFERENCES releases(id),
        environment TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        counts INTEGER NOT NULL,
        row_hash TEXT,
        UNIQUE (runbook, release_id, environment, actor)
    );
    CREATE TABLE gate_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        release_id TEXT NOT NULL REFERENCES releases(id),
        version TEXT NOT NULL,
        environment TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        passed INTEGER NOT NULL,
        results TEXT NOT NULL,
        row_hash TEXT
    );
    CREATE INDEX gate_samples_by_release ON gate_samples (release_id, environment, id);
    CREATE TABLE signoffs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        release_id TEXT NOT NULL REFERENCES releases(id),
        version TEXT NOT NULL,
        environment TEXT NOT NULL,
        actor TEXT NOT NULL,
        at TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        counts INTEGER NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT,
        row_hash TEXT
    );
    CREATE INDEX signoffs_by_release ON signoffs (release_id, environment);
    CREATE TABLE verifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment_id INTEGER NOT NULL,
        release_id TEXT NOT NULL REFERENCES releases(id),
        version TEXT NOT NULL,
        environment TEXT NOT NULL,
        at TEXT NOT NULL,
        passed INTEGER NOT NULL,
        metrics TEXT NOT NULL,
        results TEXT NOT NULL,
        row_hash TEXT
    );
    CREATE INDEX verifications_by_environment ON verifications (environment, release_id, id);
    """,
    # 9: deployment strategies: each step of a rollout (an instance deployed, a slot switched,
    # traffic routed), bound to the audit chain like every row (see trainmaster.rollout_log)
    """
    CREATE TABLE rollout_steps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment_id INTEGER NOT NULL REFERENCES deployments(id),
        environment TEXT NOT NULL,
        strategy TEXT NOT NULL,
        action TEXT NOT NULL,
        instance TEXT NOT NULL DEFAULT '',
        slot TEXT NOT NULL DEFAULT '',
        batch INTEGER NOT NULL DEFAULT 0,
        weight INTEGER,
        release_id TEXT NOT NULL,
        version TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        row_hash TEXT
    );
    CREATE INDEX rollout_steps_by_environment ON rollout_steps (environment, action, instance, slot, id);
    CREATE INDEX rollout_steps_by_deployment ON rollout_steps (deployment_id, id);
    """,
)


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            statements.append(joined)
            current = []
    if "".join(current).strip():
        statements.append("\n".join(current))
    return statements
