"""The built-in SQLite ledger: releases, deployments, approvals and the audit log.

* WAL mode and ``BEGIN IMMEDIATE`` for every change, so that concurrent
  ``trainmaster`` processes serialise their writes instead of failing with
  "database is locked"; readers never wait for a writer. A wait for the write
  lock is announced on stderr after a second and bounded by
  ``TRAINMASTER_LEDGER_TIMEOUT`` (exit 5, nothing written): see
  :mod:`trainmaster.ledger_lock`.
* One transaction per change; the audit event of a change is written in the
  same transaction, so the log and the state cannot disagree.
* Versioned migrations keyed on ``PRAGMA user_version``.
* The audit log is append-only and hash-chained: each event carries the hash of
  the one before it (see :mod:`trainmaster.audit`).
* Every row is bound to the chain: it carries the hash of its content, and its
  latest audit event names that hash. Every read checks the rows it returns
  against their event (exit 4 on a row edited, inserted or removed behind
  trainmaster's back).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, get_args

from trainmaster._ledger_schema import MIGRATIONS, _split_sql
from trainmaster.audit import (
    KEYED_KIND,
    NO_KEY,
    NOT_KEYED,
    Keying,
    append_event,
    bind_row,
    check_row,
    select_sql,
)
from trainmaster.errors import IntegrityError
from trainmaster.interfaces import Approval, Deployment, DeploymentStatus
from trainmaster.ledger_lock import SHORT_BUSY, ledger_timeout, retrying
from trainmaster.model import Release, parse_time, timestamp

Publication = tuple[str, str, "str | None", dict[str, Any]]  # system, state, url, remote


def _release(text: str) -> Release:
    """A ``releases.record`` row: data like any other record, checked before use."""
    from trainmaster.record import read_json

    source = "the ledger (table releases)"
    return Release.from_record(read_json(text, source), source)


_DEPLOYMENTS = select_sql("deployments")


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


_STATUSES = frozenset(get_args(DeploymentStatus))


def _to_deployment(row: dict[str, Any]) -> Deployment:
    status = row["status"]
    if status not in _STATUSES:  # read back from disk: data, checked before a gate reads it
        raise IntegrityError(f"deployment #{row['id']} in the ledger has an unknown status {str(status)[:40]!r}")
    return Deployment(
        id=row["id"], release_id=row["release_id"], version=row["version"], environment=row["environment"],
        kind=row["kind"], status=status, actor=row["actor"], started_at=row["started_at"],
        finished_at=row["finished_at"], packages=json.loads(row["packages"]), state=json.loads(row["state"]),
        remote=json.loads(row["remote"]), excerpt=row["excerpt"],
        log=row["log"], gates=json.loads(row["gates"]), reason=row["reason"],
    )


class SqliteLedger:
    """The ledger in ``<state_dir>/ledger.db``."""

    def __init__(self, path: Path, *, timeout: float | None = None, key: bytes | None = None) -> None:
        """Open (or create) the ledger; ``timeout`` bounds every wait for the write lock (default
        ``TRAINMASTER_LEDGER_TIMEOUT``, see :mod:`trainmaster.ledger_lock`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.timeout = ledger_timeout() if timeout is None else timeout
        self.keying = Keying(key)
        busy = min(SHORT_BUSY, self.timeout)
        self.conn = sqlite3.connect(path, timeout=busy, isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA busy_timeout = {int(busy * 1000)}")
        self._retrying(lambda: self.conn.execute("PRAGMA journal_mode = WAL"))
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    # -- plumbing ----------------------------------------------------------------

    def _retrying(self, fn: Any, *, wait: bool = True) -> Any:
        """``fn()`` while the ledger is busy, announced and bounded (:func:`trainmaster.ledger_lock.retrying`)."""
        return retrying(fn, self.path, self.timeout, wait=wait)

    @contextmanager
    def transaction(self, *, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back on any exception.

        Waits for the write lock up to ``self.timeout`` (with a notice after a second); without
        ``wait`` (an opportunistic write) raises :class:`~trainmaster.ledger_lock.LedgerBusy` at once.
        """
        self._retrying(lambda: self.conn.execute("BEGIN IMMEDIATE"), wait=wait)
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self._retrying(lambda: self.conn.execute("COMMIT"))

    def _migrate(self) -> None:
        version = self._retrying(lambda: self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise IntegrityError(f"the ledger {self.path} has schema version {version}, newer than this "
                                 f"trainmaster knows ({len(MIGRATIONS)}): upgrade trainmaster")
        if version == len(MIGRATIONS):
            return
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                if callable(script):
                    script(conn)
                for statement in [] if callable(script) else _split_sql(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        self.conn.close()

    # -- audit ---------------------------------------------------------------------

    def _audit(self, conn: sqlite3.Connection, kind: str, actor: str, subject: str, data: dict[str, Any],
               bound: tuple[str, Any] | None = None) -> None:
        """Append an event; with ``bound`` (table, key), bind that row's new content to it."""
        if bound is not None:
            data = {**data, "row": bind_row(conn, *bound)}
        keying = self.keying
        if keying.load(conn) is None and keying.key is not None:
            if conn.execute("SELECT 1 FROM audit LIMIT 1").fetchone():
                raise IntegrityError(NOT_KEYED)
            self._key_chain(conn)  # a new ledger is keyed from its first event
        if keying.keyed_from is not None and keying.key is None:
            raise IntegrityError(NO_KEY.format(seq=keying.keyed_from))
        append_event(conn, kind, actor, subject, data, keying.key if keying.keyed_from else None, bound)

    def _key_chain(self, conn: sqlite3.Connection) -> int:
        last = conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0] or 0
        assert self.keying.key is not None
        seq = append_event(conn, KEYED_KIND, "trainmaster", "audit", {"keyed_from": last + 1}, self.keying.key)
        conn.execute("INSERT INTO audit_meta (name, value) VALUES ('keyed_from', ?)", (str(seq),))
        self.keying.keyed_from = seq
        return seq

    def key_chain(self) -> int | None:
        """Key an unkeyed chain with the configured key from the next event on (``audit key``);
        None if it was keyed already."""
        with self.transaction() as conn:
            if self.keying.load(conn) is not None:
                return None
            return self._key_chain(conn)

    def audit_events(self) -> Iterator[tuple[Any, ...]]:
        yield from self.conn.execute(
            "SELECT seq, at, actor, kind, subject, data, prev, hash, tbl, row_key FROM audit ORDER BY seq")

    def audit_head(self, limit: int) -> list[tuple[int, str, str, str, str, str]]:
        """The newest ``limit`` events, newest first: (seq, at, actor, kind, subject, hash); for display
        (``audit verify`` checks them)."""
        rows = self.conn.execute("SELECT seq, at, actor, kind, subject, hash FROM audit ORDER BY seq DESC LIMIT ?",
                                 (limit,)).fetchall()
        return [tuple(r) for r in rows]

    def _checked(self, table: str, rows: list[Any]) -> list[dict[str, Any]]:
        """The rows as dicts, each checked against its hash and its latest audit event (exit 4)."""
        return [check_row(self.conn, self.keying, table, r) for r in rows]

    def _deployments(self, where: str, args: Any = ()) -> list[Deployment]:
        rows = self.conn.execute(f"{_DEPLOYMENTS} {where}", args).fetchall()
        return [_to_deployment(r) for r in self._checked("deployments", rows)]

    def _releases(self, where: str, args: Any = ()) -> list[Release]:
        rows = self.conn.execute(f"{select_sql('releases')} {where}", args).fetchall()
        return [_release(r["record"]) for r in self._checked("releases", rows)]

    # -- releases ------------------------------------------------------------------

    def get_release(self, project: str, version: str) -> Release | None:
        found = self._releases("WHERE project = ? AND version = ?", (project, version))
        return found[0] if found else None

    def get_release_by_id(self, release_id: str) -> Release | None:
        found = self._releases("WHERE id = ?", (release_id,))
        return found[0] if found else None

    def other_projects(self, project: str) -> list[str]:
        """Projects other than ``project`` with releases in this ledger (a shared ``state_dir``)."""
        rows = self.conn.execute("SELECT DISTINCT project FROM releases WHERE project != ? LIMIT 3",
                                 (project,)).fetchall()
        return [r[0] for r in rows]

    def list_releases(self, project: str) -> list[Release]:
        return self._releases("WHERE project = ? ORDER BY created_at, rowid", (project,))

    def recent_releases(self, project: str, limit: int) -> list[Release]:
        """The newest ``limit`` releases of ``project``, oldest first (indexed: cheap on any ledger)."""
        found = self._releases("WHERE project = ? ORDER BY created_at DESC, rowid DESC LIMIT ?", (project, limit))
        return found[::-1]

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
                        {"release_id": release.id, "packages": {p.name: p.digest for p in release.packages}},
                        bound=("releases", release.id))
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
                        {"release_id": release_id, "state": state, "url": url, "remote": remote},
                        bound=("publications", f"{release_id}/{system}"))

    def record_publications(self, release_id: str, actor: str,
                            publications: list[Publication]) -> None:
        """Record (or update) where ``release_id`` is mirrored; audited when it changes."""
        with self.transaction() as conn:
            self._publications(conn, release_id, actor, publications)

    def publications(self, release_id: str) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(select_sql("publications", "WHERE release_id = ? ORDER BY system"),
                                 (release_id,)).fetchall()
        return {r["system"]: {"state": r["state"], "url": r["url"], "remote": json.loads(r["remote"]), "at": r["at"]}
                for r in self._checked("publications", rows)}

    # -- deployments ---------------------------------------------------------------

    def start_deployment(self, release: Release, environment: str, kind: str, actor: str,
                         state: dict[str, str], gates: list[str] | None = None) -> Deployment:
        """Record a deployment ``in_progress``; ``gates`` are the gates it met (``deployment show``)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO deployments (release_id, version, environment, kind, status, actor, started_at, state, "
                "gates) VALUES (?,?,?,?,?,?,?,?,?)",
                (release.id, release.version, environment, kind, "in_progress", actor, now(), json.dumps(state),
                 json.dumps(gates or [])),
            )
            dep_id = int(cur.lastrowid or 0)
            self._audit(conn, "deployment_started", actor, environment,
                        {"deployment": dep_id, "release_id": release.id, "version": release.version, "kind": kind},
                        bound=("deployments", dep_id))
        found = self.get_deployment(dep_id)
        assert found is not None
        return found

    def finish_deployment(self, dep_id: int, status: DeploymentStatus, *, packages: dict[str, str],
                          remote: dict[str, Any] | None = None, excerpt: str = "", actor: str = "",
                          log: str = "", reason: str = "") -> Deployment:
        """Record the outcome; ``log`` is the digest of its masked output in the store, ``reason`` why it failed."""
        with self.transaction() as conn:
            row = conn.execute("SELECT environment, actor FROM deployments WHERE id = ?", (dep_id,)).fetchone()
            conn.execute(
                "UPDATE deployments SET status = ?, finished_at = ?, packages = ?, remote = ?, excerpt = ?, log = ?, "
                "reason = ? WHERE id = ?",
                (status, now(), json.dumps(packages), json.dumps(remote or {}), excerpt[-4000:], log, reason[:2000],
                 dep_id),
            )
            self._audit(conn, "deployment_finished", actor or row[1], row[0],
                        {"deployment": dep_id, "status": status, "packages": packages, "log": log},
                        bound=("deployments", dep_id))
        found = self.get_deployment(dep_id)
        assert found is not None
        return found

    def mark_interrupted(self, dep_id: int, reason: str, *, wait: bool = True) -> bool:
        """Mark a stale ``in_progress`` deployment ``interrupted``; False if it had moved on.

        Without ``wait``, :class:`~trainmaster.ledger_lock.LedgerBusy` at once when another process writes."""
        with self.transaction(wait=wait) as conn:
            row = conn.execute("SELECT environment, status FROM deployments WHERE id = ?", (dep_id,)).fetchone()
            if not row or row[1] != "in_progress":
                return False
            conn.execute("UPDATE deployments SET status = 'interrupted', finished_at = ?, reason = ? WHERE id = ?",
                         (now(), reason, dep_id))
            self._audit(conn, "deployment_interrupted", "trainmaster", row[0],
                        {"deployment": dep_id, "reason": reason}, bound=("deployments", dep_id))
        return True

    def get_deployment(self, dep_id: int) -> Deployment | None:
        found = self._deployments("WHERE id = ?", (dep_id,))
        return found[0] if found else None

    def in_progress(self) -> list[Deployment]:
        return self._deployments("WHERE status = 'in_progress'")

    def latest(self, environment: str) -> Deployment | None:
        """The latest deployment attempt in ``environment`` (exit 4 if a newer one was removed)."""
        found = self._deployments("WHERE environment = ? ORDER BY id DESC LIMIT 1", (environment,))
        newest = self.conn.execute("SELECT MAX(row_key) FROM audit WHERE tbl = 'deployments' AND subject = ?",
                                   (environment,)).fetchone()[0]
        if newest is not None and (not found or found[0].id < newest):
            raise IntegrityError(f"ledger row deployments #{newest} ({environment}) has an audit event but no row: "
                                 "it was removed outside trainmaster")
        return found[0] if found else None

    def last_success(self, environment: str, *, exclude_release: str | None = None) -> Deployment | None:
        """The latest succeeded deployment in ``environment`` (optionally of another release)."""
        found = self._deployments("WHERE environment = ? AND status = 'succeeded' AND release_id != ? "
                                  "ORDER BY id DESC LIMIT 1", (environment, exclude_release or ""))
        return found[0] if found else None

    def succeeded_at(self, release_id: str, environment: str) -> str | None:
        """When ``release_id`` first succeeded in ``environment``, or None."""
        found = self._deployments("WHERE release_id = ? AND environment = ? AND status = 'succeeded' "
                                  "ORDER BY finished_at LIMIT 1", (release_id, environment))
        return found[0].finished_at if found else None

    def attempted(self, release_id: str, environment: str) -> bool:
        """Whether ``release_id`` was ever deployed (with any outcome) to ``environment``."""
        return bool(self._deployments("WHERE release_id = ? AND environment = ? LIMIT 1", (release_id, environment)))

    def history(self, environment: str | None = None, limit: int | None = None) -> list[Deployment]:
        """Deployments, oldest first; with ``limit``, the newest ``limit`` of them."""
        where, args = ("WHERE environment = ?", [environment]) if environment else ("", [])
        params: list[object] = list(args)
        sql = f"{where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._deployments(sql, params)[::-1]

    # -- approvals -----------------------------------------------------------------

    def approvals(self, release_id: str, environment: str, version: str = "") -> list[Approval]:
        rows = self.conn.execute(select_sql("approvals", "WHERE release_id = ? AND environment = ? ORDER BY id"),
                                 (release_id, environment)).fetchall()
        return [Approval(release_id, version, environment, r["actor"], r["at"], r["comment"], bool(r["counts"]))
                for r in self._checked("approvals", rows)]
