"""The built-in SQLite ledger: releases, deployments, approvals and the audit log.

* WAL mode, a busy timeout, and ``BEGIN IMMEDIATE`` for every change, so that
  concurrent ``trainmaster`` processes serialise their writes instead of
  failing with "database is locked".
* One transaction per change; the audit event of a change is written in the
  same transaction, so the log and the state cannot disagree.
* Versioned migrations keyed on ``PRAGMA user_version``.
* The audit log is append-only and hash-chained: each event carries the hash of
  the one before it (see :mod:`trainmaster.audit`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trainmaster.audit import GENESIS, event_hash
from trainmaster.interfaces import Approval, Deployment, DeploymentStatus
from trainmaster.model import Release, parse_time, timestamp

MIGRATIONS: tuple[str, ...] = (
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
    # 5: approval rounds (re-approvals, rejections, revocations) and deleted releases (trainmaster.rounds)
    """
    CREATE TABLE approval_events (id INTEGER PRIMARY KEY AUTOINCREMENT,
        release_id TEXT NOT NULL REFERENCES releases(id), environment TEXT NOT NULL, actor TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('approved', 'rejected', 'revoked')), at TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '', after_approval INTEGER NOT NULL);
    CREATE INDEX approval_events_by_release ON approval_events (release_id, environment, id);
    CREATE TABLE release_tombstones (release_id TEXT PRIMARY KEY REFERENCES releases(id),
        at TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL);
    """,
)

Publication = tuple[str, str, "str | None", dict[str, Any]]  # system, state, url, remote


def _release(text: str) -> Release:
    """A ``releases.record`` row: data like any other record, checked before use."""
    from trainmaster.record import read_json

    source = "the ledger (table releases)"
    return Release.from_record(read_json(text, source), source)


_DEPLOYMENT_COLUMNS = (
    "id, release_id, version, environment, kind, status, actor, started_at, finished_at, "
    "packages, state, remote, excerpt"
)


def now() -> str:
    """The current time in the one timestamp format (:func:`trainmaster.model.timestamp`)."""
    return timestamp()


def check_clock(last: str, at: str) -> None:
    """Refuse an event dated before the ledger's last one (exit 5): the clock went back.

    Every time the train reads (soak, windows, freezes, approvals) is only as good as the
    order of the ledger's times; a success recorded under a clock set back would meet a
    soak early. The whole change is rolled back, so nothing is written.
    """
    try:
        behind = (parse_time(last) - parse_time(at)).total_seconds()
    except ValueError:
        return
    if behind > 0:
        from trainmaster.errors import Unavailable

        raise Unavailable(f"the clock went back by {behind:.3f}s: this machine says {at} but the ledger's last "
                          f"event is dated {last}; fix the clock (NTP) and run the command again")


def _row_to_deployment(row: sqlite3.Row | tuple[Any, ...]) -> Deployment:
    return Deployment(
        id=row[0], release_id=row[1], version=row[2], environment=row[3], kind=row[4], status=row[5],
        actor=row[6], started_at=row[7], finished_at=row[8], packages=json.loads(row[9]),
        state=json.loads(row[10]), remote=json.loads(row[11]), excerpt=row[12],
    )


class SqliteLedger:
    """The ledger in ``<state_dir>/ledger.db``."""

    def __init__(self, path: Path, *, busy_timeout: float = 120.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._retrying(lambda: self.conn.execute("PRAGMA journal_mode = WAL"))
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    # -- plumbing ----------------------------------------------------------------

    @staticmethod
    def _retrying(fn: Any, attempts: int = 50) -> Any:
        for attempt in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any exception."""
        self._retrying(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self._retrying(lambda: self.conn.execute("COMMIT"))

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            from trainmaster.errors import IntegrityError

            raise IntegrityError(f"the ledger {self.path} has schema version {version}, newer than this "
                                 f"trainmaster knows ({len(MIGRATIONS)}): upgrade trainmaster")
        if version == len(MIGRATIONS):
            return
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _split_sql(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        self.conn.close()

    # -- audit ---------------------------------------------------------------------

    def _audit(self, conn: sqlite3.Connection, kind: str, actor: str, subject: str, data: dict[str, Any]) -> None:
        row = conn.execute("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (row[0] + 1, row[1]) if row else (1, GENESIS)
        at = now()
        if row:
            check_clock(row[2], at)
        body = json.dumps(data, sort_keys=True, separators=(",", ":"))
        digest = event_hash(seq, at, actor, kind, subject, body, prev)
        conn.execute(
            "INSERT INTO audit (seq, at, actor, kind, subject, data, prev, hash) VALUES (?,?,?,?,?,?,?,?)",
            (seq, at, actor, kind, subject, body, prev, digest),
        )

    def audit_events(self) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute("SELECT seq, at, actor, kind, subject, data, prev, hash FROM audit ORDER BY seq")

    # -- releases ------------------------------------------------------------------

    def get_release(self, project: str, version: str) -> Release | None:
        row = self.conn.execute(
            "SELECT record FROM releases WHERE project = ? AND version = ?", (project, version)
        ).fetchone()
        return _release(row[0]) if row else None

    def get_release_by_id(self, release_id: str) -> Release | None:
        row = self.conn.execute("SELECT record FROM releases WHERE id = ?", (release_id,)).fetchone()
        return _release(row[0]) if row else None

    def other_projects(self, project: str) -> list[str]:
        """Projects other than ``project`` with releases in this ledger (a shared ``state_dir``)."""
        rows = self.conn.execute("SELECT DISTINCT project FROM releases WHERE project != ? LIMIT 3",
                                 (project,)).fetchall()
        return [r[0] for r in rows]

    def list_releases(self, project: str) -> list[Release]:
        rows = self.conn.execute(
            "SELECT record FROM releases WHERE project = ? ORDER BY created_at, rowid", (project,)
        ).fetchall()
        return [_release(r[0]) for r in rows]

    def recent_releases(self, project: str, limit: int) -> list[Release]:
        """The newest ``limit`` releases of ``project``, oldest first (indexed: cheap on any ledger)."""
        rows = self.conn.execute(
            "SELECT record FROM releases WHERE project = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (project, limit),
        ).fetchall()
        return [_release(r[0]) for r in reversed(rows)]

    def insert_release(self, release: Release, actor: str,
                       publications: list[Publication] | None = None) -> bool:
        """Insert ``release`` (and where it was published); False if that version is already there."""
        record = release.to_record()
        with self.transaction() as conn:
            existing = conn.execute(
                "SELECT id FROM releases WHERE project = ? AND version = ?", (release.project, release.version)
            ).fetchone()
            if existing:
                if existing[0] == release.id:
                    self._publications(conn, release.id, actor, publications or [])
                return False
            conn.execute(
                "INSERT INTO releases (id, project, version, created_at, created_by, record) VALUES (?,?,?,?,?,?)",
                (release.id, release.project, release.version, release.metadata.get("created_at", now()),
                 actor, json.dumps(record, sort_keys=True)),
            )
            self._audit(conn, "release_created", actor, f"{release.project}@{release.version}",
                        {"release_id": release.id, "packages": {p.name: p.digest for p in release.packages}})
            self._publications(conn, release.id, actor, publications or [])
        return True

    def _publications(self, conn: sqlite3.Connection, release_id: str, actor: str,
                      publications: list[Publication]) -> None:
        for system, state, url, remote in publications:
            body = json.dumps(remote, sort_keys=True)
            old = conn.execute("SELECT state, url, remote FROM publications WHERE release_id = ? AND system = ?",
                               (release_id, system)).fetchone()
            if old == (state, url, body):
                continue
            conn.execute(
                "INSERT OR REPLACE INTO publications (release_id, system, state, url, remote, at) VALUES (?,?,?,?,?,?)",
                (release_id, system, state, url, body, now()),
            )
            self._audit(conn, "release_published", actor, system,
                        {"release_id": release_id, "state": state, "url": url, "remote": remote})

    def record_publications(self, release_id: str, actor: str,
                            publications: list[Publication]) -> None:
        """Record (or update) where ``release_id`` is mirrored; audited when it changes."""
        with self.transaction() as conn:
            self._publications(conn, release_id, actor, publications)

    def publications(self, release_id: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT system, state, url, remote, at FROM publications WHERE release_id = ? ORDER BY system",
            (release_id,),
        ).fetchall()
        return {r[0]: {"state": r[1], "url": r[2], "remote": json.loads(r[3]), "at": r[4]} for r in rows}

    # -- deployments ---------------------------------------------------------------

    def start_deployment(self, release: Release, environment: str, kind: str, actor: str,
                         state: dict[str, str]) -> Deployment:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO deployments (release_id, version, environment, kind, status, actor, started_at, state) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (release.id, release.version, environment, kind, "in_progress", actor, now(), json.dumps(state)),
            )
            dep_id = int(cur.lastrowid or 0)
            self._audit(conn, "deployment_started", actor, environment,
                        {"deployment": dep_id, "release_id": release.id, "version": release.version, "kind": kind})
        found = self.get_deployment(dep_id)
        assert found is not None
        return found

    def finish_deployment(self, dep_id: int, status: DeploymentStatus, *, packages: dict[str, str],
                          remote: dict[str, Any] | None = None, excerpt: str = "", actor: str = "") -> Deployment:
        with self.transaction() as conn:
            row = conn.execute("SELECT environment, actor FROM deployments WHERE id = ?", (dep_id,)).fetchone()
            conn.execute(
                "UPDATE deployments SET status = ?, finished_at = ?, packages = ?, remote = ?, excerpt = ? "
                "WHERE id = ?",
                (status, now(), json.dumps(packages), json.dumps(remote or {}), excerpt[-4000:], dep_id),
            )
            self._audit(conn, "deployment_finished", actor or row[1], row[0],
                        {"deployment": dep_id, "status": status, "packages": packages})
        found = self.get_deployment(dep_id)
        assert found is not None
        return found

    def mark_interrupted(self, dep_id: int, reason: str) -> bool:
        """Mark a stale ``in_progress`` deployment ``interrupted``; False if it had moved on."""
        with self.transaction() as conn:
            row = conn.execute("SELECT environment, status FROM deployments WHERE id = ?", (dep_id,)).fetchone()
            if not row or row[1] != "in_progress":
                return False
            conn.execute("UPDATE deployments SET status = 'interrupted', finished_at = ? WHERE id = ?",
                         (now(), dep_id))
            self._audit(conn, "deployment_interrupted", "trainmaster", row[0],
                        {"deployment": dep_id, "reason": reason})
        return True

    def get_deployment(self, dep_id: int) -> Deployment | None:
        row = self.conn.execute(f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ?", (dep_id,)).fetchone()
        return _row_to_deployment(row) if row else None

    def in_progress(self) -> list[Deployment]:
        rows = self.conn.execute(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE status = 'in_progress'"
        ).fetchall()
        return [_row_to_deployment(r) for r in rows]

    def latest(self, environment: str) -> Deployment | None:
        """The latest deployment attempt in ``environment``."""
        row = self.conn.execute(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE environment = ? ORDER BY id DESC LIMIT 1",
            (environment,),
        ).fetchone()
        return _row_to_deployment(row) if row else None

    def last_success(self, environment: str, *, exclude_release: str | None = None) -> Deployment | None:
        """The latest succeeded deployment in ``environment`` (optionally of another release)."""
        rows = self.conn.execute(
            f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments WHERE environment = ? AND status = 'succeeded' "
            "AND release_id != ? ORDER BY id DESC LIMIT 1",
            (environment, exclude_release or ""),
        ).fetchall()
        return _row_to_deployment(rows[0]) if rows else None

    def succeeded_at(self, release_id: str, environment: str) -> str | None:
        """When ``release_id`` first succeeded in ``environment``, or None."""
        row = self.conn.execute(
            "SELECT MIN(finished_at) FROM deployments WHERE release_id = ? AND environment = ? "
            "AND status = 'succeeded'",
            (release_id, environment),
        ).fetchone()
        return row[0] if row and row[0] else None

    def attempted(self, release_id: str, environment: str) -> bool:
        """Whether ``release_id`` was ever deployed (with any outcome) to ``environment``."""
        row = self.conn.execute(
            "SELECT 1 FROM deployments WHERE release_id = ? AND environment = ? LIMIT 1", (release_id, environment)
        ).fetchone()
        return row is not None

    def history(self, environment: str | None = None, limit: int | None = None) -> list[Deployment]:
        """Deployments, oldest first; with ``limit``, the newest ``limit`` of them."""
        where, args = ("WHERE environment = ?", [environment]) if environment else ("", [])
        params: list[object] = list(args)
        sql = f"SELECT {_DEPLOYMENT_COLUMNS} FROM deployments {where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self.conn.execute(sql, params).fetchall()
        return [_row_to_deployment(r) for r in reversed(rows)]

    # -- approvals -----------------------------------------------------------------

    def record_approval(self, approval: Approval) -> bool:
        """Record an approval; False if this actor already approved this release here."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO approvals (release_id, environment, actor, at, comment, counts) "
                "VALUES (?,?,?,?,?,?)",
                (approval.release_id, approval.environment, approval.actor, approval.at, approval.comment,
                 int(approval.counts)),
            )
            if cur.rowcount == 0:
                return False
            self._audit(conn, "approval_recorded", approval.actor, approval.environment,
                        {"release_id": approval.release_id, "version": approval.version,
                         "comment": approval.comment, "counts": approval.counts})
        return True

    def approvals(self, release_id: str, environment: str, version: str = "") -> list[Approval]:
        rows = self.conn.execute(
            "SELECT actor, at, comment, counts FROM approvals WHERE release_id = ? AND environment = ? ORDER BY id",
            (release_id, environment),
        ).fetchall()
        return [Approval(release_id, version, environment, r[0], r[1], r[2], bool(r[3])) for r in rows]


_CORRUPT_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_OS_CODES = {3: "EPERM", 8: "EROFS", 10: "EIO", 13: "ENOSPC", 14: "EACCES"}  # PERM READONLY IOERR FULL CANTOPEN


def explain_error(exc: sqlite3.DatabaseError, folder: Path | None) -> Exception:
    """The user-facing error for a failing ledger: the machine's state (exit 5) unless it is corruption.

    For a refusal by the operating system (full, read-only, no permission, cannot open) the real
    cause is found by trying to write a byte into ``folder``; only a damaged file says
    "restore it from a backup" (exit 4).
    """
    import errno
    import os

    from trainmaster.errors import IntegrityError, from_os_error

    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in _CORRUPT_CODES or code not in _OS_CODES:
        return IntegrityError(f"the ledger cannot be read ({exc}); restore it from a backup")
    where = folder if folder is not None else "the ledger"
    if folder is not None:
        probe = folder / f".write-probe-{os.getpid()}"
        try:
            fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            try:
                os.write(fd, b"\0" * 4096)
            finally:
                os.close(fd)
                probe.unlink(missing_ok=True)
        except OSError as found:
            return from_os_error(found, where)
    name = _OS_CODES[code]
    return from_os_error(OSError(getattr(errno, name), os.strerror(getattr(errno, name))), where)


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
